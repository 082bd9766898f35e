#!/usr/bin/env bash
# The Action's work, in the caller's workspace. Every input arrives in an
# environment variable (action.yml's `env:`), never spliced into the script.
#   mode bench:   bench every configured workload, or those WORKLOADS
#                 names (paired on pull requests with the merge base of
#                 the pull request's base), one pack each, verify, put the
#                 comparison in the job summary; comment only when asked.
#                 The job is the security boundary: it must hold no key and
#                 no right to mint an OIDC token (both refused).
#   mode sign:    verify every pack in PACKS_DIR, then, only if all are
#                 accepted, sign them (keyless with Sigstore, or with a
#                 repository key); for a job that holds `id-token: write`
#                 and runs only the prebuilt tool install.sh checked.
#   mode publish: verify the packs in PACKS_DIR and attach them to the
#                 release UPLOAD_RELEASE, with the prebuilt tool too.
#   mode board:   collect the repository's packs (release assets, and the
#                 artifacts of pushes to BOARD_BRANCH) with the prebuilt
#                 tool, verify them and build the board's site in BOARD_DIR
#                 (for actions/upload-pages-artifact; the verdict cache,
#                 a hidden directory, is not published).
#   mode comment: in a `workflow_run` workflow: when the run succeeded,
#                 verify the packs it uploaded (capped in size, checked to
#                 come from that run) and comment on its pull request,
#                 found by head branch; when it failed or was cancelled,
#                 mark the existing comment stale.
# Failures are `::error::` annotations; a summary goes to
# $GITHUB_STEP_SUMMARY; outputs go to $GITHUB_OUTPUT.
set -uo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
summary() { if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then printf '%s\n' "$@" >>"$GITHUB_STEP_SUMMARY"; fi; }
# A file name as Markdown text: every character that means something in
# Markdown or HTML escaped, line breaks as spaces.
md() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$c" in
      [A-Za-z0-9\ ]) out+=$c ;;
      $'\n' | $'\r' | $'\t') out+=' ' ;;
      *) out+="&#$(printf '%d' "'$c");" ;;
    esac
  done
  printf '%s' "$out"
}
capsule() { "${CAPSULE_BIN:-cargo-capsule}" capsule "$@"; }
# Hygiene, not a boundary: the workload could still read these from its
# parent's environment, which is why the bench job must not hold them.
bench_capsule() {
  env -u GITHUB_TOKEN -u SIGNING_KEY -u ACTIONS_ID_TOKEN_REQUEST_URL -u ACTIONS_ID_TOKEN_REQUEST_TOKEN \
    "${CAPSULE_BIN:-cargo-capsule}" capsule "$@"
}

MODE=${MODE:-bench}
PACKS_DIR=${PACKS_DIR:-capsulepacks}
# The most bytes of packs a comment job downloads and verifies.
MAX_PACKS_BYTES=${MAX_PACKS_BYTES:-536870912}
policy_args=()
if [ -n "${POLICY:-}" ]; then policy_args=(--policy "$POLICY"); fi
reports="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/capsulebench-reports"
mkdir -p "$reports" || fail "cannot create \`$reports\`"

case "${SIGN:-none}" in
  none) ;;
  key | sigstore)
    [ "$MODE" = sign ] || fail "sign: ${SIGN} runs only in \`mode: sign\`, a separate job that runs no workload code (a key or token in the job that runs the benchmark is the benchmark's to read); use the workflows \`cargo capsule init\` writes"
    ;;
  *) fail "sign must be none, key or sigstore, not \`$SIGN\`" ;;
esac
if [ "$MODE" = bench ]; then
  refuse_bench_credentials
  [ -z "${UPLOAD_RELEASE:-}" ] || fail "upload-release runs only in \`mode: publish\`, a separate job: a write token in the job that runs the benchmark is the benchmark's to use; use the workflows \`cargo capsule init\` writes"
fi
# The jobs that hold a credential run only the binary install.sh checked:
# check it again here, whatever ran before.
if [ "$MODE" = sign ] || [ "$MODE" = publish ] || [ "$MODE" = comment ] || [ "$MODE" = board ]; then
  if [ -z "${CAPSULE_BIN:-}" ] || [ -z "${TOOL_SHA256:-}" ]; then
    fail "mode $MODE runs only the prebuilt tool install.sh checked (CAPSULE_BIN and TOOL_SHA256 must be set)"
  fi
  [ "$(sha256 "$CAPSULE_BIN")" = "$TOOL_SHA256" ] || fail "\`$CAPSULE_BIN\` is not the binary install.sh checked (SHA-256 differs): refusing to run it"
fi

# The board: every pack the repository published or its pushes uploaded,
# verified; what does not verify is listed as rejected, never shown.
if [ "$MODE" = board ]; then
  collected="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/capsulebench-collected"
  rm -rf "$collected" || fail "cannot remove \`$collected\`"
  branch=${BOARD_BRANCH:-main}
  site=${BOARD_DIR:-capsulebench-board}
  capsule github collect --out "$collected" --branch "$branch" --workflow "${BOARD_WORKFLOW:-capsulebench.yml}" ||
    fail "collecting the packs failed (the reason is above)"
  bargs=(board build --packs "$collected" --out "$site" --branch "$branch" "${policy_args[@]}")
  if [ -n "${ACL:-}" ]; then bargs+=(--acl "$ACL"); fi
  if [ -n "${REGISTRY_ROOT:-}" ]; then bargs+=(--registry-root "$REGISTRY_ROOT"); fi
  rc=0
  out=$(capsule "${bargs[@]}") || rc=$?
  echo "$out"
  [ "$rc" = 0 ] || fail "building the board failed (the reason is above)"
  output site "$site"
  summary "## CapsuleBench board" "" "$(md "$out")"
  exit 0
fi

# A workflow_run that failed before uploading packs, or was cancelled: its
# comment, if any, is stale. One that failed after uploading them (its CI
# gate) is commented, saying so. One that was skipped has nothing to say.
packs_present() { compgen -G "$PACKS_DIR/*.tgz" >/dev/null; }
if [ "$MODE" = comment ]; then
  case "${RUN_CONCLUSION:-success}" in
    success) ;;
    failure) packs_present || stale=1 ;;
    skipped | neutral)
      echo "the benchmark run ended \`$RUN_CONCLUSION\`: nothing to comment"
      exit 0
      ;;
    *) stale=1 ;;
  esac
  if [ -n "${stale:-}" ]; then
      rc=0
      out=$(capsule github mark-stale --workflow-run) || rc=$?
      echo "$out"
      [ "$rc" = 0 ] || fail "marking the comment stale failed (the reason is above)"
      summary "## CapsuleBench" "" "The benchmark run ended $(md "$RUN_CONCLUSION"): $(md "$out")"
      exit 0
  fi
fi

verdict=verified
packs=()
bases=()
heads=()
summary "## CapsuleBench" ""

verify() { # pack
  local name report
  name=$(basename "$1")
  report="$reports/$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_').verify.txt"
  if capsule verify "$1" "${policy_args[@]}" >"$report" 2>&1; then
    summary "- $(md "$name"): verified at \`policy\`"
  else
    verdict=rejected
    echo "::error title=CapsuleBench::$(annotation "$name does not verify: $(grep -m1 -E 'REJECTED|error' "$report")")"
    summary "- $(md "$name"): **REJECTED**" '```' "$(sed 's/```/` ` `/g' "$report")" '```'
  fi
}

if [ "$MODE" = bench ]; then
  mkdir -p "$PACKS_DIR" || fail "cannot create \`$PACKS_DIR\`"
  # A pull request is compared with the commit it branched from (the merge
  # base of its base), so the base branch's later changes are not
  # counted as the pull request's.
  baseline=${BASELINE_REF:-}
  if [ -z "$baseline" ] && [ -n "${PR_BASE_SHA:-}" ]; then
    if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ]; then
      fail "this checkout is shallow, so the pull request's base commit is not here: set \`fetch-depth: 0\` on actions/checkout"
    fi
    baseline=$(git merge-base "$PR_BASE_SHA" HEAD 2>/dev/null) ||
      fail "the pull request's base ${PR_BASE_SHA} is not in this checkout: set \`fetch-depth: 0\` on actions/checkout"
  fi
  # Every configured workload unless WORKLOADS names some: one pack each
  # (`<workload>.tgz`, paired `<workload>-base.tgz`) in PACKS_DIR.
  read -r -a workloads <<<"${WORKLOADS:-}"
  # The packs are written outside the checkout and moved into PACKS_DIR
  # afterwards: a pack in the tree would make every later workload's
  # source tree dirty.
  staging="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/capsulebench-staging"
  rm -rf "$staging" && mkdir -p "$staging" || fail "cannot create \`$staging\`"
  args=(bench --out-dir "$staging" --quiet)
  for w in "${workloads[@]}"; do args+=(--workload "$w"); done
  if [ -n "${TRACK:-}" ]; then args+=(--track "$TRACK"); fi
  if [ -n "${REPETITIONS:-}" ]; then
    [[ "$REPETITIONS" =~ ^[1-9][0-9]{0,5}$ ]] || fail "repetitions must be a positive whole number, not \`$REPETITIONS\`"
    args+=(--repetitions "$REPETITIONS")
  fi
  if [ -n "$baseline" ]; then args+=(--baseline "$baseline"); fi
  bench_capsule "${args[@]}"
  benched=$?
  # What was written, even when a later workload failed, is kept.
  for p in "$staging"/*.tgz; do
    [ -e "$p" ] || continue
    mv -f "$p" "$PACKS_DIR/" || fail "cannot move \`$p\` into \`$PACKS_DIR\`"
  done
  [ "$benched" -eq 0 ] || fail "\`cargo capsule bench\` failed (its error is above)"
fi
case "$MODE" in
  bench | comment) ;;
  sign) [ "${SIGN:-none}" != none ] || fail "mode sign needs sign: sigstore or sign: key" ;;
  publish) [ -n "${UPLOAD_RELEASE:-}" ] || fail "mode publish needs upload-release (the release's tag)" ;;
  *) fail "mode must be bench, install, sign, publish, comment or board, not \`$MODE\`" ;;
esac
# The packs: each `X.tgz`, paired with `X-base.tgz` when there is one.
total=0
for head in "$PACKS_DIR"/*.tgz; do
  [ -e "$head" ] || fail "no packs in \`$PACKS_DIR\`"
  [ -f "$head" ] && [ ! -L "$head" ] || fail "\`$(basename "$head")\` is not a regular file"
  total=$((total + $(wc -c <"$head")))
  case "$head" in *-base.tgz) continue ;; esac
  base="${head%.tgz}-base.tgz"
  if [ -e "$base" ]; then
    bases+=("$base")
    heads+=("$head")
    packs+=("$base")
  fi
  packs+=("$head")
done
if [ "$MODE" = comment ] && [ "$total" -gt "$MAX_PACKS_BYTES" ]; then
  fail "the downloaded packs hold $total bytes, over the $MAX_PACKS_BYTES this job verifies (MAX_PACKS_BYTES): refusing them"
fi

for p in "${packs[@]}"; do verify "$p"; done
output packs "${packs[*]}"
output verdict "$verdict"
# Nothing is signed or published unless every pack verified.
[ "$verdict" = verified ] || fail "a pack does not verify; see the summary (nothing was signed or published)"

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
  summary "" "Signed (${SIGN})."
fi

# The comparison: in the job summary always; as a comment in mode comment,
# or in mode bench when asked (that needs `pull-requests: write`). Its
# verdict over every workload (slower, else faster, else inconclusive, else
# no change) is an output, and the CI gate's input.
if [ ${#heads[@]} -gt 0 ] && { [ "$MODE" = bench ] || [ "$MODE" = comment ]; }; then
  verdict_file="$reports/comparison.verdict"
  cargs=(github comment "${policy_args[@]}" --verdict-out "$verdict_file")
  for i in "${!heads[@]}"; do cargs+=(--base "${bases[$i]}" --head "${heads[$i]}"); done
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cargs+=(--summary "$GITHUB_STEP_SUMMARY"); fi
  cargs+=(--comment-on "${COMMENT_ON:-always}")
  if [ "$MODE" = comment ]; then
    cargs+=(--workflow-run)
  elif [ "${COMMENT:-false}" != true ]; then
    cargs+=(--dry-run)
  fi
  rc=0
  out=$(capsule "${cargs[@]}") || rc=$?
  # A dry run prints the comment itself, which is in the summary already.
  if [ "$MODE" = comment ] || [ "${COMMENT:-false}" = true ] || [ "$rc" != 0 ]; then echo "$out"; fi
  [ "$rc" = 0 ] || fail "commenting failed (the reason is above)"
  case "$out" in
    created\ * | updated\ *)
      url=${out#* }
      output comment-url "$url"
      summary "" "Comment: $url"
      ;;
  esac
  comparison=$(cat "$verdict_file") || fail "the comparison wrote no verdict"
  output comparison "$comparison"
  summary "" "Comparison: **$comparison**."
  if [ "$MODE" = bench ] && [ "${FAIL_ON_REGRESSION:-false}" = true ] && [ "$comparison" = slower ]; then
    fail "a workload is slower than its base (fail-on-regression); the packs are kept and the comparison is in the summary"
  fi
fi

if [ "$MODE" = publish ]; then
  for p in "${packs[@]}"; do
    capsule submit "$p" --release "$UPLOAD_RELEASE" || fail "attaching $(basename "$p") to release $UPLOAD_RELEASE failed"
  done
fi
