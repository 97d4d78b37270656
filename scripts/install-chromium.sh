#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/test_web_browser.py drives
# /usr/bin/chromium through Playwright). Idempotent: does nothing when it is already there.
# Prints one line.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium))"
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
    echo "chromium: not installed and not root (no sudo): run 'apt-get install chromium' as root" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp); trap 'rm -f "$log"' EXIT
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "chromium: apt-get install failed (output above)" >&2
  exit 1
fi
echo "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium))"
