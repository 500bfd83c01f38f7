#!/usr/bin/env bash
# Makes sure redis-server is installed (Debian/Ubuntu: apt-get), and with --start that a Redis answers at
# REDIS_URL (default redis://127.0.0.1:6379/0), starting a local one in the background if none does.
#
#   scripts/ensure-redis.sh            install if missing
#   scripts/ensure-redis.sh --start    install if missing, then start a local Redis if none answers
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: need root (or sudo) to run: $*" >&2; exit 1; fi
}

if ! command -v redis-server >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: redis-server is not installed and apt-get is not available; install Redis (>= 7.0) yourself." >&2
    exit 1
  fi
  echo "Installing redis-server (Debian package)…" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
redis-server --version >&2

[ "${1:-}" = "--start" ] || exit 0

# Read REDIS_URL from the environment or .env.
url="${REDIS_URL:-}"
if [ -z "$url" ] && [ -f .env ]; then
  url=$(sed -n 's/^[[:space:]]*REDIS_URL[[:space:]]*=[[:space:]]*//p' .env | tail -n 1 | tr -d '"'"'"'')
fi
url="${url:-redis://127.0.0.1:6379/0}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379

# The queue must survive a Redis restart: say so when persistence is off.
check_persistence() {
  if [ "$(redis-cli -h "$host" -p "$port" config get appendonly 2>/dev/null | tail -n 1)" = "no" ]; then
    echo "warning: Redis at $host:$port runs without its append-only file, so a Redis restart would lose queued" >&2
    echo "         messages. Turn it on: redis-cli -p $port config set appendonly yes && redis-cli -p $port config rewrite" >&2
    echo "         (or appendonly yes in /etc/redis/redis.conf). See docs/operations.md." >&2
  fi
}

if redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
  echo "Redis answers at $host:$port." >&2
  check_persistence
  exit 0
fi
case "$host" in
  127.0.0.1|localhost|::1) ;;
  *) echo "error: no Redis answers at $host:$port, and it is not local, so it cannot be started here." >&2; exit 1 ;;
esac
# A system service if there is one, else a server of our own in the background.
if command -v systemctl >/dev/null 2>&1 && [ "$port" = 6379 ] && systemctl list-unit-files redis-server.service >/dev/null 2>&1 \
   && as_root systemctl start redis-server >/dev/null 2>&1; then
  :
else
  mkdir -p data/redis
  redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/data/redis" --appendonly yes --daemonize yes \
    --logfile "$PWD/data/redis/redis.log" --pidfile "$PWD/data/redis/redis.pid"
fi
for _ in $(seq 1 50); do
  if redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
    echo "Redis started at $host:$port." >&2
    check_persistence
    exit 0
  fi
  sleep 0.1
done
echo "error: Redis did not start at $host:$port (see data/redis/redis.log)." >&2
exit 1
