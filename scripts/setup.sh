#!/usr/bin/env bash
# Installs exactly the Debian 12 packages the build needs that are missing.
# Idempotent and cheap when nothing is missing (one dpkg-query), so `make test`
# and `make demo` can run it unconditionally.
set -euo pipefail

REQUIRED=(
  build-essential pkg-config git ca-certificates cmake ninja-build
  bazel-bootstrap
  libtorch-dev python3-torch libgloo-dev
  # LibTorch calls BLAS through the Debian alternatives; OpenBLAS replaces the
  # single-threaded reference BLAS (about 26x faster GEMM, see toolchain notes).
  libopenblas0-pthread
  libabsl-dev libgoogle-glog-dev libgtest-dev libgmock-dev
  protobuf-compiler libprotobuf-dev libgrpc++-dev protobuf-compiler-grpc
  librocksdb-dev
  # Debian names it prometheus-cpp-dev (no lib prefix).
  prometheus-cpp-dev
  libyaml-cpp-dev libpng-dev libssl-dev libstb-dev nlohmann-json3-dev
  python3-numpy python3-yaml
  # fuzz/ (make fuzz, and the fuzz smoke run in make test): clang with
  # libFuzzer and the sanitizer runtimes; python3-pil regenerates the corpora
  clang-14 libclang-rt-14-dev python3-pil
  # recactl and the Python client test (grpc_python_plugin is in protobuf-compiler-grpc)
  python3-grpcio python3-protobuf
  # promtool and the server: the tests lint every /metrics exposition, unit-test
  # the alert rules and scrape a test cluster (installed without its
  # recommended node exporter, see below)
  prometheus
)
# Installed without their Recommends (daemons the project does not need).
NO_RECOMMENDS=(prometheus)

# dpkg-query exits non-zero when any name is unknown to dpkg; that only means
# "not installed", so its status is ignored and only the "ii" lines count.
installed="$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${REQUIRED[@]}" 2>/dev/null \
  | awk '$1 == "ii" { print $2 }' || true)"

missing=()
for pkg in "${REQUIRED[@]}"; do
  grep -qxF "${pkg}" <<<"${installed}" || missing+=("${pkg}")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#REQUIRED[@]} packages present"
  exit 0
fi

if [[ ${EUID} -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "setup: missing packages (${missing[*]}) and not root, no sudo" >&2
  exit 1
fi

apt_get=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y
         -o DPkg::Lock::Timeout=300)
"${apt_get[@]}" update >/dev/null
plain=() lean=()
for pkg in "${missing[@]}"; do
  if printf '%s\n' "${NO_RECOMMENDS[@]}" | grep -qxF "${pkg}"; then lean+=("${pkg}"); else plain+=("${pkg}"); fi
done
if [[ ${#plain[@]} -gt 0 ]]; then "${apt_get[@]}" install "${plain[@]}" >/dev/null; fi
if [[ ${#lean[@]} -gt 0 ]]; then "${apt_get[@]}" install --no-install-recommends "${lean[@]}" >/dev/null; fi
echo "setup: installed ${missing[*]}"
