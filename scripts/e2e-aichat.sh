#!/usr/bin/env bash
# The bot against the real gateway: a real `aichat --serve` (0.30) in front of the tests' fake LLM, with a
# multi-turn conversation, streaming, the context window, compression, upstream failures and `/model` between
# two of aichat's models (the keyboard, a tap, the upstream name aichat forwards, `/context`, a typed name)
# checked end to end (tests/aichat.rs). Not part of scripts/test.sh or .ci/run: the first run builds aichat
# from crates.io (about 6 minutes on 2 cores, over 10 minutes in all on a fresh machine); later runs take
# about a minute.
#
#   scripts/e2e-aichat.sh                      install aichat into target/aichat if needed, then run the tests
#   AICHAT_BIN=/usr/local/bin/aichat scripts/e2e-aichat.sh     use that aichat instead (it should be 0.30.x)
#
# Extra arguments go to the test harness, e.g. `scripts/e2e-aichat.sh streams` to run one test.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

AICHAT_VERSION="${AICHAT_VERSION:-0.30.0}"

scripts/ensure-redis.sh

if [ -z "${AICHAT_BIN:-}" ]; then
  root="$PWD/target/aichat"
  AICHAT_BIN="$root/bin/aichat"
  if [ ! -x "$AICHAT_BIN" ] || ! "$AICHAT_BIN" --version 2>/dev/null | grep -qx "aichat $AICHAT_VERSION"; then
    echo "Installing aichat $AICHAT_VERSION into $root (cargo install; about 6 minutes, needs crates.io)…" >&2
    cargo install --locked aichat --version "$AICHAT_VERSION" --root "$root"
  fi
fi
if [ ! -x "$AICHAT_BIN" ]; then
  echo "error: AICHAT_BIN=$AICHAT_BIN is not an executable file" >&2
  exit 1
fi
echo "Using $("$AICHAT_BIN" --version) at $AICHAT_BIN" >&2
export AICHAT_BIN

# One test at a time: each starts its own Redis, fakes, aichat and bot, and the streaming checks are about
# timing.
cargo test --locked --features aichat-e2e --test aichat -- --test-threads=1 "$@"

echo "e2e-aichat: passed in $(( $(date +%s) - started )) s" >&2
