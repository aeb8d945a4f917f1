#!/usr/bin/env bash
# Writes the vendor/ directory of a Go module in this repository so it builds offline with
# `go build -mod=vendor` and no module proxy: every module its go.mod requires is linked to
# Debian's sources in /usr/share/gocode/src (scripts/install-go.sh installs them), or, for a
# `replace` with a directory, to that directory; vendor/modules.txt lists their packages.
# vendor/ is not committed (it holds links into this machine's /usr/share/gocode). The versions
# in go.mod name the Debian packages' upstream versions, so a machine with a module proxy
# builds the same code without this script. See docs/sdk-go.md.
#
# Usage: scripts/go-vendor.sh MODULE_DIR   (a directory with a go.mod; generate gen/ first)
set -euo pipefail

GOCODE=/usr/share/gocode/src
MOD_DIR="$(cd "${1:?usage: go-vendor.sh MODULE_DIR}" && pwd)"
[ -f "$MOD_DIR/go.mod" ] || { echo "go-vendor: $MOD_DIR has no go.mod" >&2; exit 1; }

# Requirements ("path version") and directory replacements ("path dir") from go.mod.
mapfile -t REQUIRES < <(awk '
  /^require \($/ { block = 1; next }
  block && /^\)/ { block = 0; next }
  block && NF >= 2 && $1 !~ /^\/\// { print $1, $2; next }
  /^require [^(]/ { print $2, $3 }' "$MOD_DIR/go.mod")
declare -A REPLACED
while read -r path dir; do
  [ -n "$path" ] && REPLACED["$path"]="$dir"
done < <(awk '/^replace [^ ]+ => [.\/]/ { print $2, $4 }' "$MOD_DIR/go.mod")

# Parallel builds (CI, the conformance suite) may vendor the same module: one at a time, and
# the new vendor/ replaces the old one in a single rename.
exec 9<"$MOD_DIR"
flock 9
TMP="$(mktemp -d "$MOD_DIR/.vendor-XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# Directories holding a package (non-test .go files) of the module in $1, as import paths.
packages() {
  local module="$1" dir="$2"
  (cd "$dir" && find . \( -name vendor -o -name testdata -o -name '.*' ! -name . \) -prune \
      -o -name '*.go' ! -name '*_test.go' -printf '%h\n') | LC_ALL=C sort -u | sed "s|^\.|$module|"
}

for requirement in "${REQUIRES[@]}"; do
  read -r module version <<<"$requirement"
  if [ -n "${REPLACED[$module]:-}" ]; then
    target="$(cd "$MOD_DIR/${REPLACED[$module]}" && pwd)"
    header="# $module $version => ${REPLACED[$module]}"
  else
    target="$GOCODE/$module"
    header="# $module $version"
  fi
  if [ ! -d "$target" ]; then
    echo "go-vendor: $module (required by $MOD_DIR/go.mod) is not in $target; run scripts/install-go.sh" >&2
    exit 1
  fi
  go_version="$(awk '$1 == "go" { print $2; exit }' "$target/go.mod" 2>/dev/null || true)"
  mkdir -p "$TMP/$(dirname "$module")"
  ln -s "$target" "$TMP/$module"
  echo "$module $target" >>"$TMP/.links"
  {
    echo "$header"
    echo "## explicit${go_version:+; go $go_version}"
    packages "$module" "$target"
  } >>"$TMP/modules.txt"
done
for module in "${!REPLACED[@]}"; do
  echo "# $module => ${REPLACED[$module]}" >>"$TMP/modules.txt"
done

# Unchanged (the usual case): keep the old tree, so a concurrent `go build` never sees it vanish.
if cmp -s "$TMP/modules.txt" "$MOD_DIR/vendor/modules.txt" && cmp -s "$TMP/.links" "$MOD_DIR/vendor/.links"; then
  exit 0
fi
rm -rf "$MOD_DIR/vendor"
mv "$TMP" "$MOD_DIR/vendor"
chmod 755 "$MOD_DIR/vendor"
