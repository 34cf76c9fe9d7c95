#!/usr/bin/env bash
# Installs exactly the Debian 12 packages the build needs that are missing.
# Idempotent and cheap when nothing is missing (one dpkg-query, a hash of
# deploy/k8s/validate/package-lock.json), so `make test` and `make demo` can
# run it unconditionally.
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

if [[ ${EUID} -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  sudo=(false)  # only used when something is missing: reported below
fi
apt_get=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y
         -o DPkg::Lock::Timeout=300)
apt_updated=0
apt_install() {  # apt_install [--no-install-recommends] PKG...
  if [[ ${sudo[0]:-} == false ]]; then
    echo "setup: missing packages ($*) and not root, no sudo" >&2
    exit 1
  fi
  if [[ ${apt_updated} -eq 0 ]]; then "${apt_get[@]}" update >/dev/null; apt_updated=1; fi
  "${apt_get[@]}" install "$@" >/dev/null
}

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#REQUIRED[@]} packages present"
else
  plain=() lean=()
  for pkg in "${missing[@]}"; do
    if printf '%s\n' "${NO_RECOMMENDS[@]}" | grep -qxF "${pkg}"; then lean+=("${pkg}"); else plain+=("${pkg}"); fi
  done
  if [[ ${#plain[@]} -gt 0 ]]; then apt_install "${plain[@]}"; fi
  if [[ ${#lean[@]} -gt 0 ]]; then apt_install --no-install-recommends "${lean[@]}"; fi
  echo "setup: installed ${missing[*]}"
fi

# deploy/k8s's offline validation (deploy/k8s/README.md "Validation"):
# kubectl (its kustomize renders the overlays) and Node.js with the pinned npm
# packages of deploy/k8s/validate (the Kubernetes schemas). Debian's packages
# only where none is on PATH (a newer kubectl or node is kept).
extra=()
command -v kubectl >/dev/null 2>&1 || extra+=(kubernetes-client)
if ! command -v node >/dev/null 2>&1; then
  extra+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  extra+=(npm)
fi
if [[ ${#extra[@]} -gt 0 ]]; then
  apt_install "${extra[@]}"
  echo "setup: installed ${extra[*]}"
fi
# `npm ci` when node_modules is missing or older than package-lock.json (the
# stamp holds the lock file's hash once the install completed). Needs the npm
# registry; a failure is reported and leaves the k8s tests failing with the
# same hint, not the rest of the build.
validate="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deploy/k8s/validate"
stamp="${validate}/node_modules/.reca-package-lock.sha256"
lock_hash="$(sha256sum "${validate}/package-lock.json" | cut -d' ' -f1)"
if [[ "$(cat "${stamp}" 2>/dev/null || true)" != "${lock_hash}" ]]; then
  if (cd "${validate}" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    echo "${lock_hash}" >"${stamp}"
    echo "setup: npm ci in deploy/k8s/validate"
  else
    echo "setup: WARNING: npm ci in ${validate} failed (no access to the npm registry?);" \
         "the deploy/k8s tests fail until it succeeds" >&2
  fi
fi
