#!/usr/bin/env bash
# The checked-in spec is a valid OpenAPI 3.1 document.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -q '"openapi": "3.1.0"' openapi/ditto.json
openapi-spec-validator openapi/ditto.json
