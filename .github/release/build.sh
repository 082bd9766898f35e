#!/usr/bin/env bash
# Builds cargo-capsule for TARGET (a Rust target triple) at the tag TAG
# (`vX.Y.Z`, which must be the crate's version) and writes into dist/:
#   cargo-capsule-X.Y.Z-TARGET.tar.gz         the binary at the archive's
#                                             root, with the licenses and
#                                             README (what `action/install.sh`
#                                             and `cargo binstall` unpack)
#   cargo-capsule-X.Y.Z-TARGET.tar.gz.sha256  `<hex>  <archive>`
# Run by the release workflow's build job, which holds no credential.
set -euo pipefail
: "${TARGET:?set TARGET to a Rust target triple}"
: "${TAG:?set TAG to the pushed tag (vX.Y.Z)}"
version=${TAG#v}
crate=$(cargo metadata --no-deps --format-version 1 --manifest-path cargo-capsule/Cargo.toml |
  jq -r '.packages[] | select(.name == "cargo-capsule") | .version')
if [ "$crate" != "$version" ]; then
  echo "::error title=Release::tag $TAG is not cargo-capsule's version $crate: bump the workspace version first" >&2
  exit 1
fi
rustup target add "$TARGET"
cargo build --release --locked -p cargo-capsule --target "$TARGET"
archive="cargo-capsule-$version-$TARGET.tar.gz"
stage=$(mktemp -d)
cp "target/$TARGET/release/cargo-capsule" LICENSE-MIT LICENSE-APACHE README.md "$stage/"
mkdir -p dist
tar -C "$stage" -czf "dist/$archive" cargo-capsule LICENSE-MIT LICENSE-APACHE README.md
rm -rf "$stage"
if command -v sha256sum >/dev/null 2>&1; then
  (cd dist && sha256sum "$archive" >"$archive.sha256")
else
  (cd dist && shasum -a 256 "$archive" >"$archive.sha256")
fi
cat "dist/$archive.sha256"
