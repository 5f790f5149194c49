#!/usr/bin/env bash
# Build, test and run XDit.
#   ./build.sh           restore and build everything (Release)
#   ./build.sh test      build, then run the test suite (prints "N passed, N failed")
#   ./build.sh bench ... build and run the BenchmarkDotNet suites (arguments go to BenchmarkDotNet)
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
cmd="${1:-build}"; shift || true
build() { dotnet build XDit.sln -c Release -nologo -v quiet "$@"; }
case "$cmd" in
  build) build ;;
  test)
    build
    dotnet tests/XDit.Tests/bin/Release/net10.0/XDit.Tests.dll -noColor "$@" | tee /tmp/xdit-test.log
    status=${PIPESTATUS[0]}
    # One plain closing line that any CI can read.
    total=$(grep -oE 'Total: [0-9]+' /tmp/xdit-test.log | tail -1 | grep -oE '[0-9]+' || echo 0)
    failed=$(grep -oE 'Failed: [0-9]+' /tmp/xdit-test.log | tail -1 | grep -oE '[0-9]+' || echo 0)
    skipped=$(grep -oE 'Skipped: [0-9]+' /tmp/xdit-test.log | tail -1 | grep -oE '[0-9]+' || echo 0)
    errors=$(grep -oE 'Errors: [0-9]+' /tmp/xdit-test.log | tail -1 | grep -oE '[0-9]+' || echo 0)
    echo "$((total - failed - skipped)) passed, $((failed + errors)) failed, $skipped skipped"
    if [ "$total" -eq 0 ]; then echo "no test ran"; exit 1; fi
    exit "$status" ;;
  bench) dotnet run --project bench/XDit.Bench -c Release -- "$@" ;;
  *) echo "usage: ./build.sh [build|test|bench]" >&2; exit 2 ;;
esac
