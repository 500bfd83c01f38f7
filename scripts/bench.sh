#!/usr/bin/env bash
# The performance benchmark in one command (docs/benchmarks.md): makes sure redis-server is installed, then
# builds the release binary and runs benches/performance.rs, which prints every figure next to its goal.
# Exits non-zero when a correctness check fails (an answer lost or duplicated, an error logged).
#
#   scripts/bench.sh                                   everything (the soak takes 10 minutes)
#   SOAK_SECS=120 scripts/bench.sh                     a shorter soak
#   BENCH_ONLY=start,throughput scripts/bench.sh       some sections: start, overhead, throughput,
#                                                      streaming, tokenizer, soak
#
# The environment is passed through (BENCH_ONLY, SOAK_SECS, E2E_BOT_BINARY, …).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-redis.sh
cargo bench --locked --bench performance
