#!/usr/bin/env bash
# Print the base image reference to build the runner from.
# The Dockerfile's digest-pinned default when it is present or can be pulled; otherwise (no
# registry: air-gapped hosts, this project's CI) a locally bootstrapped Debian base.
# Progress goes to stderr; stdout is only the image reference.
set -euo pipefail
cd "$(dirname "$0")/.."
# usage: ensure-base-image.sh [LOCAL_TAG] [DOCKERFILE_ARG]   (env SUITE: the bootstrapped suite)
#   DOCKERFILE_ARG  DEFAULT_BASE_IMAGE (runner, bookworm) or DEFAULT_TOOLCHAIN_BASE_IMAGE
#                   (tvm-builder/zephyr: python:3.8 on bullseye; bootstrap with SUITE=bullseye)
LOCAL_TAG=${1:-tinyrepro/debian-base:bookworm}
ARG_NAME=${2:-DEFAULT_BASE_IMAGE}
pinned=$(sed -n "s/^ARG ${ARG_NAME}=//p" Dockerfile | head -1)
if docker image inspect "$pinned" >/dev/null 2>&1 || timeout 120 docker pull -q "$pinned" >/dev/null 2>&1; then
  echo "$pinned"
else
  echo "cannot pull $pinned (no registry?): using a locally bootstrapped base" >&2
  bash scripts/bootstrap-base-image.sh "$LOCAL_TAG" >&2
  echo "$LOCAL_TAG"
fi
