#!/usr/bin/env bash
# Makes sure Debian's chromium is installed: the dashboard test renders the page in a real headless browser.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: need root (or sudo) to run: $*" >&2; exit 1; fi
}
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: chromium is not installed and apt-get is not available; install Chromium yourself." >&2
  exit 1
fi
echo "Installing chromium (Debian package, for the dashboard test)…" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
chromium --version >&2
