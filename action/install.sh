#!/usr/bin/env bash
# Installs cargo-capsule: from this action's own source (`tool-version:
# action`) or from crates.io, unless the cached binary already runs.
set -euo pipefail
if command -v cargo-capsule >/dev/null && cargo-capsule capsule --version >/dev/null 2>&1; then
  echo "cargo-capsule $(cargo-capsule capsule --version) (cached)"
  exit 0
fi
if [ "${TOOL_VERSION:-action}" = "action" ]; then
  cargo install --locked --path "$GITHUB_ACTION_PATH/cargo-capsule"
else
  cargo install --locked cargo-capsule --version "$TOOL_VERSION"
fi
