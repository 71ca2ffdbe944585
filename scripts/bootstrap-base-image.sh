#!/usr/bin/env bash
# Build a Debian base image without any registry: debootstrap into a folder,
# then `docker import`. For hosts that cannot pull (air-gapped CI, this project's CI).
#
# usage: scripts/bootstrap-base-image.sh [TAG]
#   TAG          image tag to create (default: tinyrepro/debian-base:bookworm)
#   env SUITE    Debian suite (default: bookworm, whose python3 is 3.11)
#   env APT_MIRROR  Debian mirror URL (default: http://deb.debian.org/debian). Not MIRROR:
#                make exports its MIRROR=DIR (the offline data mirror) to every recipe.
#   env FORCE=1  rebuild even if the tag exists
set -euo pipefail

TAG=${1:-tinyrepro/debian-base:bookworm}
SUITE=${SUITE:-bookworm}
APT_MIRROR=${APT_MIRROR:-http://deb.debian.org/debian}
# Packages the runner stage needs from the base; keeps the Dockerfile free of apt
# for the base layer, so the image builds with no network inside `docker build`.
INCLUDE=${INCLUDE:-python3,python3-venv,python3-pip,ca-certificates}

if [[ -z ${FORCE:-} ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG already present (FORCE=1 to rebuild)"
  exit 0
fi
command -v debootstrap >/dev/null || {
  echo "debootstrap not found: apt-get install -y debootstrap" >&2; exit 3; }

root=$(mktemp -d /var/tmp/tinyrepro-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap $SUITE from $APT_MIRROR into $root (a few minutes)"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$APT_MIRROR" >"$root.log" 2>&1 || {
  tail -20 "$root.log" >&2; echo "debootstrap failed; full log: $root.log" >&2; exit 4; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# Carry the host's CA bundle so TLS through a corporate proxy keeps working in the image.
[[ -f /etc/ssl/certs/ca-certificates.crt ]] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
tar -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$TAG"
echo "created $TAG: $(docker image inspect -f '{{.Id}}' "$TAG")"
