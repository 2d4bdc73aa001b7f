#!/usr/bin/env bash
# Builds the minimal guest kernel (an uncompressed vmlinux with the PVH entry note) from Debian's
# linux-source-6.1 and guest/kernel.config, into build/guest/vmlinux. The result is cached under
# build/guest/kernel-cache/<key>, where the key covers the source package version, the config
# fragment and RECIPE (bump it when the build steps below change), so a rebuild happens only
# when one of them changes.
#   scripts/build-guest-kernel.sh [OUT_DIR]     (default build/guest)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/guest}
SRC_TAR=/usr/src/linux-source-6.1.tar.xz
FRAGMENT=guest/kernel.config
RECIPE=1
[ -f "$SRC_TAR" ] || { echo "error: $SRC_TAR is missing: apt-get install linux-source-6.1" >&2; exit 1; }

version=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$( { echo "$version recipe $RECIPE"; cat "$FRAGMENT"; } | sha256sum | cut -c1-16)
cache="$OUT/kernel-cache/$key"
mkdir -p "$OUT"
if [ -f "$cache/vmlinux" ]; then
  echo "==> guest kernel: cached ($key, linux-source-6.1 $version)"
else
  echo "==> guest kernel: building from linux-source-6.1 $version (key $key; takes a few minutes)"
  work="$OUT/kernel-build"
  rm -rf "$work" && mkdir -p "$work"
  tar -xf "$SRC_TAR" -C "$work"
  tree="$work/linux-source-6.1"
  # Fixed build identity, so the same inputs give the same bytes.
  export KBUILD_BUILD_TIMESTAMP="1970-01-01 00:00:00 UTC" KBUILD_BUILD_USER=coco \
    KBUILD_BUILD_HOST=coco KBUILD_BUILD_VERSION=1
  make -C "$tree" -s tinyconfig
  args=()
  while read -r line; do
    line=${line%%#*}
    [ -n "${line// /}" ] || continue
    name=${line%%=*}; value=${line#*=}
    case "$value" in
      y) args+=(--enable "$name") ;;
      n) args+=(--disable "$name") ;;
      *) echo "error: $FRAGMENT: $line: value must be y or n" >&2; exit 1 ;;
    esac
  done < "$FRAGMENT"
  for _ in 1 2; do
    "$tree/scripts/config" --file "$tree/.config" "${args[@]}"
    make -C "$tree" -s olddefconfig
  done
  # Every option the fragment asks for must have stuck (a missing dependency silently drops it).
  bad=0
  while read -r line; do
    line=${line%%#*}
    [ -n "${line// /}" ] || continue
    name=${line%%=*}; value=${line#*=}
    if [ "$value" = y ] && ! grep -qx "CONFIG_$name=y" "$tree/.config"; then
      echo "error: CONFIG_$name=y did not stick in the kernel config" >&2; bad=1
    fi
  done < "$FRAGMENT"
  [ "$bad" -eq 0 ] || exit 1
  # 10-15 minutes on two cores: a line every 250 compiled files says how far it is (about 1,900
  # in all), and errors pass through whole.
  echo "==> guest kernel: building vmlinux (10-15 min on 2 cores; cached afterwards)"
  start=$(date +%s)
  make -C "$tree" -j "$(nproc)" vmlinux 2>&1 | awk -v start="$start" '
    / CC / { n++; if (n % 250 == 0) { printf "    kernel: %d files compiled, %d s\n", n, systime() - start; fflush() } next }
    /^  [A-Z][A-Z0-9_]* / { next }
    /^make(\[[0-9]+\])?: (Entering|Leaving)/ { next }
    { print; fflush() }'
  mkdir -p "$cache.tmp"
  cp "$tree/vmlinux" "$cache.tmp/vmlinux"
  cp "$tree/.config" "$cache.tmp/config"
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
  rm -rf "$work"
fi
cp "$cache/vmlinux" "$OUT/vmlinux.tmp" && mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
cp "$cache/config" "$OUT/vmlinux.config"
echo "    vmlinux $OUT/vmlinux: sha384 $(sha384sum "$OUT/vmlinux" | cut -d' ' -f1)"
