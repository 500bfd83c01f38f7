#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then formatting, lints and every test.
# The tests start their own redis-server on free ports, and fake Telegram and LLM servers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-redis.sh
scripts/ensure-chromium.sh
cargo fmt --check
scripts/check-schema.sh
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked

