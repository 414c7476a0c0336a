#!/usr/bin/env python3
"""statement-layout.py DIR SIZE_MIB [--images N] - writes an OCI layout for the statement-memory
benchmark (scripts/bench-scale.sh): N images tagged i1..iN, each a Docker manifest list of one
linux/amd64 manifest and one legacy attestation manifest whose single in-toto statement (no
predicate-type annotation, so it must be read) is SIZE_MIB MiB and names the platform manifest.
The same shape as tests/limits.rs builds. stdlib only.
"""
import argparse, hashlib, json, os

ap = argparse.ArgumentParser()
ap.add_argument("dir"); ap.add_argument("size_mib", type=float); ap.add_argument("--images", type=int, default=1)
a = ap.parse_args()
blobs = os.path.join(a.dir, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
with open(os.path.join(a.dir, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')

def put(b: bytes):
    d = hashlib.sha256(b).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(b)
    return "sha256:" + d, len(b)

DM = "application/vnd.docker.distribution.manifest.v2+json"
DL = "application/vnd.docker.distribution.manifest.list.v2+json"
DC = "application/vnd.docker.container.image.v1+json"
entries = []
size = int(a.size_mib * 1024 * 1024)
for i in range(1, a.images + 1):
    cfg, cfg_n = put(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                                 "config": {"Labels": {"image": str(i)}}}).encode())
    pm, pm_n = put(json.dumps({"schemaVersion": 2, "mediaType": DM, "config": {"mediaType": DC, "digest": cfg, "size": cfg_n},
                               "layers": []}).encode())
    head = ('{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document",'
            '"subject":[{"name":"x","digest":{"sha256":"%s"}}],"predicate":{"pad":"' % pm[7:]).encode()
    st = head + b"a" * max(0, size - len(head) - 3) + b'"}}'
    sd, sn = put(st)
    del st
    acfg, acfg_n = put(b'{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}')
    am, am_n = put(json.dumps({"schemaVersion": 2, "mediaType": DM, "config": {"mediaType": DC, "digest": acfg, "size": acfg_n},
                               "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": sd, "size": sn}]}).encode())
    idx, idx_n = put(json.dumps({"schemaVersion": 2, "mediaType": DL, "manifests": [
        {"mediaType": DM, "digest": pm, "size": pm_n, "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": DM, "digest": am, "size": am_n, "platform": {"architecture": "unknown", "os": "unknown"},
         "annotations": {"vnd.docker.reference.digest": pm, "vnd.docker.reference.type": "attestation-manifest"}}]}).encode())
    entries.append({"mediaType": DL, "digest": idx, "size": idx_n, "annotations": {"org.opencontainers.image.ref.name": f"i{i}"}})
with open(os.path.join(a.dir, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": entries}, f)
