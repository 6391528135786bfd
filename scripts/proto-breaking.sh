#!/usr/bin/env bash
# The proto is a contract with clients in every language: `npm test` fails
# when it breaks them, compared with the previous commit (buf's FILE rules:
# wire, JSON and generated-code compatibility). Outside a git checkout with
# history (a tarball, a shallow clone of depth 1) there is nothing to compare
# with, and it says so.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! git rev-parse --verify -q 'HEAD~1^{commit}' >/dev/null 2>&1; then
  echo "proto-breaking: no previous commit to compare with; skipped" >&2
  exit 0
fi
exec node_modules/.bin/buf breaking --against '.git#ref=HEAD~1'
