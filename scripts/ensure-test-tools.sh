#!/usr/bin/env bash
# `pretest`: makes sure the programs the test suites drive are installed
# (nginx, chromium, ffmpeg, curl, strace, ...; the list with the reason for
# each is TEST_TOOLS in scripts/lib/system-packages.sh). Installs the missing
# ones with apt when it may (root or passwordless sudo), else stops with one
# line saying what to install. Returns at once when everything is there.
#
#   bash scripts/ensure-test-tools.sh              every test tool
#   bash scripts/ensure-test-tools.sh chromium     only these packages' tools
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/system-packages.sh
source scripts/lib/system-packages.sh
ensure_test_tools 'npm test' "$@"
