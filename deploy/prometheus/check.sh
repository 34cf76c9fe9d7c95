#!/bin/sh
# The shipped Prometheus files are valid: both scrape configs (with the rule
# file they load), the alert rules, and every alert's unit test.
#   deploy/prometheus/check.sh [DIR]   (DIR: where these files are; default: next to this script)
set -eu
dir="${1:-$(dirname "$0")}"
cd "$dir"
promtool check config prometheus.yml
promtool check config prometheus-k8s.yml
promtool check rules alerts.yml
promtool test rules alerts_test.yml
echo PASS
