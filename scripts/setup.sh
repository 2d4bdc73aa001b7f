#!/usr/bin/env bash
# Installs the Debian 12 packages coco needs (only those missing) and builds it into build/.
#   scripts/setup.sh              release build (RelWithDebInfo) in build/, and the pod VM's
#                                 guest image in build/guest/ (the kernel build is cached)
#   scripts/setup.sh --sanitize   unit tests with AddressSanitizer + UBSan in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libssl-dev nlohmann-json3-dev libcpp-httplib-dev libsqlite3-dev libtomlplusplus-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libarchive-dev libacl1-dev liblz4-dev libbz2-dev nettle-dev liblzma-dev libxml2-dev zlib1g-dev libdeflate-dev libisal-dev libzstd-dev
  libgpgme-dev libyaml-cpp-dev libboost-dev protobuf-compiler libprotobuf-dev
  skopeo docker-registry busybox-static gnupg
  qemu-system-x86 crun runc squashfs-tools linux-source-6.1 flex bison libelf-dev bc
  clang libclang-rt-14-dev swtpm swtpm-tools tpm2-tools libtss2-dev
  python3 python3-cryptography python3-jwcrypto
  curl ca-certificates openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

JOBS=$(nproc)
if [ "${1:-}" = "--sanitize" ]; then
  echo "==> building unit tests with ASan + UBSan in build-asan/"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCOCO_SANITIZE=ON \
    -DCOCO_BUILD_BENCH=OFF > build-asan.configure.log || { cat build-asan.configure.log; exit 1; }
  ninja -C build-asan -j "$JOBS"
else
  echo "==> building in build/"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > build.configure.log \
    || { cat build.configure.log; exit 1; }
  ninja -C build -j "$JOBS"
  echo "==> binaries: $(ls build/bin | tr '\n' ' ')"
  scripts/build-guest.sh build
fi
