#!/bin/sh
# Chromium and its WebDriver for the browser tests, from Debian's packages (browser downloads by Playwright or
# Selenium Manager are not reachable here). Does nothing when both are installed; needs root otherwise.
#   make browser   (the browser tests run it themselves when Chromium is missing)
set -eu
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install_browser: Chromium is missing; as root run: apt-get install chromium chromium-driver" >&2
  exit 1
fi
echo "install_browser: installing Debian's chromium and chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver
test -x /usr/bin/chromium && test -x /usr/bin/chromedriver
