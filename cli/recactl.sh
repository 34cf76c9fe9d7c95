#!/bin/sh
# `bazel run //cli:recactl -- ARGS`: recactl on the genrule's stubs, run in the directory
# bazel was called from (relative spec paths and runs/local/cluster.json resolve there).
#   recactl.sh RECACTL_PY STUBS/reca/v1/job_service_pb2.py ARGS...
set -eu
recactl="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
RECA_PY_STUBS="${RECA_PY_STUBS:-$(cd "$(dirname "$2")/../.." && pwd)}"
export RECA_PY_STUBS
shift 2
cd "${BUILD_WORKING_DIRECTORY:-.}"
exec /usr/bin/python3 "$recactl" "$@"
