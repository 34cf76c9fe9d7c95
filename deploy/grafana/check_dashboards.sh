#!/bin/sh
# Bazel's entry to check_dashboards.py: the repository root is the runfiles root.
exec /usr/bin/python3 deploy/grafana/check_dashboards.py .
