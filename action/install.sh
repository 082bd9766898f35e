#!/usr/bin/env bash
# Installs cargo-capsule and says where it is (outputs `tool` and
# `tool-sha256`). Every input arrives in an environment variable.
#   mode sign, publish: only the prebuilt TOOL_BINARY, and only if its
#                       SHA-256 is TOOL_SHA256 (the `tool` job's output):
#                       the signing and release jobs build nothing.
#   mode install:       builds into $RUNNER_TEMP, never from a cache, for
#                       those jobs (the `tool` job holds no credential).
#   other modes:        the cached binary if it runs, else a fresh build.
# Nothing is built in a job that can request an OIDC token.
# The build is this action's own source (`tool-version: action`) or a
# crates.io version.
set -euo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
build() { # $1: the `cargo install --root`
  if [ -n "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ]; then
    fail "refusing to build in a job that can request an OIDC token (\`id-token: write\`): build in the credential-less tool job and pass tool-binary and tool-sha256"
  fi
  if [ "${TOOL_VERSION:-action}" = action ]; then
    cargo install --locked --root "$1" --path "$GITHUB_ACTION_PATH/cargo-capsule"
  else
    cargo install --locked --root "$1" cargo-capsule --version "$TOOL_VERSION"
  fi
}

dest="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/capsulebench-tool"
case "${MODE:-bench}" in
  sign | publish)
    if [ -z "${TOOL_BINARY:-}" ] || [ -z "${TOOL_SHA256:-}" ]; then
      fail "mode ${MODE} builds nothing: pass tool-binary and tool-sha256 from the tool job (the workflow \`cargo capsule init\` writes has one)"
    fi
    [ -f "$TOOL_BINARY" ] || fail "tool-binary \`$TOOL_BINARY\` does not exist: download the tool job's artifact first"
    mkdir -p "$dest/bin"
    tool="$dest/bin/cargo-capsule"
    install -m 0755 "$TOOL_BINARY" "$tool"
    got=$(sha256 "$tool")
    if [ "$got" != "$TOOL_SHA256" ]; then
      rm -f "$tool"
      fail "tool-binary \`$TOOL_BINARY\` has SHA-256 $got, not the tool job's $TOOL_SHA256: refusing to run it"
    fi
    ;;
  install)
    build "$dest"
    tool="$dest/bin/cargo-capsule"
    ;;
  *)
    if command -v cargo-capsule >/dev/null && cargo-capsule capsule --version >/dev/null 2>&1; then
      echo "cargo-capsule $(cargo-capsule capsule --version) (cached)"
    else
      build "${CARGO_HOME:-$HOME/.cargo}"
    fi
    tool=$(command -v cargo-capsule) || fail "cargo-capsule is not on PATH after installing it"
    ;;
esac
echo "cargo-capsule at $tool"
output tool "$tool"
output tool-sha256 "$(sha256 "$tool")"
