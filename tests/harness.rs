//! Tests of the test harness itself (tests/common): both registries start, fixtures load with
//! their digests preserved, the recording proxy is transparent and records, Basic auth works,
//! oras sees no referrers before referrify runs, and the fixture constants match testdata/.
mod common;

use common::fixtures::{self, AMD64, ARM64, LEGACY_MULTI};
use common::{http_get, http_request, Registry, RegistryKind, MANIFEST_ACCEPT};
use sha2::{Digest as _, Sha256};

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn header<'a>(h: &'a common::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[test]
fn both_registries_start_and_answer_v2() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        assert_eq!(reg.kind, kind);
        assert!(reg.addr.starts_with("127.0.0.1:"), "{reg:?}");
        assert!(reg.backend_addr.starts_with("127.0.0.1:"), "{reg:?}");
        assert_ne!(reg.addr, reg.backend_addr);
        let (status, headers, _) = http_request(&reg.addr, "GET", "/v2/", &[], b"");
        assert_eq!(status, 200, "{kind:?}");
        assert_eq!(
            header(&headers, "docker-distribution-api-version"),
            "registry/2.0",
            "{kind:?}"
        );
    }
}

#[test]
fn referrers_api_only_on_ferro() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let path = format!("/v2/{}/referrers/{AMD64}", common::unique_repo("nothing"));
        let (status, headers, body) =
            http_get(&reg, &path, "application/vnd.oci.image.index.v1+json");
        if kind.has_referrers_api() {
            // unknown repository / digest: 200 + empty index
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            assert!(header(&headers, "content-type")
                .starts_with("application/vnd.oci.image.index.v1+json"));
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["manifests"], serde_json::json!([]));
        } else {
            // distribution 2.8.2: router 404, plain text
            assert_eq!(status, 404);
            assert_eq!(String::from_utf8_lossy(&body).trim(), "404 page not found");
        }
    }
}

#[test]
fn proxy_records_requests_and_is_transparent() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        assert!(
            reg.requests().is_empty(),
            "readiness probes must not be left in the log"
        );

        http_request(&reg.addr, "GET", "/v2/", &[], b"");
        let (s, _, _) = http_request(&reg.addr, "HEAD", "/v2/r/manifests/latest?x=1", &[], b"");
        assert_eq!(s, 404);
        // direct backend access is not recorded
        http_request(&reg.backend_addr, "GET", "/v2/", &[], b"");
        let got: Vec<String> = reg.requests().iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            ["GET /v2/ -> 200", "HEAD /v2/r/manifests/latest?x=1 -> 404"],
            "{kind:?}"
        );
        assert!(reg.write_requests().is_empty());

        // a monolithic blob upload (POST + PUT) through the proxy is recorded as two writes; the
        // upload Location must lead back to the proxy
        let blob = b"hello referrify";
        let digest = sha256(blob);
        let (s, h, body) = http_request(&reg.addr, "POST", "/v2/up/blobs/uploads/", &[], b"");
        assert_eq!(s, 202, "{kind:?}: {}", String::from_utf8_lossy(&body));
        let location = header(&h, "location").to_owned();
        let path = match location.strip_prefix(&format!("http://{}", reg.addr)) {
            Some(p) => p.to_owned(),
            None => {
                assert!(
                    location.starts_with('/'),
                    "{kind:?}: Location {location} bypasses the proxy"
                );
                location.clone()
            }
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let (s, h, body) = http_request(
            &reg.addr,
            "PUT",
            &format!("{path}{sep}digest={digest}"),
            &[("content-type", "application/octet-stream")],
            blob,
        );
        assert_eq!(s, 201, "{kind:?}: {}", String::from_utf8_lossy(&body));
        assert_eq!(header(&h, "docker-content-digest"), digest);
        let writes = reg.write_requests();
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert_eq!((writes[0].method.as_str(), writes[0].status), ("POST", 202));
        assert_eq!((writes[1].method.as_str(), writes[1].status), ("PUT", 201));

        // HEAD keeps Content-Length; GET returns the bytes
        let (s, h, body) = http_request(
            &reg.addr,
            "HEAD",
            &format!("/v2/up/blobs/{digest}"),
            &[],
            b"",
        );
        assert_eq!(s, 200);
        assert!(body.is_empty());
        assert_eq!(
            header(&h, "content-length"),
            blob.len().to_string(),
            "{kind:?}"
        );
        let (s, _, body) = http_request(
            &reg.addr,
            "GET",
            &format!("/v2/up/blobs/{digest}"),
            &[],
            b"",
        );
        assert_eq!((s, body.as_slice()), (200, &blob[..]));

        reg.clear_requests();
        assert!(reg.requests().is_empty());
    }

    // 3xx is passed through, not followed (distribution redirects /v2 to /v2/)
    let reg = Registry::distribution();
    let (s, h, _) = http_request(&reg.addr, "GET", "/v2", &[], b"");
    assert_eq!((s, header(&h, "location")), (301, "/v2/"));
    assert_eq!(reg.requests()[0].status, 301);
}

#[test]
fn legacy_multi_loads_with_digests_preserved() {
    let layout = LEGACY_MULTI.dir();
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let repo = common::unique_repo("seed/app");
        common::load_layout(&reg, &layout, &format!("{repo}:multi"));
        assert!(
            reg.requests().is_empty(),
            "load_layout must bypass the proxy"
        );

        let (s, h, body) = http_get(
            &reg,
            &format!("/v2/{repo}/manifests/multi"),
            MANIFEST_ACCEPT,
        );
        assert_eq!(s, 200, "{kind:?}: {}", String::from_utf8_lossy(&body));
        assert_eq!(
            header(&h, "docker-content-digest"),
            LEGACY_MULTI.index,
            "{kind:?}"
        );
        assert_eq!(sha256(&body), LEGACY_MULTI.index);
        assert_eq!(body, common::layout_blob(&layout, LEGACY_MULTI.index));
        assert_eq!(
            "sha256:85d071c67081b9bf1ebc9ddc5968f26731439c418caf454d96fe989715266ea4",
            LEGACY_MULTI.index
        );

        // every child manifest (platform images and attestation manifests) byte-identical
        let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let children: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["digest"].as_str().unwrap())
            .collect();
        assert_eq!(children.len(), 4);
        assert!(children.contains(&AMD64) && children.contains(&ARM64));
        for (_, att, _) in LEGACY_MULTI.attestations {
            assert!(children.contains(att));
        }
        for d in &children {
            let (s, _, got) = http_get(&reg, &format!("/v2/{repo}/manifests/{d}"), MANIFEST_ACCEPT);
            assert_eq!(s, 200, "{kind:?} {d}");
            assert_eq!(got, common::layout_blob(&layout, d), "{kind:?} {d}");
        }
        // ... and their blobs (configs, layers, in-toto statements)
        for d in &children {
            let m: serde_json::Value =
                serde_json::from_slice(&common::layout_blob(&layout, d)).unwrap();
            let mut blobs = vec![m["config"]["digest"].as_str().unwrap()];
            blobs.extend(
                m["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["digest"].as_str().unwrap()),
            );
            for b in blobs {
                let (s, _, got) = http_get(&reg, &format!("/v2/{repo}/blobs/{b}"), None);
                assert_eq!(s, 200, "{kind:?} blob {b}");
                assert_eq!(sha256(&got), b);
            }
        }

        let tags = common::http_get_json(&reg, &format!("/v2/{repo}/tags/list"), None);
        assert_eq!(tags["tags"], serde_json::json!(["multi"]), "{kind:?}");
    }
}

#[test]
fn all_buildkit_fixtures_load_on_both_registries() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        for fx in fixtures::BUILDKIT {
            let repo = common::unique_repo(fx.name);
            common::load_layout(&reg, &fx.dir(), &format!("{repo}:{}", fx.ref_name));
            let (s, h, body) = http_get(
                &reg,
                &format!("/v2/{repo}/manifests/{}", fx.ref_name),
                MANIFEST_ACCEPT,
            );
            assert_eq!(s, 200, "{kind:?} {}", fx.name);
            assert_eq!(
                header(&h, "docker-content-digest"),
                fx.index,
                "{kind:?} {}",
                fx.name
            );
            assert_eq!(body.len() as u64, fx.index_size);
            for (_, att, size) in fx.attestations {
                let (s, _, body) = http_get(
                    &reg,
                    &format!("/v2/{repo}/manifests/{att}"),
                    MANIFEST_ACCEPT,
                );
                assert_eq!((s, body.len() as u64), (200, *size), "{kind:?} {}", fx.name);
            }
        }
        assert!(reg.write_requests().is_empty());
    }
}

#[test]
fn load_into_a_copied_layout_works() {
    // tests may mutate a private copy of a fixture
    let (_tmp, layout) = common::temp_layout("buildkit-v0.32.2/legacy-v1");
    assert!(layout.join("oci-layout").is_file());
    let reg = Registry::ferro();
    common::load_layout_ref(&reg, &layout, "1", "app:one");
    let (s, h, _) = http_get(&reg, "/v2/app/manifests/one", MANIFEST_ACCEPT);
    assert_eq!(
        (s, header(&h, "docker-content-digest")),
        (200, fixtures::LEGACY_V1.index)
    );
}

#[test]
fn htpasswd_registry_requires_basic_auth() {
    let reg = Registry::distribution_with_htpasswd("alice", "s3cret pass");
    assert_eq!(reg.kind, RegistryKind::Distribution);
    for addr in [&reg.backend_addr, &reg.addr] {
        let (s, h, _) = http_request(addr, "GET", "/v2/", &[], b"");
        assert_eq!(s, 401);
        let challenge = header(&h, "www-authenticate");
        assert!(challenge.starts_with("Basic "), "{challenge}");
        assert!(
            challenge.contains("realm=\"referrify-test\""),
            "{challenge}"
        );

        let good = common::basic_auth("alice", "s3cret pass");
        let (s, _, _) = http_request(addr, "GET", "/v2/", &[("authorization", &good)], b"");
        assert_eq!(s, 200);
        let bad = common::basic_auth("alice", "wrong");
        let (s, _, _) = http_request(addr, "GET", "/v2/", &[("authorization", &bad)], b"");
        assert_eq!(s, 401);
    }
    let got: Vec<u16> = reg.requests().iter().map(|r| r.status).collect();
    assert_eq!(got, [401, 200, 401]);

    // load_layout uses the registry's credentials; http_get too
    common::load_layout(&reg, &LEGACY_MULTI.dir(), "app:multi");
    common::load_layout_with_auth(
        &reg,
        &fixtures::LEGACY_V1.dir(),
        "app:one",
        "alice",
        "s3cret pass",
    );
    let (s, h, _) = http_get(&reg, "/v2/app/manifests/multi", MANIFEST_ACCEPT);
    assert_eq!(
        (s, header(&h, "docker-content-digest")),
        (200, LEGACY_MULTI.index)
    );

    // oras with credentials sees the (still empty) referrers
    let auth = reg.oras_auth_args();
    let mut args: Vec<&str> = auth.iter().map(String::as_str).collect();
    args.extend(["--platform", "linux/amd64"]);
    let v = common::oras_discover(&reg.reference("app:multi"), &args);
    assert!(common::oras_referrer_digests(&v).is_empty(), "{v}");
}

#[test]
fn oras_discover_is_empty_before_conversion() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        common::load_layout(&reg, &LEGACY_MULTI.dir(), "seed/app:multi");
        let v = common::oras_discover(&reg.reference(&format!("seed/app@{AMD64}")), &[]);
        assert_eq!(
            common::oras_referrer_digests(&v),
            Vec::<String>::new(),
            "{kind:?}: {v}"
        );
        // oras 1.2.0 shape
        assert!(v["manifests"].is_array(), "{v}");
        // only reads went through the proxy
        assert!(!reg.requests().is_empty());
        assert!(
            reg.write_requests().is_empty(),
            "{:?}",
            reg.write_requests()
        );
    }
}

#[test]
fn oras_attach_then_discover_on_both_registries() {
    // checks the JSON parsing with a non-empty list, and how each registry stores a referrer
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        common::load_layout(&reg, &LEGACY_MULTI.dir(), "app:multi");
        let subject = reg.reference(&format!("app@{ARM64}"));
        let out = common::oras(&[
            "attach",
            "--plain-http",
            "--artifact-type",
            "application/vnd.example.test",
            "--annotation",
            "k=v",
            "--format",
            "json",
            &subject,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let attached: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let digest = attached["digest"].as_str().unwrap().to_owned();

        let v = common::oras_discover(
            &subject,
            &["--artifact-type", "application/vnd.example.test"],
        );
        assert_eq!(
            common::oras_referrer_digests(&v),
            [digest.as_str()],
            "{kind:?}: {v}"
        );
        let r = &common::oras_referrers(&v)[0];
        assert_eq!(r["artifactType"], "application/vnd.example.test");

        let tags = common::http_get_json(&reg, "/v2/app/tags/list", None);
        let fallback_tag = format!("sha256-{}", ARM64.trim_start_matches("sha256:"));
        let has_tag = tags["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == fallback_tag.as_str());
        // API registry: no fallback tag; tag-schema registry: the tag holds the referrers index
        assert_eq!(has_tag, !kind.has_referrers_api(), "{kind:?}: {tags}");
        assert!(!reg.write_requests().is_empty());
    }
}

#[test]
fn oras_referrer_digests_understands_both_json_shapes() {
    let v12 = serde_json::json!({"manifests": [{"digest": "sha256:aa"}, {"digest": "sha256:bb"}]});
    assert_eq!(
        common::oras_referrer_digests(&v12),
        ["sha256:aa", "sha256:bb"]
    );
    let v13 = serde_json::json!({
        "reference": "r@sha256:00", "digest": "sha256:00",
        "referrers": [{"digest": "sha256:aa", "referrers": [{"digest": "sha256:cc"}]}]
    });
    assert_eq!(common::oras_referrer_digests(&v13), ["sha256:aa"]);
    let v13_empty = serde_json::json!({"reference": "r@sha256:00", "digest": "sha256:00"});
    assert!(common::oras_referrer_digests(&v13_empty).is_empty());
}

#[test]
fn fixture_constants_match_testdata() {
    for fx in fixtures::BUILDKIT {
        let dir = fx.dir();
        let index_json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let top = &index_json["manifests"];
        assert_eq!(top.as_array().unwrap().len(), 1, "{}", fx.name);
        assert_eq!(top[0]["digest"], fx.index, "{}", fx.name);
        assert_eq!(top[0]["size"], fx.index_size, "{}", fx.name);
        assert_eq!(
            top[0]["annotations"]["org.opencontainers.image.ref.name"],
            fx.ref_name
        );

        let index: serde_json::Value =
            serde_json::from_slice(&common::layout_blob(&dir, fx.index)).unwrap();
        let atts: Vec<(String, String, u64)> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
            .map(|d| {
                (
                    d["annotations"]["vnd.docker.reference.digest"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    d["digest"].as_str().unwrap().to_owned(),
                    d["size"].as_u64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, String, u64)> = fx
            .attestations
            .iter()
            .map(|(s, a, n)| (s.to_string(), a.to_string(), *n))
            .collect();
        assert_eq!(atts, want, "{}", fx.name);
        for (_, att, _) in fx.attestations {
            let m: serde_json::Value =
                serde_json::from_slice(&common::layout_blob(&dir, att)).unwrap();
            assert_eq!(m.get("subject").is_none(), fx.legacy, "{}", fx.name);
        }
    }

    // every blob's name is its sha256
    for dir in ["buildkit-v0.32.2", "dockerhub"] {
        let mut stack = vec![common::testdata(dir)];
        let mut n = 0;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.parent().unwrap().ends_with("blobs/sha256") {
                    let name = p.file_name().unwrap().to_str().unwrap();
                    assert_eq!(
                        sha256(&std::fs::read(&p).unwrap()),
                        format!("sha256:{name}")
                    );
                    n += 1;
                }
            }
        }
        assert!(n > 10, "{dir}: only {n} blobs");
    }

    // Docker Hub alpine
    let alpine = common::testdata(fixtures::ALPINE_DIR);
    let index: serde_json::Value =
        serde_json::from_slice(&common::layout_blob(&alpine, fixtures::ALPINE_INDEX)).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 16);
    for (i, (_, platform, att, size)) in fixtures::ALPINE_PLATFORMS.iter().enumerate() {
        assert_eq!(entries[2 * i]["digest"], *platform);
        assert_eq!(entries[2 * i + 1]["digest"], *att);
        assert_eq!(entries[2 * i + 1]["size"], *size);
        assert_eq!(
            entries[2 * i + 1]["annotations"]["vnd.docker.reference.digest"],
            *platform
        );
    }

    // the expected-conversion constants are the README table's
    let readme = std::fs::read_to_string(common::testdata("README.md")).unwrap();
    for e in fixtures::EXPECTED_CONVERSIONS {
        let row = readme
            .lines()
            .find(|l| l.contains(e.referrers_index))
            .unwrap_or_else(|| panic!("{} not in testdata/README.md", e.referrers_index));
        assert!(row.contains(&format!("`{}`", e.fixture)), "{row}");
        assert!(row.contains(&e.subject[7..15]), "{row}");
        if e.fixture != "ociartifact-v1" {
            assert!(
                row.contains(&format!("`{}` ({})", e.converted, e.converted_size)),
                "{row}"
            );
        }
        assert!(
            row.contains(&format!("({})", e.referrers_index_size)),
            "{row}"
        );
    }
}
