#!/usr/bin/env bash
# Signs every archive in dist/ keylessly with the cargo-capsule the build
# job made for this runner (x86_64 Linux), after checking each archive
# against its `.sha256`: `dist/ARCHIVE.sigstore.json`, a v0.3 Sigstore
# bundle (message signature, `hashedrekord`), the kind `cosign verify-blob
# --bundle` reads, which `cargo capsule verify-blob` checks.
# Then verifies each bundle as a user would, for this workflow's identity.
# Run by the release workflow's sign job (`id-token: write`), which builds
# nothing.
set -euo pipefail
cd dist
for sums in *.tar.gz.sha256; do
  if command -v sha256sum >/dev/null 2>&1; then sha256sum --check --strict "$sums"; else shasum -a 256 --check "$sums"; fi
done
tool_dir=$(mktemp -d)
tar -xzf cargo-capsule-*-x86_64-unknown-linux-gnu.tar.gz -C "$tool_dir" cargo-capsule
tool="$tool_dir/cargo-capsule"
identity="${GITHUB_SERVER_URL}/${GITHUB_WORKFLOW_REF}"
for archive in *.tar.gz; do
  "$tool" capsule sign-blob "$archive" --sigstore
  "$tool" capsule verify-blob "$archive" --certificate-identity "$identity"
done
