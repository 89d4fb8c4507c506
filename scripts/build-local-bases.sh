#!/usr/bin/env bash
# Build the two base images the Dockerfile takes as build args (PYTHON_IMAGE, NODE_IMAGE)
# from Debian packages, for machines that cannot pull python:/node: images from a registry.
#   scripts/build-local-bases.sh <engine>     # podman or docker; prints the two build args
# Debian minbase (mmdebstrap, bookworm: the same suite as the host, so the shared libraries
# match) plus the host's own interpreters: the Python 3.12 that scripts/find-python.sh finds
# (no Debian suite ships 3.12) copied to /usr/local, and the Node (with its npm) that runs `make dev`.
# Nothing is downloaded but Debian packages. Each base is tagged with its interpreter's
# version and built only when missing; `podman rmi` the tag to rebuild it.
set -euo pipefail
engine=${1:?usage: $0 podman|docker}
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
command -v mmdebstrap >/dev/null || { echo "error: mmdebstrap not found (apt-get install mmdebstrap)" >&2; exit 69; }

python=$("$here/find-python.sh")
py_prefix=$("$python" -c 'import sys; print(sys.base_prefix)')
py_version=$("$python" -c 'import platform; print(platform.python_version())')
# Only the interpreter's own files (its prefix may be shared, e.g. /usr/local): the binary,
# its shared library when built with one, and the standard library, compiled in the image
# (a read-only container cannot write bytecode: uncompiled, each start costs ~0.5 s more).
py_files=(bin/python3.12 lib/python3.12)
for lib in "$py_prefix"/lib/libpython3.12*.so*; do [[ -e $lib ]] && py_files+=("lib/${lib##*/}"); done
[[ -x $py_prefix/bin/python3.12 && -d $py_prefix/lib/python3.12 ]] \
  || { echo "error: $python: expected bin/python3.12 and lib/python3.12 under $py_prefix" >&2; exit 69; }
node=$(command -v node) || { echo "error: node not found" >&2; exit 69; }
node_version=$("$node" --version | tr -d v)
npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd) \
  || { echo "error: npm not found" >&2; exit 69; }
python_image=localhost/careers-python:${py_version}-${suite}
node_image=localhost/careers-node:${node_version}-${suite}

# Leave out docs, man pages and locales: an image never reads them.
slim=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*')

import_rootfs() {  # <image> <Dockerfile-style --change ...> ; rootfs tar on stdin
  local image=$1; shift
  local quiet=(); [[ $engine == podman ]] && quiet=(--quiet)
  "$engine" import "${quiet[@]}" "$@" - "$image" >/dev/null
}

if ! "$engine" image inspect "$python_image" >/dev/null 2>&1; then
  echo "building $python_image (Debian $suite minbase + $python)" >&2
  # The runtime libraries the interpreter's extension modules link (ssl, sqlite3, ctypes,
  # zlib, bz2, lzma, readline, curses, uuid, dbm, expat) and the CA bundle.
  mmdebstrap --quiet --variant=minbase "${slim[@]}" \
    --include=ca-certificates,libssl3,libsqlite3-0,libffi8,zlib1g,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libuuid1,libgdbm6,libexpat1 \
    --customize-hook="tar -C '$py_prefix' --exclude='lib/python3.12/site-packages/*' --exclude='lib/python3.12/test' --exclude='lib/python3.12/idlelib' --exclude='lib/python3.12/tkinter' --exclude='*/__pycache__' --exclude='lib/python3.12/config-*' -cf - ${py_files[*]} | tar -C \"\$1/usr/local\" -xf -" \
    --customize-hook='chroot "$1" ldconfig' \
    --customize-hook='chroot "$1" /usr/local/bin/python3.12 -m compileall -q -j0 /usr/local/lib/python3.12 >/dev/null' \
    --customize-hook='PIP_ROOT_USER_ACTION=ignore chroot "$1" /usr/local/bin/python3.12 -m ensurepip --default-pip >/dev/null' \
    --customize-hook='ln -sf python3.12 "$1/usr/local/bin/python3"; ln -sf python3.12 "$1/usr/local/bin/python"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$suite" - \
    | import_rootfs "$python_image" --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]'
fi

if ! "$engine" image inspect "$node_image" >/dev/null 2>&1; then
  echo "building $node_image (Debian $suite minbase + $node, $npm_dir)" >&2
  # The official node images have a `node` user (uid 1000): the stand-in target uses it.
  mmdebstrap --quiet --variant=minbase "${slim[@]}" \
    --include=ca-certificates,libstdc++6 \
    --customize-hook="install -m 0755 '$node' \"\$1/usr/local/bin/node\"" \
    --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules\" && cp -a '$npm_dir' \"\$1/usr/local/lib/node_modules/npm\"" \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"; ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
    --customize-hook='chroot "$1" groupadd --gid 1000 node' \
    --customize-hook='chroot "$1" useradd --uid 1000 --gid 1000 --create-home --shell /bin/sh node' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$suite" - \
    | import_rootfs "$node_image" --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["node"]'
fi
echo "--build-arg PYTHON_IMAGE=$python_image --build-arg NODE_IMAGE=$node_image"
