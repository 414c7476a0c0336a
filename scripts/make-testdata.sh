#!/usr/bin/env bash
# (Re)create testdata/ fixtures from the shared fixture store (see testdata/README.md).
#
#   scripts/make-testdata.sh [SHARED_DIR]      SHARED_DIR defaults to ../shared next to the repository
#                                              (or $REFERRIFY_SHARED_DIR)
#
# * fixtures/buildkit-v0.32.2/<name>.tar (oci-archive) -> testdata/buildkit-v0.32.2/<name>/ (OCI layout)
# * fixtures/dockerhub/alpine-latest/ (OCI layout)     -> testdata/dockerhub/alpine-latest/
# Then checks that every blob's SHA-256 equals its file name and that every layout's index.json
# points at a blob that exists.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${1:-${REFERRIFY_SHARED_DIR:-$repo/../shared}}
src_bk=$shared/fixtures/buildkit-v0.32.2
src_hub=$shared/fixtures/dockerhub/alpine-latest
dst=$repo/testdata

die() { printf 'make-testdata: error: %s\n' "$*" >&2; exit 1; }
[ -d "$src_bk" ] || die "$src_bk not found (pass the shared directory as the first argument)"
[ -d "$src_hub" ] || die "$src_hub not found"

# tar name -> sha256 of the archive, as listed in the fixture README
declare -A TARS=(
  [legacy-v1]=cb2bd89c814c0ea79ef06419839b350252e03e5fc3031d1ae2ce208130efdc2d
  [legacy-v02]=70dcfcec2b2bc98ceebd054c4c7d2dfd301924eef29d9c6411a479b232f70ca9
  [ociartifact-v1]=2a8d915e3c9116415b3d20ff3f10748006a461c2034673a993e15910276878c3
  [legacy-multi]=e915f73a6ea50a02c12b363d77889148fd1a1cca40b6377de44b2b6184330135
)

for name in legacy-v1 legacy-v02 ociartifact-v1 legacy-multi; do
  tarball=$src_bk/$name.tar
  got=$(sha256sum "$tarball" | cut -d' ' -f1)
  [ "$got" = "${TARS[$name]}" ] || die "$tarball: sha256 $got, expected ${TARS[$name]}"
  out=$dst/buildkit-v0.32.2/$name
  rm -rf "$out"
  mkdir -p "$out"
  tar -xf "$tarball" -C "$out" --no-same-owner
  chmod -R u+w,a+rX "$out"
done

out=$dst/dockerhub/alpine-latest
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -R "$src_hub" "$out"
chmod -R u+w,a+rX "$out"

# verify
n=0
for layout in "$dst"/buildkit-v0.32.2/* "$dst"/dockerhub/alpine-latest; do
  [ -f "$layout/oci-layout" ] || die "$layout: no oci-layout file"
  [ -f "$layout/index.json" ] || die "$layout: no index.json"
  for blob in "$layout"/blobs/sha256/*; do
    got=$(sha256sum "$blob" | cut -d' ' -f1)
    [ "$got" = "$(basename "$blob")" ] || die "$blob: content sha256 is $got"
    n=$((n + 1))
  done
  for d in $(grep -o '"sha256:[0-9a-f]\{64\}"' "$layout/index.json" | tr -d '"'); do
    [ -f "$layout/blobs/sha256/${d#sha256:}" ] || die "$layout/index.json references missing blob $d"
  done
done
echo "make-testdata: wrote $dst/buildkit-v0.32.2/{legacy-v1,legacy-v02,ociartifact-v1,legacy-multi} and $dst/dockerhub/alpine-latest; $n blobs verified"
