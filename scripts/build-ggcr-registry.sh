#!/usr/bin/env bash
# Builds go-containerregistry's pkg/registry (the registry `crane registry serve`, ko and many Go test
# suites run; in memory, with the OCI 1.1 Referrers API) from Debian's Go source package, offline apart
# from the Debian mirror, with scripts/ggcr-registry/main.go as its command:
#
#   scripts/build-ggcr-registry.sh [OUT]        OUT defaults to target/tools/ggcr-registry
#
# Cached: when OUT exists and OUT.stamp matches the inputs (main.go, this script, the source package
# version), nothing is done. Concurrent callers (parallel tests) are serialised with flock on OUT.lock.
# Needs `go` (Debian bookworm's golang-go 1.19; scripts/setup.sh installs it), apt-get, dpkg-deb.
# The source package comes from sid (golang-github-google-go-containerregistry-dev 0.20.x), fetched
# with a private apt configuration: the system's apt sources and lists are not changed.
#
# Run:  OUT -addr 127.0.0.1:PORT [-blobs DIR] -referrers=true    (-referrers=false: same server without
#       the API; /v2/<name>/referrers/<digest> answers 404 METHOD_UNKNOWN, like `crane registry serve`)
# Known deviations (tests/common/mod.rs, RegistryKind::Ggcr): its referrers listing reports artifactType
# = the manifest's config.mediaType, ignores ?artifactType=, sends no OCI-Filters-Applied / OCI-Subject,
# copies no annotations into listings, and keeps manifests in memory.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/target/tools/ggcr-registry}")
SRC_PACKAGE=golang-github-google-go-containerregistry-dev

log() { printf 'build-ggcr-registry: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$(dirname "$OUT")"
exec 9>"$OUT.lock"
flock 9

stamp() {
  { cat "$ROOT/scripts/ggcr-registry/main.go" "${BASH_SOURCE[0]}"; } | sha256sum | cut -d' ' -f1
}
want=$(stamp)
if [ -x "$OUT" ] && [ -f "$OUT.stamp" ] && [ "$(head -n1 "$OUT.stamp")" = "$want" ]; then
  exit 0 # cached
fi

command -v go >/dev/null || die "go is missing: run scripts/setup.sh (as root) to install Debian's golang-go"

debian_mirror() {
  # The first Debian archive URI of the machine's apt sources (deb822 or one-line format).
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk 'tolower($1) == "uris:" && $2 ~ /\/debian\/?$/ { print $2; exit }' "$f")
    if [ -n "$uri" ]; then printf '%s\n' "$uri"; return; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                            if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
    if [ -n "$uri" ]; then printf '%s\n' "$uri"; return; fi
  done
}
mirror=$(debian_mirror)
[ -n "$mirror" ] || die "no Debian archive (…/debian) found in /etc/apt/sources.list{,.d/}"

W=$(mktemp -d "${TMPDIR:-/tmp}/referrify-ggcr.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/lists/partial" "$W/gopath/src/reg"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [ -f "$keyring" ]; then
  echo "deb [signed-by=$keyring] $mirror sid main" >"$W/sources.list"
else
  echo "deb $mirror sid main" >"$W/sources.list"
fi
# Check-Valid-Until=false: a mirror's sid Release file can be served past its Valid-Until date
# (seen on this project's machines: 23 days past); its signature is still checked.
O=(-o Dir::Etc::SourceList="$W/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$W/lists" -o APT::Sandbox::User=root
   -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Acquire::Check-Valid-Until=false)
log "fetching $SRC_PACKAGE (sid) from $mirror"
apt-get "${O[@]}" update -qq >"$W/apt.log" 2>&1 || { cat "$W/apt.log" >&2; die "apt-get update for sid failed"; }
# (APT::Sandbox::User=root above: the lists and the download go to a temp dir _apt may not write)
(cd "$W" && apt-get "${O[@]}" download -qq "$SRC_PACKAGE" >>"$W/apt.log" 2>&1) ||
  { cat "$W/apt.log" >&2; die "apt-get download $SRC_PACKAGE failed"; }
deb=$(ls "$W"/"$SRC_PACKAGE"_*.deb)
dpkg-deb -x "$deb" "$W/src"
cp "$ROOT/scripts/ggcr-registry/main.go" "$W/gopath/src/reg/main.go"
log "go build ($(go version | cut -d' ' -f3), $(basename "$deb"))"
(cd "$W/gopath/src/reg" &&
  GO111MODULE=off GOPATH="$W/gopath:$W/src/usr/share/gocode" GOCACHE="$W/gocache" GOFLAGS= \
    go build -trimpath -o "$OUT.tmp" .) || die "go build failed"
mv -f "$OUT.tmp" "$OUT"
printf '%s\n%s\n' "$want" "$(basename "$deb")" >"$OUT.stamp"
log "built $OUT"
