#!/usr/bin/env bash
# Installs Debian's Chromium and its WebDriver (/usr/bin/chromium, /usr/bin/chromedriver): the
# dashboard's end-to-end test (tests/Concord.EndToEnd.Tests/Dashboard) drives a real headless
# browser through them with Selenium. Both come from the same source package, so their versions match.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" install-chromium chromium chromium-driver
