#!/usr/bin/env bash
# scripts/test.sh — set up (no MNIST needed), build, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-data
meson test -C "${OZ_BUILDDIR:-build}" --print-errorlogs "$@"
