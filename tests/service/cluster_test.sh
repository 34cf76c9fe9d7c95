#!/bin/sh
# Bazel's cluster_test: cluster_test.py with Debian's python3 (it has grpcio).
set -eu
exec /usr/bin/python3 "$@"
