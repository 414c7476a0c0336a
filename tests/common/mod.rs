//! Test harness for referrify's integration tests: real registries on 127.0.0.1, each behind a
//! recording proxy, plus helpers around skopeo, oras and the fixtures in `testdata/`.
//!
//! Use it from a test file with `mod common;`. Everything is synchronous: servers run on
//! background threads (their own tokio runtime / child process) and stop when the [`Registry`]
//! is dropped. Needed tools (installed by `scripts/setup.sh`): `docker-registry` (Debian
//! bookworm 2.8.2), `skopeo`, `oras` (1.2.0), `htpasswd`; for the servers in [`servers`]:
//! go-containerregistry's registry (`target/tools/ggcr-registry`, built by
//! `scripts/build-ggcr-registry.sh`), `openssl` and python3 with `cryptography`. A missing tool is
//! a panic, never a skip. Override tool paths with `REFERRIFY_DOCKER_REGISTRY`,
//! `REFERRIFY_SKOPEO`, `REFERRIFY_ORAS`, `REFERRIFY_HTPASSWD`, `REFERRIFY_GGCR_REGISTRY`,
//! `REFERRIFY_OPENSSL`, `REFERRIFY_PYTHON3`.
//!
//! ```ignore
//! let reg = common::Registry::ferro();                 // or Registry::distribution()
//! common::load_layout(&reg, &common::testdata("buildkit-v0.32.2/legacy-multi"), "app:multi");
//! // run referrify against reg.addr (the proxy) …
//! assert!(reg.write_requests().is_empty());            // e.g. a dry run wrote nothing
//! let v = common::oras_discover(&format!("{}/app@{}", reg.addr, fixtures::AMD64), &[]);
//! ```
#![allow(dead_code)]

pub mod browser;
pub mod cli;
pub mod fault_proxy;
pub mod fixtures;
mod http;
mod proxy;
pub mod quirk_proxy;
mod servers;

pub use axum::http::HeaderMap;
pub use http::{basic_auth, http_request, try_http_request};
pub use proxy::RecordedRequest;
#[allow(unused_imports)]
pub use servers::{TokenRequest, TOKEN_PASSWORD, TOKEN_REFRESH_TOKEN, TOKEN_USER};

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Which server is behind a [`Registry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistryKind {
    /// Debian's `docker-registry` 2.8.2 (CNCF distribution): NO Referrers API, so clients use the
    /// `sha256-<hex>` tag schema. `GET /v2/<name>/referrers/<digest>` is a router 404.
    Distribution,
    /// ferro-oci-server 1.0.0 in-process: full OCI 1.1 Referrers API (in-memory storage).
    Ferro,
    /// go-containerregistry's `pkg/registry` (0.20.7, Debian's source) WITH the Referrers API, in
    /// memory. Deviations: its listing reports `artifactType` = the manifest's `config.mediaType`
    /// (our attestation artifacts show as `application/vnd.oci.empty.v1+json`), `?artifactType=`
    /// is ignored, no `OCI-Filters-Applied` / `OCI-Subject`, no annotations in the listing.
    Ggcr,
    /// The same server with `-referrers=false`, like `crane registry serve`: `/referrers/` answers
    /// 404 `METHOD_UNKNOWN`, so clients use the tag schema.
    GgcrNoApi,
    /// Debian's `docker-registry` 2.8.2 with `auth: token` (how Docker Hub, GHCR, Quay and Harbor
    /// authenticate): bearer tokens from `tests/support/token-issuer.py` on its own port, for
    /// `alice:s3cret` (anonymous callers get `pull` only). No Referrers API.
    DistributionToken,
}

impl RegistryKind {
    /// The two registries the request-count tests pin numbers for.
    pub const ALL: [RegistryKind; 2] = [RegistryKind::Distribution, RegistryKind::Ferro];

    /// Every kind the harness can start.
    pub const EVERY: [RegistryKind; 5] = [
        RegistryKind::Distribution,
        RegistryKind::Ferro,
        RegistryKind::Ggcr,
        RegistryKind::GgcrNoApi,
        RegistryKind::DistributionToken,
    ];

    pub fn has_referrers_api(self) -> bool {
        matches!(self, RegistryKind::Ferro | RegistryKind::Ggcr)
    }

    /// Whether its Referrers API reports a manifest's own `artifactType` (false on ggcr, which
    /// reports `config.mediaType`, so `oras discover --artifact-type …` finds nothing there).
    pub fn lists_artifact_type(self) -> bool {
        self != RegistryKind::Ggcr
    }
}

/// A running registry behind a recording proxy. Dropping it stops both.
pub struct Registry {
    /// `127.0.0.1:PORT` of the recording proxy: give THIS to the code under test.
    pub addr: String,
    /// `127.0.0.1:PORT` of the real server (not recorded); for setup and inspection.
    pub backend_addr: String,
    pub kind: RegistryKind,
    /// `(user, password)` when the registry requires auth: HTTP Basic, or (with a token issuer)
    /// the account the issuer knows.
    pub credentials: Option<(String, String)>,
    log: proxy::RequestLog,
    delay: proxy::Delay,
    child: Option<Child>,
    runtime: Option<tokio::runtime::Runtime>,
    /// The token endpoint of a [`RegistryKind::DistributionToken`] registry.
    issuer: Option<servers::TokenIssuer>,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Start a registry of the given kind (no auth).
    pub fn start(kind: RegistryKind) -> Registry {
        match kind {
            RegistryKind::Distribution => Registry::distribution(),
            RegistryKind::Ferro => Registry::ferro(),
            RegistryKind::Ggcr => Registry::ggcr(),
            RegistryKind::GgcrNoApi => Registry::ggcr_without_referrers_api(),
            RegistryKind::DistributionToken => Registry::distribution_token(),
        }
    }

    /// Debian `docker-registry` (distribution 2.8.2), filesystem storage in a fresh temp dir,
    /// deletes enabled, no auth, no Referrers API.
    pub fn distribution() -> Registry {
        let dir = tempdir("distribution");
        Registry::spawn_distribution(RegistryKind::Distribution, dir, String::new(), None)
    }

    /// [`Registry::distribution`] with `extra` appended to its config (e.g. a `notifications:`
    /// section, test-registries.md §4.9).
    pub fn distribution_with_config(extra: &str) -> Registry {
        let dir = tempdir("distribution");
        Registry::spawn_distribution(RegistryKind::Distribution, dir, extra.to_string(), None)
    }

    /// Like [`Registry::distribution`] with `auth: htpasswd` (bcrypt): anonymous requests get
    /// `401` + `WWW-Authenticate: Basic realm="referrify-test"`.
    pub fn distribution_with_htpasswd(user: &str, pass: &str) -> Registry {
        let dir = tempdir("distribution");
        let htpasswd = tool("htpasswd", "REFERRIFY_HTPASSWD");
        let out = Command::new(&htpasswd)
            .args(["-B", "-b", "-n", user, pass])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", htpasswd.display()));
        assert!(
            out.status.success(),
            "htpasswd -Bbn failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = dir.path().join("htpasswd");
        fs::write(&file, &out.stdout).expect("writing htpasswd");
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: referrify-test\n    path: {}\n",
            file.display()
        );
        let credentials = Some((user.to_owned(), pass.to_owned()));
        Registry::spawn_distribution(RegistryKind::Distribution, dir, auth, credentials)
    }

    /// ferro-oci-server 1.0.0 embedded in-process (in-memory storage), full Referrers API.
    pub fn ferro() -> Registry {
        let dir = tempdir("ferro");
        let runtime = new_runtime();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        listener.set_nonblocking(true).expect("set_nonblocking");
        let backend_addr = listener.local_addr().expect("local_addr").to_string();
        let store = Arc::new(ferro_blob_store::InMemoryBlobStore::new());
        let app = ferro_oci_server::build_app(store);
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, app)
                .await
                .expect("ferro-oci-server failed");
        });
        // with_proxy_on waits until /v2/ answers through the proxy
        Registry::with_proxy_on(RegistryKind::Ferro, backend_addr, None, None, runtime, dir)
    }

    /// Starts `docker-registry` with `auth` (a YAML `auth:` section, or empty) in `dir`.
    fn spawn_distribution(
        kind: RegistryKind,
        dir: tempfile::TempDir,
        auth: String,
        credentials: Option<(String, String)>,
    ) -> Registry {
        let bin = tool("docker-registry", "REFERRIFY_DOCKER_REGISTRY");
        let data = dir.path().join("data");
        fs::create_dir_all(&data).expect("creating the storage dir");
        let config_path = dir.path().join("config.yml");
        let child = spawn_on_free_port("docker-registry", dir.path(), |backend_addr| {
            // NB: distribution does not expand environment variables in its config.
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  formatter: text\n\
                 storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: {backend_addr}\n  secret: referrify-test-secret\n\
                 {auth}",
                data = data.display(),
            );
            fs::write(&config_path, config).expect("writing config.yml");
            let mut cmd = Command::new(&bin);
            cmd.arg("serve").arg(&config_path);
            // The config file must be the only configuration (distribution reads REGISTRY_* env).
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("REGISTRY_") {
                    cmd.env_remove(k);
                }
            }
            cmd
        });
        Registry::with_proxy(kind, child.1, credentials, Some(child.0), dir)
    }

    /// Start the recording proxy in front of `backend_addr`.
    fn with_proxy(
        kind: RegistryKind,
        backend_addr: String,
        credentials: Option<(String, String)>,
        child: Option<Child>,
        dir: tempfile::TempDir,
    ) -> Registry {
        Registry::with_proxy_on(kind, backend_addr, credentials, child, new_runtime(), dir)
    }

    fn with_proxy_on(
        kind: RegistryKind,
        backend_addr: String,
        credentials: Option<(String, String)>,
        child: Option<Child>,
        runtime: tokio::runtime::Runtime,
        dir: tempfile::TempDir,
    ) -> Registry {
        let log = proxy::RequestLog::default();
        let delay = proxy::Delay::default();
        let addr = proxy::start(&runtime, backend_addr.clone(), log.clone(), delay.clone());
        let reg = Registry {
            addr,
            backend_addr,
            kind,
            credentials,
            log,
            delay,
            child,
            runtime: Some(runtime),
            issuer: None,
            dir,
        };
        // The proxy listener is bound already; this only makes sure its task is serving.
        wait_ready(&reg.addr, None).unwrap_or_else(|e| panic!("recording proxy not ready: {e}"));
        reg.clear_requests();
        reg
    }

    /// `http://<addr>` (the proxy).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `<addr>/<rest>`, e.g. `reg.reference("app@sha256:…")` for oras / referrify arguments.
    pub fn reference(&self, rest: &str) -> String {
        format!("{}/{}", self.addr, rest)
    }

    /// Every request that went through the proxy so far, in completion order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Make the proxy wait `ms` milliseconds before forwarding each request (a far registry).
    pub fn set_delay(&self, ms: u64) {
        self.delay.store(ms, Ordering::Relaxed);
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Recorded POST / PUT / PATCH / DELETE requests.
    pub fn write_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_write)
            .collect()
    }

    /// The registry process's log (empty for ferro, which runs in-process).
    pub fn server_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Temp dir holding this registry's config, storage and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `["-u", user, "-p", pass]` for oras when the registry needs auth, else empty.
    pub fn oras_auth_args(&self) -> Vec<String> {
        match &self.credentials {
            Some((u, p)) => vec!["-u".into(), u.clone(), "-p".into(), p.clone()],
            None => Vec::new(),
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("kind", &self.kind)
            .field("addr", &self.addr)
            .field("backend_addr", &self.backend_addr)
            .finish_non_exhaustive()
    }
}

fn new_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("test-registry")
        .enable_all()
        .build()
        .expect("building the registry runtime")
}

fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("referrify-{prefix}-"))
        .tempdir()
        .expect("creating a temp dir")
}

/// A port that was free a moment ago (the caller retries if it is taken before use).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// Starts a registry process on a free 127.0.0.1 port and waits until `/v2/` answers.
/// `command(addr)` builds its command line for `addr` (and may write config files); stdout and
/// stderr go to `<dir>/registry.log`. When another process takes the port between our probe and
/// the server's bind, it starts again on another port. Returns the child and its address.
fn spawn_on_free_port(
    name: &str,
    dir: &Path,
    mut command: impl FnMut(&str) -> Command,
) -> (Child, String) {
    let log_path = dir.join("registry.log");
    let mut last_error = String::new();
    for _attempt in 0..10 {
        let backend_addr = format!("127.0.0.1:{}", free_port());
        let log = fs::File::create(&log_path).expect("creating registry.log");
        let mut cmd = command(&backend_addr);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        match wait_ready(&backend_addr, Some(&mut child)) {
            Ok(()) => return (child, backend_addr),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                if log.contains("address already in use") {
                    last_error = format!("{e}\n{log}");
                    continue; // someone took the port between our probe and the bind
                }
                panic!("{name} did not start: {e}\n--- registry.log ---\n{log}");
            }
        }
    }
    panic!("{name} could not bind a free port in 10 attempts: {last_error}");
}

/// Poll `GET /v2/` until it answers 200 or 401. With `child`, fail as soon as it exits.
fn wait_ready(addr: &str, mut child: Option<&mut Child>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last;
    loop {
        if let Some(c) = child.as_deref_mut() {
            if let Some(status) = c.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("exited with {status} before answering /v2/"));
            }
        }
        match try_http_request(addr, "GET", "/v2/", &[], b"") {
            Ok((200 | 401, _, _)) => {
                // A process that failed to bind exits within milliseconds; make sure the answer
                // did not come from someone else's server on a recycled port.
                if let Some(c) = child.as_deref_mut() {
                    std::thread::sleep(Duration::from_millis(20));
                    if let Some(status) = c.try_wait().map_err(|e| e.to_string())? {
                        return Err(format!("exited with {status} right after start"));
                    }
                }
                return Ok(());
            }
            Ok((status, _, body)) => {
                last = format!("GET /v2/ -> {status} {}", String::from_utf8_lossy(&body));
            }
            Err(e) => last = e,
        }
        if Instant::now() > deadline {
            return Err(format!("not ready after 30 s: {last}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ------------------------------------------------------------------------------------------------
// tools

/// Absolute path of an external tool: `$env_var` if set, else the first match on `PATH`.
/// Panics with a pointer to `scripts/setup.sh` when it is missing.
pub fn tool(name: &str, env_var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            is_executable(&p),
            "${env_var}={} is not an executable file; unset it or run scripts/setup.sh",
            p.display()
        );
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for d in std::env::split_paths(&path) {
        let p = d.join(name);
        if is_executable(&p) {
            return p;
        }
    }
    panic!(
        "required tool `{name}` not found on PATH (or via ${env_var}); \
         run scripts/setup.sh (as root) to install the test tools"
    );
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn run(program: &Path, args: &[&OsStr]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

fn describe(program: &Path, args: &[&OsStr], out: &Output) -> String {
    let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
    format!(
        "{} {} failed ({})\n--- stderr ---\n{}\n--- stdout ---\n{}",
        program.display(),
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    )
}

// ------------------------------------------------------------------------------------------------
// skopeo

/// Copy an OCI image layout (whose `index.json` holds exactly one descriptor, like every fixture
/// in `testdata/`) into `reg` as `target` (`repo:tag`), with all manifests of the index and
/// digests preserved. Goes to the backend address, so the proxy log is untouched. Uses the
/// registry's credentials when it has some. Panics with skopeo's stderr on failure.
pub fn load_layout(reg: &Registry, layout_dir: &Path, target: &str) {
    let creds = reg
        .credentials
        .as_ref()
        .map(|(u, p)| (u.as_str(), p.as_str()));
    skopeo_copy_layout(&reg.backend_addr, layout_dir, None, target, creds);
}

/// [`load_layout`] with explicit `--dest-creds user:pass`.
pub fn load_layout_with_auth(
    reg: &Registry,
    layout_dir: &Path,
    target: &str,
    user: &str,
    pass: &str,
) {
    skopeo_copy_layout(
        &reg.backend_addr,
        layout_dir,
        None,
        target,
        Some((user, pass)),
    );
}

/// [`load_layout`] for a layout with several `index.json` descriptors: picks the one annotated
/// `org.opencontainers.image.ref.name: <ref_name>`.
pub fn load_layout_ref(reg: &Registry, layout_dir: &Path, ref_name: &str, target: &str) {
    let creds = reg
        .credentials
        .as_ref()
        .map(|(u, p)| (u.as_str(), p.as_str()));
    skopeo_copy_layout(&reg.backend_addr, layout_dir, Some(ref_name), target, creds);
}

/// `skopeo copy --all --preserve-digests oci:<dir>[:<ref>] docker://<addr>/<target>`.
///
/// skopeo's `oci:` transport selects the image by `org.opencontainers.image.ref.name`; with no
/// ref it takes the only descriptor of `index.json` (and refuses if there are several).
pub fn skopeo_copy_layout(
    addr: &str,
    layout_dir: &Path,
    ref_name: Option<&str>,
    target: &str,
    creds: Option<(&str, &str)>,
) {
    let skopeo = tool("skopeo", "REFERRIFY_SKOPEO");
    let dir = layout_dir
        .canonicalize()
        .unwrap_or_else(|e| panic!("layout {}: {e}", layout_dir.display()));
    assert!(
        dir.join("index.json").is_file(),
        "{} is not an OCI layout (no index.json)",
        dir.display()
    );
    let dir_s = dir.to_str().expect("utf-8 layout path");
    assert!(
        !dir_s.contains(':'),
        "skopeo's oci: transport cannot take a path with ':': {dir_s}"
    );
    let src = match ref_name {
        Some(r) => format!("oci:{dir_s}:{r}"),
        None => format!("oci:{dir_s}"),
    };
    let dest = format!("docker://{addr}/{target}");
    let creds_s = creds.map(|(u, p)| format!("{u}:{p}"));
    let mut args: Vec<&OsStr> = [
        "--insecure-policy",
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    if let Some(c) = &creds_s {
        args.push(OsStr::new("--dest-creds"));
        args.push(OsStr::new(c));
    }
    args.push(OsStr::new(&src));
    args.push(OsStr::new(&dest));
    let out = run(&skopeo, &args);
    assert!(out.status.success(), "{}", describe(&skopeo, &args, &out));
}

// ------------------------------------------------------------------------------------------------
// oras

/// Pushes `bytes` as a blob of `repo_ref` with `oras blob push` (through a file in `dir`);
/// returns its descriptor with `media_type`.
pub fn oras_push_blob(repo_ref: &str, dir: &Path, media_type: &str, bytes: &[u8]) -> Value {
    let path = dir.join("blob");
    fs::write(&path, bytes).unwrap();
    let out = oras(&[
        "blob",
        "push",
        "--plain-http",
        repo_ref,
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", cli::explain(&out));
    serde_json::json!({"mediaType": media_type, "digest": sha256_digest(bytes), "size": bytes.len()})
}

/// Run `oras <args>` (binary from `$REFERRIFY_ORAS` or PATH) and return its raw output.
pub fn oras(args: &[&str]) -> Output {
    let oras = tool("oras", "REFERRIFY_ORAS");
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    run(&oras, &args)
}

/// `oras discover --plain-http --format json <extra_args> <reference>` parsed as JSON; panics
/// with oras's stderr on failure. `reference` is `host:port/repo@sha256:…` (or `:tag`).
///
/// Shape with oras 1.2.0 (the version setup.sh installs):
/// `{"manifests":[{"reference","mediaType","digest","size","annotations"?,"artifactType"}]}`;
/// oras 1.3.x nests instead: `{"reference",…,"referrers":[{…,"referrers":[…]}]}`. Use
/// [`oras_referrer_digests`] / [`oras_referrers`] to read either.
pub fn oras_discover(reference: &str, extra_args: &[&str]) -> Value {
    let mut args = vec!["discover", "--plain-http", "--format", "json"];
    args.extend_from_slice(extra_args);
    args.push(reference);
    let out = oras(&args);
    let oras_path = tool("oras", "REFERRIFY_ORAS");
    let os_args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    assert!(
        out.status.success(),
        "{}",
        describe(&oras_path, &os_args, &out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "oras discover printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The direct referrers listed by `oras discover --format json` (oras 1.2.0 `manifests`, or
/// oras 1.3.x top-level `referrers`), as descriptor objects.
pub fn oras_referrers(v: &Value) -> Vec<Value> {
    for key in ["manifests", "referrers"] {
        match v.get(key) {
            Some(Value::Array(a)) => return a.clone(),
            Some(Value::Null) => return Vec::new(),
            _ => {}
        }
    }
    if v.get("digest").is_some() {
        return Vec::new(); // 1.3.x with no referrers omits the array
    }
    panic!("unrecognised `oras discover` JSON: {v}");
}

/// Digests of the direct referrers in `oras discover --format json` output.
pub fn oras_referrer_digests(v: &Value) -> Vec<String> {
    oras_referrers(v)
        .iter()
        .map(|d| {
            d.get("digest")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("referrer without digest: {d}"))
                .to_owned()
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// direct HTTP

/// `GET <path>` on the registry's BACKEND address (not recorded by the proxy), with the given
/// `Accept` (`None`: no Accept header at all) and the registry's credentials if it has some
/// (see [`registry_request`]). Returns `(status, headers, body)`. E.g. `/v2/<repo>/tags/list`,
/// `/v2/<repo>/manifests/sha256-<hex>`, `/v2/<repo>/referrers/<digest>`.
pub fn http_get<'a>(
    reg: &Registry,
    path: &str,
    accept: impl Into<Option<&'a str>>,
) -> (u16, HeaderMap, Vec<u8>) {
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = accept.into() {
        headers.push(("accept", a));
    }
    registry_request(reg, "GET", path, &headers, b"")
}

/// A request to the registry's BACKEND address (not recorded by the proxy) with its
/// credentials: HTTP Basic when it has a password; on a token-auth registry, a `401` bearer
/// challenge is answered with a token from its issuer for exactly the scopes the challenge names
/// (for a cross-repository mount: both repositories), and the request sent again. These token
/// requests show in [`Registry::token_requests`]: clear them before counting referrify's.
pub fn registry_request(
    reg: &Registry,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, HeaderMap, Vec<u8>) {
    let basic = match (&reg.credentials, &reg.issuer) {
        (Some((u, p)), None) => Some(basic_auth(u, p)),
        _ => None,
    };
    let with = |auth: Option<&str>| {
        let mut h = headers.to_vec();
        if let Some(a) = auth {
            h.push(("authorization", a));
        }
        http_request(&reg.backend_addr, method, path_and_query, &h, body)
    };
    let first = with(basic.as_deref());
    if first.0 != 401 {
        return first;
    }
    let challenge = first
        .1
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match reg.bearer_for(&challenge) {
        Some(bearer) => with(Some(&bearer)),
        None => first,
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
    )
}

/// The digest of the manifest a tag or digest resolves to in `repo` (its bytes hashed), if any.
pub fn manifest_digest(reg: &Registry, repo: &str, reference: &str) -> Option<String> {
    let (status, _, body) = http_get(
        reg,
        &format!("/v2/{repo}/manifests/{reference}"),
        MANIFEST_ACCEPT,
    );
    (status == 200).then(|| sha256_digest(&body))
}

/// [`http_get`] and parse the body as JSON (panics unless the status is 200).
pub fn http_get_json<'a>(reg: &Registry, path: &str, accept: impl Into<Option<&'a str>>) -> Value {
    let (status, _, body) = http_get(reg, path, accept);
    assert_eq!(
        status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "GET {path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    })
}

/// Accept header listing every manifest media type (OCI and Docker, image and index).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

// ------------------------------------------------------------------------------------------------
// files

/// `<crate>/testdata/<path>`.
pub fn testdata(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(path)
}

/// Recursively copy `src` into `dst` (created if needed); copies are writable.
pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap_or_else(|e| panic!("mkdir {}: {e}", dst.display()));
    for entry in fs::read_dir(src).unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display())) {
        let entry = entry.expect("dir entry");
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ty = entry.file_type().expect("file type");
        if ty.is_dir() {
            copy_dir(&from, &to);
        } else {
            fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
            let mut perm = fs::metadata(&to).expect("metadata").permissions();
            perm.set_mode(perm.mode() | 0o200);
            fs::set_permissions(&to, perm).expect("chmod");
        }
    }
}

/// Copy a fixture layout (path relative to `testdata/`) into a fresh temp dir; returns the
/// temp dir (keep it alive) and the layout path inside it.
pub fn temp_layout(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempdir("layout");
    let dst = tmp
        .path()
        .join(Path::new(fixture).file_name().expect("fixture name"));
    copy_dir(&testdata(fixture), &dst);
    (tmp, dst)
}

/// Bytes of blob `sha256:<hex>` in an OCI layout.
pub fn layout_blob(layout_dir: &Path, digest: &str) -> Vec<u8> {
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    let p = layout_dir.join("blobs/sha256").join(hex);
    fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A repository name unique per call (and per process): `<prefix>-<pid>-<n>`.
pub fn unique_repo(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

// ------------------------------------------------------------------------------------------------
// synthetic fixtures

/// Writes `bytes` as a blob of `dir` and returns its descriptor values `(digest, size)`.
pub fn put_blob(dir: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = sha256_digest(bytes);
    std::fs::write(dir.join("blobs/sha256").join(&digest[7..]), bytes).unwrap();
    (digest, bytes.len())
}

/// A Docker-media-type image (buildx 0.10 with the docker driver): a manifest list whose
/// attestation manifest's in-toto layers carry no predicate-type annotation. The statements are
/// the golden vectors, whose subject is another digest, so `check` must flag them.
pub fn docker_vintage_layout() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("docker");
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let golden = |n: &str| std::fs::read(testdata(&format!("golden/{n}"))).unwrap();
    let (cfg, cfg_size) = put_blob(
        &dir,
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let platform = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cfg, "size": cfg_size}, "layers": []});
    let (pm, pm_size) = put_blob(&dir, &serde_json::to_vec_pretty(&platform).unwrap());
    let (a, a_size) = put_blob(&dir, &golden("layer-a.json"));
    let (b, b_size) = put_blob(&dir, &golden("layer-b.json"));
    let (acfg, acfg_size) = put_blob(&dir, &golden("legacy-config.json"));
    let att = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": acfg, "size": acfg_size},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": a, "size": a_size},
                   {"mediaType": "application/vnd.in-toto+json", "digest": b, "size": b_size}]});
    let (am, am_size) = put_blob(&dir, &serde_json::to_vec_pretty(&att).unwrap());
    let list = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": [
        {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": pm, "size": pm_size, "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": am, "size": am_size,
         "annotations": {"vnd.docker.reference.digest": pm, "vnd.docker.reference.type": "attestation-manifest"},
         "platform": {"architecture": "unknown", "os": "unknown"}}]});
    let (idx, idx_size) = put_blob(&dir, &serde_json::to_vec_pretty(&list).unwrap());
    let index_json = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "digest": idx, "size": idx_size, "annotations": {"org.opencontainers.image.ref.name": "docker"}}]});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index_json).unwrap(),
    )
    .unwrap();
    (tmp, dir, pm)
}

/// Sends a blob into the upload session a `202` answer opened (its `Location`), in one `PUT`.
pub fn finish_upload(reg: &Registry, session: &HeaderMap, digest: &str, body: &[u8]) {
    let loc = session
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let path = match loc.find("/v2/") {
        Some(i) => loc[i..].to_string(),
        None => loc,
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let (st, _, b) = registry_request(
        reg,
        "PUT",
        &format!("{path}{sep}digest={digest}"),
        &[("content-type", "application/octet-stream")],
        body,
    );
    assert_eq!(
        st,
        201,
        "PUT blob {digest}: {}",
        String::from_utf8_lossy(&b)
    );
}

/// Pushes an OCI layout's image with plain registry API calls (with the registry's credentials,
/// see [`registry_request`]): every blob, then every manifest the top index lists, then the
/// index under `tag`. For content skopeo refuses to copy (Docker schema 2 manifests with in-toto
/// layers, as buildx 0.10 wrote them).
pub fn push_layout_raw(reg: &Registry, layout_dir: &Path, repo: &str, tag: &str) {
    for e in fs::read_dir(layout_dir.join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let digest = format!("sha256:{}", p.file_name().unwrap().to_str().unwrap());
        let (st, h, _) =
            registry_request(reg, "POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
        assert_eq!(st, 202, "POST upload");
        finish_upload(reg, &h, &digest, &fs::read(&p).unwrap());
    }
    let index_json: Value =
        serde_json::from_slice(&fs::read(layout_dir.join("index.json")).unwrap()).unwrap();
    let top = index_json["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let top_bytes = layout_blob(layout_dir, &top);
    let top_v: Value = serde_json::from_slice(&top_bytes).unwrap();
    for m in top_v["manifests"].as_array().unwrap() {
        let d = m["digest"].as_str().unwrap();
        let bytes = layout_blob(layout_dir, d);
        let mt = m["mediaType"].as_str().unwrap();
        let (st, _, b) = registry_request(
            reg,
            "PUT",
            &format!("/v2/{repo}/manifests/{d}"),
            &[("content-type", mt)],
            &bytes,
        );
        assert_eq!(st, 201, "PUT manifest {d}: {}", String::from_utf8_lossy(&b));
    }
    let mt = top_v["mediaType"].as_str().unwrap();
    let (st, _, b) = registry_request(
        reg,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("content-type", mt)],
        &top_bytes,
    );
    assert_eq!(st, 201, "PUT index: {}", String::from_utf8_lossy(&b));
}

// ------------------------------------------------------------------------------------------------
// registry-wide fixtures

/// Seeds many repositories fast: the fixture is pushed once, then each repository mounts its
/// blobs from there (one request per blob; registries that cannot mount get the blob uploaded
/// into the session they open instead) and gets the manifests.
pub fn seed_many(reg: &Registry, f: fixtures::Fixture, repos: &[String], tag: &str) {
    let first = &repos[0];
    push_layout_raw(reg, &f.dir(), first, tag);
    let dir = f.dir();
    let index: Value = serde_json::from_slice(&layout_blob(&dir, f.index)).unwrap();
    let mut manifests: Vec<(String, String)> = Vec::new();
    let mut blobs: BTreeSet<String> = BTreeSet::new();
    for m in index["manifests"].as_array().unwrap() {
        let d = m["digest"].as_str().unwrap().to_string();
        let v: Value = serde_json::from_slice(&layout_blob(&dir, &d)).unwrap();
        blobs.insert(v["config"]["digest"].as_str().unwrap().to_string());
        for l in v["layers"].as_array().unwrap() {
            blobs.insert(l["digest"].as_str().unwrap().to_string());
        }
        manifests.push((d, m["mediaType"].as_str().unwrap().to_string()));
    }
    for repo in &repos[1..] {
        for b in &blobs {
            let (st, h, _) = registry_request(
                reg,
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?mount={b}&from={first}"),
                &[],
                b"",
            );
            match st {
                201 => {}
                // ferro and ggcr do not mount: they open an upload session instead
                202 => finish_upload(reg, &h, b, &layout_blob(&dir, b)),
                _ => panic!("mount {b} into {repo}: HTTP {st}"),
            }
        }
        for (d, mt) in manifests.iter().chain(
            [(
                tag.to_string(),
                index["mediaType"].as_str().unwrap().to_string(),
            )]
            .iter(),
        ) {
            let key = if d == tag { f.index } else { d.as_str() };
            let (st, _, body) = registry_request(
                reg,
                "PUT",
                &format!("/v2/{repo}/manifests/{d}"),
                &[("content-type", mt)],
                &layout_blob(&dir, key),
            );
            assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
        }
    }
}

/// Every tag of every repository under `prefix` with the digest it points to: the registry's
/// state as a client sees it (referrers tags included).
pub fn snapshot(reg: &Registry, prefix: &str) -> BTreeMap<String, String> {
    let cat = http_get_json(reg, "/v2/_catalog?n=1000", None);
    let mut out = BTreeMap::new();
    for r in cat["repositories"].as_array().unwrap() {
        let r = r.as_str().unwrap();
        if !r.starts_with(prefix) {
            continue;
        }
        let tags = http_get_json(reg, &format!("/v2/{r}/tags/list"), None);
        for t in tags["tags"].as_array().into_iter().flatten() {
            let t = t.as_str().unwrap();
            // A killed client's last PUT may still be settling in the registry (the tag is
            // listed before its link is written): wait for it, a bounded number of times.
            let get = || {
                http_get(
                    reg,
                    &format!("/v2/{r}/manifests/{t}"),
                    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
                )
            };
            let (mut st, mut h, mut body) = get();
            for _ in 0..50 {
                if st != 404 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
                (st, h, body) = get();
            }
            if st == 404 {
                continue;
            }
            assert_eq!(st, 200, "{r}:{t}");
            let d = h
                .get("docker-content-digest")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_else(|| format!("{} bytes", body.len()));
            out.insert(format!("{r}:{t}"), d);
        }
    }
    out
}
