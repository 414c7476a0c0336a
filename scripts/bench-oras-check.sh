#!/usr/bin/env bash
# The coverage check a user scripts today with the oras CLI and jq. The baseline of
# scripts/bench.sh for `referrify check`.
#
#   scripts/bench-oras-check.sh REGISTRY PREFIX        e.g. 127.0.0.1:5000 bench
#
# For every repository under PREFIX/, every tag, and every platform manifest in the tag's index
# (entries that are not vnd.docker.reference.type attestations, i.e. not unknown/unknown):
# `oras discover --artifact-type application/vnd.docker.attestation.manifest.v1+json` on the
# platform manifest's digest (the Referrers API, or the sha256-<hex> tag where there is none).
# A platform is covered when at least one attestation referrer is listed.
# Prints the covered/uncovered counts; exit 0 when everything is covered, 3 otherwise, 1 on errors.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 REGISTRY PREFIX" >&2; exit 2; }
REG=$1
PREFIX=${2%/}
ORAS=${ORAS:-oras}
ART_TYPE=application/vnd.docker.attestation.manifest.v1+json

T=$(mktemp -d "${TMPDIR:-/tmp}/oras-check.XXXXXX")
trap 'rm -rf "$T"' EXIT

repos=0 tags=0 platforms=0 covered=0 uncovered=0 errors=0
mapfile -t REPOS < <("$ORAS" repo ls --plain-http "$REG/$PREFIX")
for r in "${REPOS[@]}"; do
  [ -n "$r" ] || continue
  repo=$PREFIX/$r
  repos=$((repos + 1))
  mapfile -t TAGS < <("$ORAS" repo tags --plain-http "$REG/$repo")
  for tag in "${TAGS[@]}"; do
    [[ -n "$tag" && "$tag" != sha256-* ]] || continue
    tags=$((tags + 1))
    mapfile -t PLATS < <("$ORAS" manifest fetch --plain-http "$REG/$repo:$tag" | jq -r '
      if .manifests then .manifests[] else empty end
      | select((.annotations["vnd.docker.reference.type"] // "") == "")
      | select((.platform.os // "") != "unknown")
      | .digest')
    for d in "${PLATS[@]}"; do
      platforms=$((platforms + 1))
      if ! n=$("$ORAS" discover --plain-http --format json --artifact-type "$ART_TYPE" "$REG/$repo@$d" |
        jq '[.manifests[]?] | length'); then
        echo "oras-check: $repo:$tag $d: discover failed" >&2; errors=$((errors + 1)); continue
      fi
      if [ "$n" -gt 0 ]; then covered=$((covered + 1)); else uncovered=$((uncovered + 1)); fi
    done
  done
done
echo "oras-check: $repos repositories, $tags tags, $platforms platforms: $covered covered, $uncovered uncovered, $errors errors"
if [ "$errors" -gt 0 ]; then exit 1; fi
if [ "$uncovered" -gt 0 ]; then exit 3; fi
