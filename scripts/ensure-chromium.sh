#!/usr/bin/env bash
# The dashboard's browser tests drive Debian's headless Chromium; install it when we can.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the dashboard's browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
else
  echo "chromium is missing: install Debian's chromium package (sudo apt-get install chromium) to run the browser tests." >&2
  exit 1
fi
