#!/usr/bin/env bash
# The admin console in a real browser: sign-in, projects, keys used through
# the OpenAI SDK, members, budgets, audit, account (e2e/console/console.test.mjs).
exec "$(dirname "$0")/console/run.sh" console.test.mjs
