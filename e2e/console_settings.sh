#!/usr/bin/env bash
# The console's settings pages in a real browser: single sign-on, SCIM
# tokens, backends and routes, the usage explorer, platform operators
# (e2e/console/settings.test.mjs).
exec "$(dirname "$0")/console/run.sh" settings.test.mjs
