#!/usr/bin/env bash
# Builds the pod VM's guest image into build/guest/: the minimal kernel (vmlinux, cached) and the
# read-only root image (squashfs) with coco-agent, crun, busybox and gpg. Prints both SHA-384 digests (they are what a
# verifier's reference values for the guest would name). Needs build/bin/coco-agent.
#   scripts/build-guest.sh [BUILD_DIR]     (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ -x "$BUILD/bin/coco-agent" ] || { echo "error: $BUILD/bin/coco-agent is missing: build first" >&2; exit 1; }
scripts/build-guest-kernel.sh "$BUILD/guest"
echo "==> guest root image"
python3 guest/build_rootfs.py --agent "$BUILD/bin/coco-agent" --out "$BUILD/guest/rootfs.img"
rm -f "$BUILD/guest/initramfs.cpio"  # the boot medium of earlier builds
echo "==> guest image in $BUILD/guest/: vmlinux $(du -h "$BUILD/guest/vmlinux" | cut -f1), rootfs.img $(du -h "$BUILD/guest/rootfs.img" | cut -f1)"
