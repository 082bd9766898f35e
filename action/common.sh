# Shared by the Action's scripts (sourced, not run): failures as `::error::`
# annotations, step outputs, and the SHA-256 the tool is checked by.
fail() {
  echo "::error title=CapsuleBench::$*"
  exit 1
}
output() { if [ -n "${GITHUB_OUTPUT:-}" ]; then printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"; fi; }
sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
