//! Fill a registry with many small multi-platform images in BuildKit v0.32's legacy attestation
//! shape, for benchmarks (`scripts/bench.sh`).
//!
//! ```text
//! cargo run --release --example seed_registry -- --registry 127.0.0.1:5000 \
//!     --repos 2000 --tags 2 --platforms 2 [--prefix bench] [-j 32] [--json]
//! ```
//!
//! Repositories `<prefix>/r00001`…, tags `t1`…; each tag is an OCI image index laid out like
//! `testdata/buildkit-v0.32.2/legacy-multi` (Go `json.MarshalIndent` layout, same key order):
//!
//! * one OCI image manifest per platform (linux/amd64, linux/arm64, linux/arm/v7, …): a config
//!   blob and one small layer blob;
//! * after them, per platform, one legacy attestation manifest: config
//!   `application/vnd.oci.image.config.v1+json` (BuildKit's `attestationsConfig`), two
//!   `application/vnd.in-toto+json` layers with `in-toto.io/predicate-type` SPDX and SLSA
//!   provenance v0.2, whose statements name the platform manifest in `subject[].digest.sha256`;
//!   its index entry has `platform: unknown/unknown` and the `vnd.docker.reference.digest` /
//!   `vnd.docker.reference.type: attestation-manifest` annotations.
//!
//! Every blob is under 1 KiB and unique to its image (repository, tag and platform are in the
//! content), and the content is deterministic: two registries seeded with the same arguments hold
//! the same digests. The layer blob is a short text, not a real tarball: nothing in the benchmark
//! unpacks it.
//!
//! Uploads are plain HTTP, `POST` + `PUT …?digest=` with `Content-Type: application/octet-stream`
//! (distribution 2.8 answers `DIGEST_INVALID` to a form content type). `-j` images are pushed at
//! once; each image is pushed in order: blobs, platform manifests, attestation manifests, then the
//! index by tag. Connection errors, `429` and `5xx` are retried with backoff.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const IN_TOTO: &str = "application/vnd.in-toto+json";
const SPDX: &str = "https://spdx.dev/Document";
const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";

/// (architecture, os, variant), in the order BuildKit lists `--platform a,b,c`.
const PLATFORMS: [(&str, &str, Option<&str>); 10] = [
    ("amd64", "linux", None),
    ("arm64", "linux", None),
    ("arm", "linux", Some("v7")),
    ("ppc64le", "linux", None),
    ("s390x", "linux", None),
    ("386", "linux", None),
    ("riscv64", "linux", None),
    ("arm", "linux", Some("v6")),
    ("mips64le", "linux", None),
    ("loong64", "linux", None),
];

/// Seed a registry with legacy BuildKit attestation images.
#[derive(Debug, Parser)]
#[command(name = "seed_registry")]
struct Args {
    /// Registry address, HOST:PORT (plain HTTP).
    #[arg(long)]
    registry: String,
    /// Number of repositories.
    #[arg(long)]
    repos: usize,
    /// Tags per repository.
    #[arg(long)]
    tags: usize,
    /// Platforms per image (1..=10).
    #[arg(long)]
    platforms: usize,
    /// Repository name prefix: `<prefix>/r00001`, ….
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Images pushed at once.
    #[arg(short = 'j', long, default_value_t = 32)]
    jobs: usize,
    /// Print the summary as one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

/// One blob or manifest to push.
struct Item {
    digest: String,
    bytes: Vec<u8>,
}

/// Everything one image (one repository tag) consists of, in push order.
struct Image {
    repo: String,
    tag: String,
    blobs: Vec<Item>,
    /// Platform manifests, then attestation manifests (all OCI image manifests).
    manifests: Vec<Item>,
    index: Vec<u8>,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn item(bytes: Vec<u8>) -> Item {
    Item {
        digest: sha256(&bytes),
        bytes,
    }
}

/// Go `json.MarshalIndent(v, "", "  ")` for values without `<`, `>`, `&` or U+2028/9 (all of ours).
fn indent(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("serialising JSON")
}

fn compact(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialising JSON")
}

fn platform_json(arch: &str, os: &str, variant: Option<&str>) -> Value {
    let mut p = json!({"architecture": arch, "os": os});
    if let Some(v) = variant {
        p["variant"] = json!(v);
    }
    p
}

fn descriptor(media_type: &str, it: &Item) -> Value {
    json!({"mediaType": media_type, "digest": it.digest, "size": it.bytes.len()})
}

fn build_image(prefix: &str, repo_no: usize, tag_no: usize, platforms: usize) -> Image {
    let repo = format!("{prefix}/r{repo_no:05}");
    let tag = format!("t{tag_no}");
    let mut blobs = Vec::new();
    let mut platform_manifests = Vec::new();
    let mut attestation_manifests = Vec::new();
    let mut platform_entries = Vec::new();
    let mut attestation_entries = Vec::new();

    for &(arch, os, variant) in PLATFORMS.iter().take(platforms) {
        let plat = match variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        };
        // --- the platform image: config + one layer
        let layer = item(
            format!(
                "referrify bench layer: {repo}:{tag} {plat}\nhello from {repo}:{tag} ({plat})\n"
            )
            .into_bytes(),
        );
        let mut config = json!({
            "architecture": arch,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Labels": {"bench.image": format!("{repo}:{tag}"), "bench.platform": plat},
                "WorkingDir": "/"
            },
            "created": "2023-11-14T22:13:20Z",
            "history": [{
                "created": "2023-11-14T22:13:20Z",
                "created_by": "COPY hello.txt /hello.txt # buildkit",
                "comment": "buildkit.dockerfile.v0"
            }],
            "os": os,
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]}
        });
        if let Some(v) = variant {
            config["variant"] = json!(v);
        }
        let config = item(compact(&config));
        let manifest = item(indent(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &config),
            "layers": [descriptor(OCI_LAYER, &layer)]
        })));
        let subject_hex = manifest.digest.trim_start_matches("sha256:").to_owned();
        let mut entry = descriptor(OCI_MANIFEST, &manifest);
        entry["platform"] = platform_json(arch, os, variant);
        platform_entries.push(entry);

        // --- the legacy attestation manifest for it
        let purl_platform = plat.replace('/', "%2F");
        let subject = json!([{
            "name": format!("pkg:docker/example.invalid/{repo}@{tag}?platform={purl_platform}"),
            "digest": {"sha256": subject_hex}
        }]);
        let spdx = item(compact(&json!({
            "_type": "https://in-toto.io/Statement/v1",
            "predicateType": SPDX,
            "subject": subject,
            "predicate": {
                "spdxVersion": "SPDX-2.3",
                "dataLicense": "CC0-1.0",
                "SPDXID": "SPDXRef-DOCUMENT",
                "name": "sbom",
                "documentNamespace": format!("https://example.invalid/sbom/{repo}/{tag}/{}", plat.replace('/', "-")),
                "creationInfo": {"creators": ["Tool: referrify-seed-registry"], "created": "2026-01-01T00:00:00Z"},
                "files": [{
                    "fileName": "./hello.txt",
                    "SPDXID": "SPDXRef-File--hello-txt",
                    "checksums": [{"algorithm": "SHA256", "checksumValue": layer.digest.trim_start_matches("sha256:")}],
                    "copyrightText": ""
                }]
            }
        })));
        let slsa = item(compact(&json!({
            "_type": "https://in-toto.io/Statement/v1",
            "predicateType": SLSA_V02,
            "subject": subject,
            "predicate": {
                "builder": {"id": ""},
                "buildType": "https://mobyproject.org/buildkit@v1",
                "materials": [],
                "invocation": {
                    "configSource": {},
                    "parameters": {"frontend": "dockerfile.v0", "locals": [{"name": "context"}, {"name": "dockerfile"}]},
                    "environment": {"platform": plat}
                },
                "metadata": {
                    "buildInvocationID": format!("{repo}:{tag} {plat}"),
                    "completeness": {"parameters": true, "environment": true, "materials": false},
                    "reproducible": false
                }
            }
        })));
        let att_config = item(compact(&json!({
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [spdx.digest, slsa.digest]}
        })));
        let mut spdx_desc = descriptor(IN_TOTO, &spdx);
        spdx_desc["annotations"] = json!({"in-toto.io/predicate-type": SPDX});
        let mut slsa_desc = descriptor(IN_TOTO, &slsa);
        slsa_desc["annotations"] = json!({"in-toto.io/predicate-type": SLSA_V02});
        let attestation = item(indent(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &att_config),
            "layers": [spdx_desc, slsa_desc]
        })));
        let mut att_entry = descriptor(OCI_MANIFEST, &attestation);
        att_entry["annotations"] = json!({
            "vnd.docker.reference.digest": manifest.digest,
            "vnd.docker.reference.type": "attestation-manifest"
        });
        att_entry["platform"] = json!({"architecture": "unknown", "os": "unknown"});
        attestation_entries.push(att_entry);

        blobs.extend([config, layer, att_config, spdx, slsa]);
        platform_manifests.push(manifest);
        attestation_manifests.push(attestation);
    }
    for b in &blobs {
        debug_assert!(b.bytes.len() <= 1024, "blob over 1 KiB: {}", b.bytes.len());
    }
    let mut entries = platform_entries;
    entries.extend(attestation_entries);
    let index = indent(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries
    }));
    platform_manifests.extend(attestation_manifests);
    Image {
        repo,
        tag,
        blobs,
        manifests: platform_manifests,
        index,
    }
}

struct Pusher {
    http: reqwest::Client,
    base: String,
    requests: AtomicU64,
    retries: AtomicU64,
    bytes: AtomicU64,
}

const ATTEMPTS: u32 = 8;

fn backoff(attempt: u32) -> Duration {
    let ms = (50u64 << attempt.min(6)).min(2_000);
    Duration::from_millis(ms + fastrand::u64(0..=ms / 2))
}

fn retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

impl Pusher {
    /// One request; `Err` for transport errors.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self.http.request(method, url);
        if let Some(ct) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if let Some(b) = body {
            self.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
            req = req
                .header(reqwest::header::CONTENT_LENGTH, b.len())
                .body(b.to_vec());
        }
        req.send().await
    }

    /// POST + PUT upload of one blob, retried as a whole.
    async fn push_blob(&self, repo: &str, blob: &Item) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                self.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff(attempt)).await;
            }
            match self.upload_once(repo, blob).await {
                Ok(()) => return Ok(()),
                Err((msg, retry)) => {
                    last = msg;
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(format!("blob {} to {repo}: {last}", blob.digest))
    }

    async fn upload_once(&self, repo: &str, blob: &Item) -> Result<(), (String, bool)> {
        let url = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let resp = self
            .send(reqwest::Method::POST, &url, None, None)
            .await
            .map_err(|e| (format!("POST {url}: {e}"), true))?;
        let status = resp.status();
        if status != reqwest::StatusCode::ACCEPTED {
            let body = resp.text().await.unwrap_or_default();
            return Err((format!("POST {url}: {status} {body}"), retryable(status)));
        }
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| (format!("POST {url}: 202 without Location"), false))?
            .to_owned();
        drop(resp);
        let mut put = if location.starts_with("http://") || location.starts_with("https://") {
            location
        } else {
            format!("{}{location}", self.base)
        };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str("digest=");
        put.push_str(&blob.digest);
        let resp = self
            .send(
                reqwest::Method::PUT,
                &put,
                Some("application/octet-stream"),
                Some(&blob.bytes),
            )
            .await
            .map_err(|e| (format!("PUT {put}: {e}"), true))?;
        let status = resp.status();
        if status != reqwest::StatusCode::CREATED {
            let body = resp.text().await.unwrap_or_default();
            return Err((format!("PUT {put}: {status} {body}"), retryable(status)));
        }
        Ok(())
    }

    async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), String> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                self.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff(attempt)).await;
            }
            match self
                .send(reqwest::Method::PUT, &url, Some(media_type), Some(bytes))
                .await
            {
                Err(e) => last = format!("PUT {url}: {e}"),
                Ok(resp) => {
                    let status = resp.status();
                    if status == reqwest::StatusCode::CREATED {
                        return Ok(());
                    }
                    let body = resp.text().await.unwrap_or_default();
                    last = format!("PUT {url}: {status} {body}");
                    if !retryable(status) {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    async fn push_image(&self, img: &Image) -> Result<(), String> {
        for b in &img.blobs {
            self.push_blob(&img.repo, b).await?;
        }
        for m in &img.manifests {
            self.push_manifest(&img.repo, &m.digest, OCI_MANIFEST, &m.bytes)
                .await?;
        }
        self.push_manifest(&img.repo, &img.tag, OCI_INDEX, &img.index)
            .await
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("seed_registry: error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    if args.platforms == 0 || args.platforms > PLATFORMS.len() {
        return Err(format!("--platforms must be 1..={}", PLATFORMS.len()));
    }
    if args.repos == 0 || args.tags == 0 {
        return Err("--repos and --tags must be at least 1".into());
    }
    let base = if args.registry.starts_with("http://") || args.registry.starts_with("https://") {
        args.registry.trim_end_matches('/').to_owned()
    } else {
        format!("http://{}", args.registry.trim_end_matches('/'))
    };
    let jobs = args.jobs.max(1);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(jobs)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let pusher = Arc::new(Pusher {
        http,
        base,
        requests: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    });
    let total = args.repos * args.tags;
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let prefix: Arc<str> = args.prefix.trim_end_matches('/').into();
    let (tags, platforms) = (args.tags, args.platforms);
    let started = Instant::now();

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..jobs.min(total) {
        let (pusher, next, done, prefix) =
            (pusher.clone(), next.clone(), done.clone(), prefix.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), String>(());
                }
                let img = build_image(&prefix, i / tags + 1, i % tags + 1, platforms);
                pusher
                    .push_image(&img)
                    .await
                    .map_err(|e| format!("{}:{}: {e}", img.repo, img.tag))?;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if total >= 1000 && n % (total / 10) == 0 {
                    eprintln!(
                        "seed_registry: {n}/{total} images, {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        });
    }
    let mut first_error = None;
    while let Some(r) = workers.join_next().await {
        let r = r
            .map_err(|e| format!("worker panicked: {e}"))
            .and_then(|r| r);
        if let Err(e) = r {
            // Stop handing out work; let the others finish their current image.
            next.store(total, Ordering::Relaxed);
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let secs = started.elapsed().as_secs_f64();
    let requests = pusher.requests.load(Ordering::Relaxed);
    let retries = pusher.retries.load(Ordering::Relaxed);
    let bytes = pusher.bytes.load(Ordering::Relaxed);
    let attestations = total * platforms;
    if args.json {
        println!(
            "{}",
            json!({
                "repos": args.repos, "tags": args.tags, "platforms": platforms,
                "images": total, "platformManifests": attestations, "attestations": attestations,
                "blobs": total * platforms * 5, "manifests": total * (2 * platforms + 1),
                "requests": requests, "retries": retries, "bytes": bytes,
                "seconds": (secs * 1000.0).round() / 1000.0, "jobs": jobs
            })
        );
    } else {
        println!(
            "seeded {} repos x {} tags x {platforms} platforms: {total} images, {attestations} legacy attestations, \
             {requests} requests ({retries} retried), {bytes} bytes in {secs:.2} s ({:.0} req/s, -j {jobs})",
            args.repos,
            args.tags,
            requests as f64 / secs.max(1e-9)
        );
    }
    Ok(())
}
