#!/usr/bin/env bash
# Builds h2spec (github.com/summerwind/h2spec, v2.6.0) from a local copy of its source with
# Debian's Go toolchain and Go libraries, in GOPATH mode: no module download, nothing committed.
# The source is a git directory brought to this machine beforehand (the tool library's fetch of
# summerwind/h2spec); H2SPEC_SRC points at it. Prints the path of the built binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=${H2SPEC_SRC:-/work/.mirror/summerwind+h2spec/repo}
ref=${H2SPEC_REF:-v2.6.0}
out=build/conformance
bin=$out/h2spec-$ref
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
if ! git --git-dir="$src" rev-parse -q --verify "$ref^{commit}" >/dev/null 2>&1; then
  echo "build_h2spec: no h2spec source at $src (ref $ref); fetch summerwind/h2spec there or set H2SPEC_SRC" >&2
  exit 2
fi
pkgs=(golang-go golang-github-spf13-cobra-dev golang-github-fatih-color-dev golang-golang-x-net-dev
  golang-github-mattn-go-colorable-dev golang-github-mattn-go-isatty-dev golang-github-spf13-pflag-dev
  golang-golang-x-sys-dev golang-github-inconshreveable-mousetrap-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "build_h2spec: missing Debian packages: ${missing[*]} (as root: apt-get install ${missing[*]})" >&2
    exit 2
  fi
  apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi
gopath=$PWD/$out/gopath
dest=$gopath/src/github.com/summerwind/h2spec
rm -rf "$dest" && mkdir -p "$dest"
git --git-dir="$src" archive "$ref" | tar -x -C "$dest"
rm -f "$dest/go.mod" "$dest/go.sum"
top=$PWD
(cd "$dest" && GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$top/$out/gocache" \
  go build -o "$top/$bin" ./cmd/h2spec) >&2
echo "$bin"
