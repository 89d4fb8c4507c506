#!/usr/bin/env bash
# Print the path of a working Python 3.12 interpreter, or fail with a clear message.
# It may be installed but not first on PATH (pyenv installs, /usr/local, Debian's package).
set -euo pipefail
candidates=()
[[ -n "${PYTHON:-}" ]] && candidates+=("$PYTHON")
candidates+=(python3.12)
for root in "${PYENV_ROOT:-$HOME/.pyenv}" /root/.pyenv /opt/pyenv; do
  for p in "$root"/versions/3.12*/bin/python3.12; do [[ -e "$p" ]] && candidates+=("$p"); done
done
candidates+=(/usr/local/bin/python3.12 /usr/bin/python3.12 python3)
for c in "${candidates[@]}"; do
  if out=$("$c" -c 'import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)' 2>/dev/null); then
    echo "$out"; exit 0
  fi
done
echo "error: Python 3.12 not found (tried: ${candidates[*]}). Install it (e.g. 'apt-get install python3.12' or 'pyenv install 3.12') or set PYTHON=/path/to/python3.12" >&2
exit 1
