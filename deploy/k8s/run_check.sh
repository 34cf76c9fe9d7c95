#!/bin/sh
# Bazel's entry to the deploy/k8s checks (BUILD.bazel); the runfiles root is
# the repository root.
#   run_check.sh manifests|broken|dashboards|dockerfiles
set -eu
case "$1" in
  manifests) exec /usr/bin/python3 deploy/k8s/check_manifests.py --root . ;;
  broken) exec /usr/bin/python3 deploy/k8s/check_manifests.py --root . --expect-rejected testdata/broken \
      --expect-rejected testdata/broken-gpu ;;
  dashboards) exec /usr/bin/python3 deploy/k8s/gen_dashboards_configmap.py --check . ;;
  dockerfiles)
    # The Dockerfiles COPY whole folders of the build context: check them in
    # the source tree this runfile links to (a `local`, uncached test).
    src="$(readlink -f deploy/k8s/check_dockerfiles.py)"
    root="$(dirname "$(dirname "$(dirname "$src")")")"
    exec /usr/bin/python3 "$root/deploy/k8s/check_dockerfiles.py" --root "$root" ;;
  *) echo "run_check.sh: unknown check $1" >&2; exit 2 ;;
esac
