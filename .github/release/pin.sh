#!/usr/bin/env bash
# Pins a release's archives in the Action's digest table: for each
# DIR/cargo-capsule-VERSION-TARGET.tar.gz (checked against its `.sha256`),
# sets `releases[VERSION][TARGET]` in action/dist.json to its SHA-256 and
# makes VERSION the one the Action installs. Run before the Action's tag
# moves (docs/releasing.md), so pinning the Action pins the binary.
#   usage: pin.sh VERSION DIR [DIST_JSON]
set -euo pipefail
version=${1:?usage: pin.sh VERSION DIR [DIST_JSON]}
dir=${2:?usage: pin.sh VERSION DIR [DIST_JSON]}
table=${3:-$(dirname "${BASH_SOURCE[0]}")/../../action/dist.json}
sha256() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d ' ' -f 1; }
shopt -s nullglob
archives=("$dir/cargo-capsule-$version-"*.tar.gz)
[ ${#archives[@]} -gt 0 ] || { echo "no cargo-capsule-$version-*.tar.gz in $dir" >&2; exit 1; }
next=$(jq --arg v "$version" '.tool = $v | .releases[$v] = {}' "$table")
for a in "${archives[@]}"; do
  name=$(basename "$a")
  target=${name#cargo-capsule-"$version"-}
  target=${target%.tar.gz}
  got=$(sha256 "$a")
  want=$(cut -d ' ' -f 1 <"$a.sha256")
  [ "$got" = "$want" ] || { echo "$name has SHA-256 $got, but $name.sha256 says $want" >&2; exit 1; }
  next=$(jq --arg v "$version" --arg t "$target" --arg s "$got" '.releases[$v][$t] = $s' <<<"$next")
  echo "pinned $version $target $got"
done
printf '%s\n' "$next" >"$table.tmp"
mv "$table.tmp" "$table"
