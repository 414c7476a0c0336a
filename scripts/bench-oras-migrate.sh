#!/usr/bin/env bash
# What a user scripts today, with the oras CLI and jq, to turn BuildKit's legacy in-index
# attestations into discoverable OCI 1.1 referrers. The baseline of scripts/bench.sh.
#
#   scripts/bench-oras-migrate.sh REGISTRY PREFIX        e.g. 127.0.0.1:5000 bench
#
# For every repository under PREFIX/ (oras repo ls), every tag (oras repo tags), the index
# (oras manifest fetch); for every entry with vnd.docker.reference.type == attestation-manifest:
# fetch the legacy manifest, build the OCI 1.1 artifact with jq (artifactType
# application/vnd.docker.attestation.manifest.v1+json, the OCI empty config, the same layers,
# subject = the platform manifest's descriptor from the index), and push it by digest with
# `oras manifest push`. oras itself makes it discoverable: through the Referrers API, or, on a
# registry without one (distribution 2.8), by updating the sha256-<hex> referrers tag (oras-go's
# fallback when the PUT response has no OCI-Subject header). The `{}` blob is pushed once per
# repository with `oras blob push`. Sequential, --plain-http everywhere, like a typical user script.
# Prints one summary line; exit 1 if any step failed (the loop carries on).
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 REGISTRY PREFIX" >&2; exit 2; }
REG=$1
PREFIX=${2%/}
ORAS=${ORAS:-oras}
ART_TYPE=application/vnd.docker.attestation.manifest.v1+json
EMPTY_DIGEST=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a

T=$(mktemp -d "${TMPDIR:-/tmp}/oras-migrate.XXXXXX")
trap 'rm -rf "$T"' EXIT
printf '{}' >"$T/empty.json"

repos=0 tags=0 converted=0 failed=0
# `oras repo ls REGISTRY/NAMESPACE` lists the repositories under NAMESPACE/, without the prefix.
mapfile -t REPOS < <("$ORAS" repo ls --plain-http "$REG/$PREFIX")
for r in "${REPOS[@]}"; do
  [ -n "$r" ] || continue
  repo=$PREFIX/$r
  repos=$((repos + 1))
  empty_pushed=false
  mapfile -t TAGS < <("$ORAS" repo tags --plain-http "$REG/$repo")
  for tag in "${TAGS[@]}"; do
    # skip referrers-tag-schema tags (sha256-<hex>) that earlier runs created
    [[ -n "$tag" && "$tag" != sha256-* ]] || continue
    tags=$((tags + 1))
    if ! "$ORAS" manifest fetch --plain-http "$REG/$repo:$tag" >"$T/index.json"; then
      echo "oras-migrate: $repo:$tag: fetch failed" >&2; failed=$((failed + 1)); continue
    fi
    # attestation entry digest <TAB> platform manifest digest
    jq -r '.manifests[]?
      | select(.annotations["vnd.docker.reference.type"] == "attestation-manifest")
      | [.digest, .annotations["vnd.docker.reference.digest"]] | @tsv' "$T/index.json" >"$T/atts.tsv"
    while IFS=$'\t' read -r att subject; do
      [ -n "$att" ] || continue
      if ! "$ORAS" manifest fetch --plain-http "$REG/$repo@$att" >"$T/legacy.json"; then
        echo "oras-migrate: $repo:$tag $att: fetch failed" >&2; failed=$((failed + 1)); continue
      fi
      # already an artifact (BuildKit >= v0.19 with oci-artifact=true): nothing to convert
      if jq -e 'has("subject")' "$T/legacy.json" >/dev/null; then continue; fi
      jq -c --slurpfile idx "$T/index.json" --arg subject "$subject" --arg at "$ART_TYPE" --arg empty "$EMPTY_DIGEST" '
        ($idx[0].manifests[] | select(.digest == $subject) | {mediaType, digest, size}) as $s
        | {schemaVersion: 2,
           mediaType: "application/vnd.oci.image.manifest.v1+json",
           artifactType: $at,
           config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $empty, size: 2, data: "e30="},
           layers: .layers,
           subject: $s}' "$T/legacy.json" >"$T/artifact.json"
      if ! $empty_pushed; then
        "$ORAS" blob push --plain-http "$REG/$repo@$EMPTY_DIGEST" "$T/empty.json" >/dev/null
        empty_pushed=true
      fi
      if "$ORAS" manifest push --plain-http --media-type application/vnd.oci.image.manifest.v1+json \
        "$REG/$repo" "$T/artifact.json" >/dev/null; then
        converted=$((converted + 1))
      else
        echo "oras-migrate: $repo:$tag $att: push failed" >&2; failed=$((failed + 1))
      fi
    done <"$T/atts.tsv"
  done
done
echo "oras-migrate: $repos repositories, $tags tags, $converted attestations converted, $failed failed"
[ "$failed" -eq 0 ]
