#!/usr/bin/env bash
# Pin the Dockerfile's base images (ARG PYTHON_IMAGE / ARG NODE_IMAGE) to the digest of
# their multi-platform index: `python:3.12-slim-bookworm` -> `python:3.12-slim-bookworm@sha256:…`.
# Re-run to move to the current images (security updates); commit the result.
# Needs `docker buildx` or `crane` and access to Docker Hub.
set -euo pipefail
cd "$(dirname "$0")/.."

digest() {
  local image=$1
  if command -v crane >/dev/null; then
    crane digest "$image"
  elif docker buildx version >/dev/null 2>&1; then
    docker buildx imagetools inspect "$image" --format '{{json .Manifest}}' |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])'
  else
    echo "need crane or docker buildx to resolve $image" >&2
    exit 69
  fi
}

for arg in PYTHON_IMAGE NODE_IMAGE; do
  current=$(sed -n "s/^ARG ${arg}=//p" Dockerfile)
  tag=${current%@*}
  pinned="${tag}@$(digest "$tag")"
  sed -i "s|^ARG ${arg}=.*|ARG ${arg}=${pinned}|" Dockerfile
  echo "${arg}=${pinned}"
done
