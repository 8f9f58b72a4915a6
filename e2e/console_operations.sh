#!/usr/bin/env bash
# The console's operations views in a real browser: the platform operator's
# tenant health and platform audit, and a tenant's audit chain, checkpoints
# and exports to a directory (e2e/console/operations.test.mjs). The server
# gets an export directory of its own, which the test reads.
set -euo pipefail
exports=$(mktemp -d)
trap 'rm -rf "$exports"' EXIT
DITTO_AUDIT_EXPORT_DIR="$exports" EXPORT_DIR="$exports" \
  "$(dirname "$0")/console/run.sh" operations.test.mjs
