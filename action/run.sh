#!/usr/bin/env bash
# The Action's work, in the caller's workspace. Every input arrives in an
# environment variable (action.yml's `env:`), never spliced into the script.
#   mode bench:   bench each workload (paired with BASELINE_REF on pull
#                 requests) without the step's credentials in its
#                 environment, verify, comment. Signing and release uploads
#                 are refused here: they belong to jobs that run no
#                 workload.
#   mode sign:    verify the packs in PACKS_DIR and sign them (keyless with
#                 Sigstore, or with a repository key); for a job that holds
#                 `id-token: write` and runs no workload or build code, only
#                 the prebuilt tool install.sh checked (CAPSULE_BIN).
#   mode publish: verify the packs in PACKS_DIR and attach them to the
#                 release UPLOAD_RELEASE, with the prebuilt tool too.
#   mode comment: verify the packs in PACKS_DIR (downloaded from an
#                 untrusted run) and comment on the pull request whose head
#                 is HEAD_SHA, found through the API.
# Failures are `::error::` annotations; a summary goes to
# $GITHUB_STEP_SUMMARY; outputs go to $GITHUB_OUTPUT.
set -uo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
summary() { if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then printf '%s\n' "$@" >>"$GITHUB_STEP_SUMMARY"; fi; }
capsule() { "${CAPSULE_BIN:-cargo-capsule}" capsule "$@"; }
# The benchmark runs without the step's credentials in its environment.
bench_capsule() {
  env -u GITHUB_TOKEN -u SIGNING_KEY -u ACTIONS_ID_TOKEN_REQUEST_URL -u ACTIONS_ID_TOKEN_REQUEST_TOKEN \
    "${CAPSULE_BIN:-cargo-capsule}" capsule "$@"
}

MODE=${MODE:-bench}
PACKS_DIR=${PACKS_DIR:-capsulepacks}
policy_args=()
if [ -n "${POLICY:-}" ]; then policy_args=(--policy "$POLICY"); fi

case "${SIGN:-none}" in
  none) ;;
  key | sigstore)
    [ "$MODE" = sign ] || fail "sign: ${SIGN} runs only in \`mode: sign\`, a separate job that runs no workload code (a key or token in the job that runs the benchmark is the benchmark's to read); use the workflows \`cargo capsule init\` writes"
    ;;
  *) fail "sign must be none, key or sigstore, not \`$SIGN\`" ;;
esac
if [ "$MODE" = bench ] && [ -n "${UPLOAD_RELEASE:-}" ]; then
  fail "upload-release runs only in \`mode: publish\`, a separate job: a write token in the job that runs the benchmark is the benchmark's to use; use the workflows \`cargo capsule init\` writes"
fi
# The jobs that hold a credential run only the binary install.sh checked:
# check it again here, whatever ran before.
if [ "$MODE" = sign ] || [ "$MODE" = publish ]; then
  if [ -z "${CAPSULE_BIN:-}" ] || [ -z "${TOOL_SHA256:-}" ]; then
    fail "mode $MODE runs only the prebuilt tool install.sh checked (CAPSULE_BIN and TOOL_SHA256 must be set)"
  fi
  [ "$(sha256 "$CAPSULE_BIN")" = "$TOOL_SHA256" ] || fail "\`$CAPSULE_BIN\` is not the binary the tool job built (SHA-256 differs): refusing to run it"
fi

verdict=verified
packs=()
bases=()
heads=()
summary "## CapsuleBench" ""

verify() { # pack
  if capsule verify "$1" "${policy_args[@]}" >"$1.verify.txt" 2>&1; then
    summary "- \`$(basename "$1")\`: verified at \`policy\`"
  else
    verdict=rejected
    echo "::error title=CapsuleBench::$(basename "$1") does not verify: $(grep -m1 -E 'REJECTED|error' "$1.verify.txt")"
    summary "- \`$(basename "$1")\`: **REJECTED**" '```' "$(cat "$1.verify.txt")" '```'
  fi
}

if [ "$MODE" = bench ]; then
  mkdir -p "$PACKS_DIR" || fail "cannot create \`$PACKS_DIR\`"
  read -r -a workloads <<<"${WORKLOADS:-}"
  if [ ${#workloads[@]} -eq 0 ]; then workloads=(""); fi
  for w in "${workloads[@]}"; do
    name=${w:-capsulepack}
    head="$PACKS_DIR/$name.tgz"
    args=(bench --out "$head" --quiet)
    if [ -n "$w" ]; then args+=(--workload "$w"); fi
    if [ -n "${TRACK:-}" ]; then args+=(--track "$TRACK"); fi
    if [ -n "${BASELINE_REF:-}" ]; then
      base="$PACKS_DIR/$name-base.tgz"
      args+=(--baseline "$BASELINE_REF" --baseline-out "$base")
    fi
    if ! bench_capsule "${args[@]}"; then fail "\`cargo capsule bench\` failed for workload \`${w:-default}\` (its error is above)"; fi
    if [ -n "${BASELINE_REF:-}" ]; then
      bases+=("$base")
      heads+=("$head")
      packs+=("$base")
    fi
    packs+=("$head")
  done
else
  case "$MODE" in
    comment) [ -n "${HEAD_SHA:-}" ] || fail "mode comment needs head-sha (\`github.event.workflow_run.head_sha\`)" ;;
    sign) [ "${SIGN:-none}" != none ] || fail "mode sign needs sign: sigstore or sign: key" ;;
    publish) [ -n "${UPLOAD_RELEASE:-}" ] || fail "mode publish needs upload-release (the release's tag)" ;;
    *) fail "mode must be bench, sign, publish or comment, not \`$MODE\`" ;;
  esac
  for head in "$PACKS_DIR"/*.tgz; do
    case "$head" in *-base.tgz) continue ;; esac
    [ -e "$head" ] || fail "no packs in \`$PACKS_DIR\`"
    base="${head%.tgz}-base.tgz"
    if [ -e "$base" ]; then
      bases+=("$base")
      heads+=("$head")
      packs+=("$base")
    fi
    packs+=("$head")
  done
fi

for p in "${packs[@]}"; do verify "$p"; done

if [ "$MODE" = sign ]; then
  case "${SIGN:-none}" in
    key)
      [ -n "${SIGNING_KEY:-}" ] || fail "sign: key needs signing-key (a secret holding the PEM from \`cargo capsule keygen\`)"
      for p in "${packs[@]}"; do
        capsule sign "$p" --key-env SIGNING_KEY || fail "signing $(basename "$p") failed (the reason is above)"
      done
      ;;
    sigstore)
      for p in "${packs[@]}"; do
        capsule sign "$p" --sigstore || fail "keyless signing of $(basename "$p") failed (the reason is above)"
      done
      ;;
  esac
  if [ "${SIGN:-none}" != none ]; then summary "" "Signed (${SIGN})."; fi
fi

output packs "${packs[*]}"
output verdict "$verdict"
[ "$verdict" = verified ] || fail "a pack does not verify; see the summary"

if [ "${COMMENT:-true}" = true ] && [ ${#heads[@]} -gt 0 ] && { [ "$MODE" = bench ] || [ "$MODE" = comment ]; }; then
  cargs=(github comment "${policy_args[@]}")
  for i in "${!heads[@]}"; do cargs+=(--base "${bases[$i]}" --head "${heads[$i]}"); done
  if [ "$MODE" = comment ]; then
    cargs+=(--head-sha "$HEAD_SHA")
    summary "" "The packs came from an untrusted run: they are verified here and stay unsigned."
  fi
  if out=$(capsule "${cargs[@]}"); then
    echo "$out"
    url=${out#* }
    output comment-url "$url"
    summary "" "Comment: $url"
  else
    fail "commenting failed (the reason is above)"
  fi
fi

if [ "$MODE" = publish ]; then
  for p in "${packs[@]}"; do
    capsule submit "$p" --release "$UPLOAD_RELEASE" || fail "attaching $(basename "$p") to release $UPLOAD_RELEASE failed"
  done
fi
