# Shared by the Action's scripts (sourced, not run): failures as `::error::`
# annotations, step outputs, the SHA-256 the tool is checked by, and the
# refusals of the bench job.

# Text for a workflow command: `%`, CR and LF escaped as GitHub reads them,
# so a file name from an artifact cannot end the annotation or start
# another command.
annotation() {
  local s=${1//%/%25}
  s=${s//$'\r'/%0D}
  printf '%s' "${s//$'\n'/%0A}"
}
fail() {
  echo "::error title=CapsuleBench::$(annotation "$*")"
  exit 1
}
warn() { echo "::warning title=CapsuleBench::$(annotation "$*")"; }
# A step output; the value goes in a heredoc whose delimiter it cannot
# contain, so a name with a newline cannot write a second output.
output() {
  [ -n "${GITHUB_OUTPUT:-}" ] || return 0
  local delim="capsulebench_$RANDOM$RANDOM$RANDOM"
  while [[ "$2" == *"$delim"* ]]; do delim="${delim}_$RANDOM"; done
  printf '%s<<%s\n%s\n%s\n' "$1" "$delim" "$2" "$delim" >>"$GITHUB_OUTPUT"
}
# SHA-256 of a file: `sha256sum` (Linux), else `shasum -a 256` (macOS).
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  else
    shasum -a 256 "$1" | cut -d ' ' -f 1
  fi
}
# The bench job runs the code under test: a signing key, or the right to
# mint an OIDC token, is the benchmark's to use (it can read its parent's
# environment, and hosted runners give it sudo). Refused outright, whether
# or not the tool is already installed.
refuse_bench_credentials() {
  if [ -n "${SIGNING_KEY:-}" ]; then
    fail "mode bench refuses signing-key: the job that runs the benchmark must hold no key (the benchmark can read it); sign in a separate \`mode: sign\` job, as \`cargo capsule init\` writes"
  fi
  if [ -n "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ]; then
    fail "mode bench refuses a job that can request an OIDC token (\`id-token: write\`): the benchmark could mint a signing certificate; grant \`id-token: write\` only to the \`mode: sign\` job"
  fi
}
