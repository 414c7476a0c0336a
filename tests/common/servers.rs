//! The registries that run as child processes besides Debian's `docker-registry`:
//! go-containerregistry's registry (with and without the Referrers API) and distribution with
//! token auth, whose token endpoint is `tests/support/token-issuer.py` on a port of its own.
//!
//! * ggcr: `target/tools/ggcr-registry` (or `$REFERRIFY_GGCR_REGISTRY`), built once by
//!   `scripts/build-ggcr-registry.sh` from Debian's Go source package; the script is run once per
//!   test process, does nothing when the binary is up to date, and serialises concurrent builds.
//! * token auth: a fresh RSA key and self-signed certificate per registry (`openssl`), the issuer
//!   started on port 0 (it prints the port it bound), polled on `/healthz`, then distribution with
//!   `auth: token` pointing at it. The issuer logs every token request, as JSON lines, to
//!   `<dir>/tokens.jsonl`; [`Registry::token_requests`] reads them.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{
    basic_auth, describe, is_executable, spawn_on_free_port, tempdir, tool, try_http_request,
    Registry, RegistryKind,
};

/// The account the token issuer knows (the only one).
pub const TOKEN_USER: &str = "alice";
pub const TOKEN_PASSWORD: &str = "s3cret";
/// The OAuth2 refresh token (docker's `identitytoken`) the issuer accepts for [`TOKEN_USER`].
pub const TOKEN_REFRESH_TOKEN: &str = "refresh-alice";
/// distribution 2.8 accepts a token until 60 s after its `exp` (clock-skew leeway); the issuer
/// moves `exp` back by as much, so a token stops working when its `expires_in` says.
const DISTRIBUTION_TOKEN_LEEWAY_SECS: u64 = 60;

/// One request to the token issuer, as its log records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct TokenRequest {
    /// `GET` (docker's token protocol) or `POST` (OAuth2).
    pub method: String,
    /// `basic`, `anonymous`, `refresh_token` or `password`.
    pub grant: String,
    /// The authenticated user (empty when anonymous or refused).
    pub user: String,
    /// Every scope asked for, e.g. `repository:team/app:pull,push`, `registry:catalog:*`.
    pub scopes: Vec<String>,
    /// 200, or 401 for wrong credentials.
    pub status: u16,
}

impl TokenRequest {
    /// The scopes as a sorted set, for grouping requests by what they asked for.
    pub fn scope_set(&self) -> Vec<String> {
        let mut s = self.scopes.clone();
        s.sort();
        s.dedup();
        s
    }
}

/// The token endpoint of a token-auth registry; stopped on drop.
pub(super) struct TokenIssuer {
    /// `127.0.0.1:PORT` of the issuer.
    pub addr: String,
    child: Child,
    log: PathBuf,
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// go-containerregistry's registry WITH the Referrers API (in memory). See
    /// [`RegistryKind::Ggcr`] for its deviations.
    pub fn ggcr() -> Registry {
        Registry::spawn_ggcr(RegistryKind::Ggcr, true)
    }

    /// go-containerregistry's registry with `-referrers=false` (`crane registry serve`): no
    /// Referrers API, so clients use the tag schema.
    pub fn ggcr_without_referrers_api() -> Registry {
        Registry::spawn_ggcr(RegistryKind::GgcrNoApi, false)
    }

    fn spawn_ggcr(kind: RegistryKind, referrers: bool) -> Registry {
        let bin = ggcr_binary();
        let dir = tempdir("ggcr");
        let (child, backend_addr) = spawn_on_free_port("ggcr-registry", dir.path(), |addr| {
            let mut cmd = Command::new(bin);
            cmd.args(["-addr", addr, &format!("-referrers={referrers}")]);
            cmd
        });
        Registry::with_proxy(kind, backend_addr, None, Some(child), dir)
    }

    /// distribution 2.8.2 with token auth: tokens from the issuer for `alice:s3cret` (in
    /// [`Registry::credentials`]), valid 300 s; anonymous callers get `pull` only.
    pub fn distribution_token() -> Registry {
        Registry::distribution_token_expiring(300)
    }

    /// [`Registry::distribution_token`] whose issuer hands out tokens that the registry refuses
    /// `expires_in` seconds after they were issued (e.g. 3, to make a slow run refresh them).
    pub fn distribution_token_expiring(expires_in: u64) -> Registry {
        let dir = tempdir("distribution-token");
        let issuer = TokenIssuer::start(dir.path(), expires_in);
        let auth = format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: test-registry\n    \
             issuer: test-issuer\n    rootcertbundle: {}\n",
            issuer.addr,
            dir.path().join("issuer-cert.pem").display()
        );
        let credentials = Some((TOKEN_USER.to_owned(), TOKEN_PASSWORD.to_owned()));
        let mut reg =
            Registry::spawn_distribution(RegistryKind::DistributionToken, dir, auth, credentials);
        reg.issuer = Some(issuer);
        reg
    }

    /// `127.0.0.1:PORT` of the token issuer (panics unless the registry has one).
    pub fn token_issuer_addr(&self) -> &str {
        &self.issuer().addr
    }

    /// Every token request the issuer answered so far (since the last
    /// [`Registry::clear_token_requests`]), in order.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        let text = fs::read_to_string(&self.issuer().log).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("token log line is not a request ({e}): {l}"))
            })
            .collect()
    }

    /// Forget the recorded token requests (the issuer appends, so truncating is safe).
    pub fn clear_token_requests(&self) {
        fs::write(&self.issuer().log, b"").expect("truncating the token log");
    }

    /// The token issuer's own log (its stderr).
    pub fn token_issuer_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("issuer.log")).unwrap_or_default()
    }

    fn issuer(&self) -> &TokenIssuer {
        self.issuer
            .as_ref()
            .unwrap_or_else(|| panic!("{:?} has no token issuer", self.kind))
    }

    /// The `Authorization` value answering a `WWW-Authenticate: Bearer …` challenge of this
    /// registry: a token from its issuer, with its credentials, for every scope the challenge
    /// names. `None` when the registry has no issuer or the challenge is not a bearer one.
    pub(super) fn bearer_for(&self, challenge: &str) -> Option<String> {
        let issuer = self.issuer.as_ref()?;
        let params = challenge.strip_prefix("Bearer ")?;
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in parse_challenge(params) {
            match k.as_str() {
                "service" => {
                    query.append_pair("service", &v);
                }
                "scope" => {
                    for scope in v.split(' ').filter(|s| !s.is_empty()) {
                        query.append_pair("scope", scope);
                    }
                }
                _ => {}
            }
        }
        let (user, pass) = self.credentials.as_ref()?;
        let path = format!("/token?{}", query.finish());
        let auth = basic_auth(user, pass);
        let (status, _, body) =
            try_http_request(&issuer.addr, "GET", &path, &[("authorization", &auth)], b"")
                .unwrap_or_else(|e| panic!("token request: {e}"));
        assert_eq!(
            status,
            200,
            "token issuer: {}",
            String::from_utf8_lossy(&body)
        );
        let v: serde_json::Value = serde_json::from_slice(&body).expect("token JSON");
        Some(format!("Bearer {}", v["token"].as_str().expect("token")))
    }
}

/// `key="value"` pairs of a challenge (values do not hold quotes in the registries used here).
fn parse_challenge(params: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = params.trim();
    while let Some((k, after)) = rest.split_once("=\"") {
        let Some((v, tail)) = after.split_once('"') else {
            break;
        };
        out.push((k.trim().to_owned(), v.to_owned()));
        rest = tail.trim_start_matches([',', ' ']);
    }
    out
}

impl TokenIssuer {
    /// A fresh key and certificate in `dir`, then the issuer on a free port, ready.
    fn start(dir: &Path, expires_in: u64) -> TokenIssuer {
        let key = dir.join("issuer-key.pem");
        let cert = dir.join("issuer-cert.pem");
        let openssl = tool("openssl", "REFERRIFY_OPENSSL");
        let key_s = key.to_str().expect("utf-8 temp path");
        let cert_s = cert.to_str().expect("utf-8 temp path");
        let args = [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key_s,
            "-out",
            cert_s,
            "-days",
            "2",
            "-subj",
            "/CN=test-issuer",
        ];
        let os_args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        let out = super::run(&openssl, &os_args);
        assert!(
            out.status.success(),
            "{}",
            describe(&openssl, &os_args, &out)
        );

        let log = dir.join("tokens.jsonl");
        fs::write(&log, b"").expect("creating the token log");
        let stderr = fs::File::create(dir.join("issuer.log")).expect("creating issuer.log");
        let python = python3();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/token-issuer.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .args(["0", key_s, cert_s, "--expires-in"])
            .arg(expires_in.to_string())
            .arg("--registry-leeway")
            .arg(DISTRIBUTION_TOKEN_LEEWAY_SECS.to_string())
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} {}: {e}", python.display(), script.display()));
        let stdout = child.stdout.take().expect("issuer stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let failed = |child: &mut Child, why: String| -> ! {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the token issuer did not start: {why} (python3 needs `cryptography`: \
                 run scripts/setup.sh, or set $REFERRIFY_PYTHON3)\n--- issuer.log ---\n{}",
                fs::read_to_string(dir.join("issuer.log")).unwrap_or_default()
            )
        };
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(e) => failed(&mut child, format!("no port announced: {e}")),
        };
        let Some(addr) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
            failed(&mut child, format!("unexpected first line {line:?}"))
        };
        let issuer = TokenIssuer { addr, child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match try_http_request(&issuer.addr, "GET", "/healthz", &[], b"") {
                Ok((200, _, _)) => return issuer,
                Ok((s, _, _)) if Instant::now() > deadline => panic!("issuer /healthz -> {s}"),
                Err(e) if Instant::now() > deadline => panic!("issuer not ready: {e}"),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

/// The ggcr registry binary: `$REFERRIFY_GGCR_REGISTRY`, else `target/tools/ggcr-registry`,
/// brought up to date by `scripts/build-ggcr-registry.sh` once per test process.
fn ggcr_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if std::env::var_os("REFERRIFY_GGCR_REGISTRY").is_some_and(|p| !p.is_empty()) {
            return tool("ggcr-registry", "REFERRIFY_GGCR_REGISTRY");
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = root.join("target/tools/ggcr-registry");
        let script = root.join("scripts/build-ggcr-registry.sh");
        let built = Command::new("bash")
            .arg(&script)
            .arg(&out)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(
            built.status.success() && is_executable(&out),
            "{} failed (run scripts/setup.sh as root to install go, or set \
             $REFERRIFY_GGCR_REGISTRY):\n{}",
            script.display(),
            String::from_utf8_lossy(&built.stderr)
        );
        out
    })
}

/// python3 for the token issuer: `$REFERRIFY_PYTHON3`, else Debian's `/usr/bin/python3` (where
/// setup.sh installs `python3-cryptography`), else `python3` on PATH.
fn python3() -> PathBuf {
    if std::env::var_os("REFERRIFY_PYTHON3").is_some_and(|p| !p.is_empty()) {
        return tool("python3", "REFERRIFY_PYTHON3");
    }
    let debian = PathBuf::from("/usr/bin/python3");
    if is_executable(&debian) {
        return debian;
    }
    tool("python3", "REFERRIFY_PYTHON3")
}
