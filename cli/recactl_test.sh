#!/bin/sh
# Bazel's recactl_test: cli/recactl_test.py with /usr/bin/python3 on the genrule's stubs.
#   recactl_test.sh RECACTL_TEST_PY STUBS/reca/v1/job_service_pb2.py
set -eu
test_py="${1:-cli/recactl_test.py}"
stub="${2:-cli/python/reca/v1/job_service_pb2.py}"
RECA_PY_STUBS="$(cd "$(dirname "$stub")/../.." && pwd)"
export RECA_PY_STUBS
exec /usr/bin/python3 "$test_py"
