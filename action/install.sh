#!/usr/bin/env bash
# Installs cargo-capsule and says where it is (outputs `tool` and
# `tool-sha256`). Every input arrives in an environment variable.
#
# The prebuilt path: `dist.json` beside this script pins, for each tool
# version, the SHA-256 of the release archive of every target; the archive
# for this runner's OS and architecture is downloaded and installed only if
# its digest is the pinned one (pinning the action pins the binary), so
# wherever it is downloaded from, nothing else runs.
#   mode sign, publish, comment: the job holds a credential, so nothing is
#       built: the `tool` job's TOOL_BINARY if given (checked against
#       TOOL_SHA256), else the pinned prebuilt, else a refusal.
#   mode install: the pinned prebuilt, else a source build (with a warning)
#       into $RUNNER_TEMP, for the jobs above (the `tool` job holds no
#       credential).
#   mode bench: the pinned prebuilt, else a source build (with a warning);
#       a job holding a signing key or the right to mint an OIDC token is
#       refused first.
# Nothing is built in a job that can request an OIDC token.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
DIST="$here/dist.json"
MODE=${MODE:-bench}
dest="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/capsulebench-tool"

# The Rust target of this runner, into `t` (not in a subshell, so that a
# refusal ends the script); Windows is refused before anything else.
detect_target() {
  local os arch
  os=$(uname -s)
  arch=$(uname -m)
  case "$os" in
    Linux) os=unknown-linux-gnu ;;
    Darwin) os=apple-darwin ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT) fail "CapsuleBench does not run on Windows runners yet: use \`runs-on: ubuntu-latest\` or \`macos-latest\`" ;;
    *) fail "no cargo-capsule for the OS \`$os\`: use a Linux or macOS runner" ;;
  esac
  case "$arch" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) arch="unsupported-$arch" ;;
  esac
  t="$arch-$os"
}

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

# Installs the pinned prebuilt of version $1 for target $2 into $dest/bin;
# returns 3 when the table pins none (nothing downloaded).
prebuilt() {
  local version=$1 target=$2 pinned archive url file got
  pinned=$(jq -r --arg v "$version" --arg t "$target" '.releases[$v][$t] // empty' "$DIST") ||
    fail "\`$DIST\` is not the action's digest table"
  [ -n "$pinned" ] || return 3
  [[ "$pinned" =~ ^[0-9a-f]{64}$ ]] || fail "\`$DIST\` pins \`$pinned\` for $version/$target, not a SHA-256"
  archive="cargo-capsule-$version-$target.tar.gz"
  url=$(jq -r '.download' "$DIST")
  url=${url//\{version\}/$version}
  url=${url//\{archive\}/$archive}
  mkdir -p "$dest/bin" "$dest/download"
  file="$dest/download/$archive"
  rm -f "$file" "$dest/bin/cargo-capsule"
  if ! curl --fail --silent --show-error --location --retry 3 --connect-timeout 10 --max-time 300 \
    --max-filesize 209715200 --output "$file" "$url"; then
    rm -f "$file"
    fail "failed to download $archive from $url (the release lacks it, or the network failed; the error is above)"
  fi
  got=$(sha256 "$file")
  if [ "$got" != "$pinned" ]; then
    rm -f "$file"
    fail "$archive has SHA-256 $got, but the action pins $pinned: refusing it (downloaded from $url)"
  fi
  tar -xzf "$file" -C "$dest/bin" cargo-capsule || fail "$archive does not hold \`cargo-capsule\`"
  rm -f "$file"
  chmod 0755 "$dest/bin/cargo-capsule"
  echo "cargo-capsule $version for $target (prebuilt, SHA-256 $got as pinned)"
}

detect_target
command -v jq >/dev/null 2>&1 || fail "jq is needed to read \`$DIST\` (GitHub-hosted runners have it; install it on this runner)"
version=${TOOL_VERSION:-action}
if [ "$version" = action ]; then version=$(jq -r '.tool' "$DIST"); fi
if [ "$MODE" = bench ]; then refuse_bench_credentials; fi
case "$MODE" in
  sign | publish | comment | board)
    if [ -n "${TOOL_BINARY:-}" ] || [ -n "${TOOL_SHA256:-}" ]; then
      [ -n "${TOOL_BINARY:-}" ] && [ -n "${TOOL_SHA256:-}" ] || fail "pass both tool-binary and tool-sha256 (the tool job's outputs)"
      [ -f "$TOOL_BINARY" ] || fail "tool-binary \`$TOOL_BINARY\` does not exist: download the tool job's artifact first"
      mkdir -p "$dest/bin"
      tool="$dest/bin/cargo-capsule"
      install -m 0755 "$TOOL_BINARY" "$tool"
      got=$(sha256 "$tool")
      if [ "$got" != "$TOOL_SHA256" ]; then
        rm -f "$tool"
        fail "tool-binary \`$TOOL_BINARY\` has SHA-256 $got, not the tool job's $TOOL_SHA256: refusing to run it"
      fi
    else
      rc=0
      prebuilt "$version" "$t" || rc=$?
      [ "$rc" = 0 ] || fail "mode ${MODE} builds nothing, and the action pins no prebuilt cargo-capsule $version for $t: pass tool-binary and tool-sha256 from a tool job (the workflows \`cargo capsule init\` writes have one)"
      tool="$dest/bin/cargo-capsule"
    fi
    ;;
  install | bench)
    rc=0
    prebuilt "$version" "$t" || rc=$?
    if [ "$rc" = 0 ]; then
      tool="$dest/bin/cargo-capsule"
    else
      warn "the action pins no prebuilt cargo-capsule $version for $t: building it from source (several minutes)"
      build "$dest"
      tool="$dest/bin/cargo-capsule"
    fi
    ;;
  *) fail "mode must be bench, install, sign, publish, comment or board, not \`$MODE\`" ;;
esac
"$tool" capsule --version >/dev/null || fail "\`$tool\` does not run on this runner"
echo "cargo-capsule at $tool"
output tool "$tool"
output tool-sha256 "$(sha256 "$tool")"
