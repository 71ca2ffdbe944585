#!/usr/bin/env bash
# Print the base image reference to build the runner from.
# The Dockerfile's digest-pinned default when it is present or can be pulled; otherwise (no
# registry: air-gapped hosts, this project's CI) a locally bootstrapped Debian base.
# Progress goes to stderr; stdout is only the image reference.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCAL_TAG=${1:-tinyrepro/debian-base:bookworm}
pinned=$(sed -n 's/^ARG DEFAULT_BASE_IMAGE=//p' Dockerfile | head -1)
if docker image inspect "$pinned" >/dev/null 2>&1 || timeout 120 docker pull -q "$pinned" >/dev/null 2>&1; then
  echo "$pinned"
else
  echo "cannot pull $pinned (no registry?): using a locally bootstrapped base" >&2
  bash scripts/bootstrap-base-image.sh "$LOCAL_TAG" >&2
  echo "$LOCAL_TAG"
fi
