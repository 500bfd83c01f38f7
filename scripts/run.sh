#!/usr/bin/env bash
# The run command (README): makes sure Redis runs, builds the release binary, and runs the bot in the
# foreground with the configuration from the environment and .env.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f .env ] && [ -z "${TELEGRAM_BOT_TOKEN:-}" ]; then
  echo "No .env file: copy .env.example to .env and fill in TELEGRAM_BOT_TOKEN and ALLOWED_USER_IDS." >&2
  exit 2
fi
scripts/ensure-redis.sh --start
cargo build --release --locked
exec target/release/aichat-telegram-bot "$@"
