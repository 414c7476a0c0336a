//! A tiny W3C WebDriver client (plain HTTP/JSON over `reqwest`) driving Debian's headless
//! Chromium through `chromedriver`, for tests that look at a rendered page.
//!
//! [`Browser::start`] runs `/usr/bin/chromedriver` on a free port of 127.0.0.1 and opens a session
//! of `/usr/bin/chromium` with a fresh profile (override the paths with `REFERRIFY_CHROMEDRIVER`
//! and `REFERRIFY_CHROMIUM`). Both are installed by `scripts/setup.sh`; a missing one fails the
//! test, never skips it. Dropping the [`Browser`] deletes the session and kills chromedriver
//! (and whatever is left of its process group), even when the test panicked.
//!
//! ```ignore
//! let b = Browser::start().await;
//! b.goto(&file_url(&path)).await;
//! let th = b.find("#coverage-table th.c5").await;
//! b.click(&th).await;
//! let states: Value = b.execute("return [...document.querySelectorAll('tr.row')].map(r => r.dataset.state)", json!([])).await;
//! b.screenshot(&artifact("page.png")).await;
//! ```

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The W3C key of an element reference in WebDriver JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long one WebDriver command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// An element found on the page (its WebDriver id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(pub String);

impl Element {
    /// The element as a script argument.
    pub fn arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

/// A running chromedriver with one Chromium session. Dropping it ends both.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT` of chromedriver.
    base: String,
    session: Option<String>,
    driver: Option<Child>,
    dir: tempfile::TempDir,
}

/// The executable at `default`, or in `$env_var`; panics with the setup hint when missing.
fn executable(default: &str, env_var: &str) -> PathBuf {
    let p = std::env::var_os(env_var)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    let ok = fs::metadata(&p).is_ok_and(|m| {
        use std::os::unix::fs::PermissionsExt as _;
        m.is_file() && m.permissions().mode() & 0o111 != 0
    });
    assert!(
        ok,
        "{} is missing (or not executable): the HTML report tests need Debian's `chromium` and \
         `chromium-driver` packages; run scripts/setup.sh (as root) to install them, or point \
         ${env_var} at the binary",
        p.display()
    );
    p
}

impl Browser {
    /// Whether a command's `<code>` shows all of its text: it wraps instead of overflowing.
    pub async fn shows_whole(&self, code: &Element) -> bool {
        let got = self
            .execute(
                "const c = arguments[0]; const s = getComputedStyle(c);\
                 return s.textOverflow !== 'ellipsis' && s.whiteSpace === 'pre-wrap' && c.scrollWidth <= c.clientWidth;",
                json!([code.arg()]),
            )
            .await;
        got == json!(true)
    }

    /// Starts chromedriver and a headless Chromium session (window 1400x1000).
    pub async fn start() -> Browser {
        let chromedriver = executable("/usr/bin/chromedriver", "REFERRIFY_CHROMEDRIVER");
        let chromium = executable("/usr/bin/chromium", "REFERRIFY_CHROMIUM");
        let dir = tempfile::Builder::new()
            .prefix("referrify-browser-")
            .tempdir()
            .expect("creating the browser temp dir");
        let http = reqwest::Client::builder()
            .timeout(COMMAND_TIMEOUT)
            .no_proxy()
            .build()
            .expect("building the WebDriver HTTP client");

        // The port is free a moment before chromedriver binds it; retry if someone else took it.
        let mut last_error = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let base = format!("http://127.0.0.1:{port}");
            let log = dir.path().join(format!("chromedriver-{attempt}.log"));
            let out = fs::File::create(&log).expect("creating the chromedriver log");
            let err = out.try_clone().expect("cloning the log handle");
            let mut child = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
            match wait_ready(&http, &base, &mut child).await {
                Ok(()) => {
                    let mut b = Browser {
                        http,
                        base,
                        session: None,
                        driver: Some(child),
                        dir,
                    };
                    b.new_session(&chromium).await;
                    return b;
                }
                Err(e) => {
                    kill_group(child);
                    last_error = format!(
                        "{e}\n--- chromedriver log ---\n{}",
                        fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        }
        panic!(
            "chromedriver ({}) did not become ready: {last_error}",
            chromedriver.display()
        );
    }

    async fn new_session(&mut self, chromium: &Path) {
        let profile = self.dir.path().join("profile");
        fs::create_dir_all(&profile).expect("creating the Chromium profile dir");
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": { "script": 60_000, "pageLoad": 120_000, "implicit": 0 },
                    "goog:loggingPrefs": { "browser": "ALL" },
                    "goog:chromeOptions": {
                        "binary": chromium.to_str().expect("UTF-8 path"),
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-dev-shm-usage",
                            format!("--user-data-dir={}", profile.display()),
                            "--window-size=1400,1000",
                        ],
                    },
                },
            },
        });
        let v = self.request("POST", "/session", Some(caps)).await;
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("new session: no sessionId in {v}"))
            .to_string();
        self.session = Some(id);
    }

    /// Sends one command; returns its `value`, panicking with WebDriver's error otherwise.
    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(&url),
            "POST" => self.http.post(&url),
            "DELETE" => self.http.delete(&url),
            m => panic!("unsupported method {m}"),
        };
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).expect("serialising a command")),
            None => req,
        };
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = resp.status();
        let v = json_body(resp)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: HTTP {status}: {e}"));
        if !status.is_success() || v["value"].get("error").is_some_and(|e| e.is_string()) {
            let value = &v["value"];
            panic!(
                "WebDriver {method} {path}: HTTP {status}: {}: {}",
                value["error"].as_str().unwrap_or("?"),
                value["message"].as_str().unwrap_or(&value.to_string())
            );
        }
        v["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        let id = self.session.as_deref().expect("no WebDriver session");
        format!("/session/{id}{rest}")
    }

    async fn session_cmd(&self, method: &str, rest: &str, body: Option<Value>) -> Value {
        self.request(method, &self.session_path(rest), body).await
    }

    /// Navigates and waits for the load event.
    pub async fn goto(&self, url: &str) {
        self.session_cmd("POST", "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The first element matching `css` (panics when there is none).
    pub async fn find(&self, css: &str) -> Element {
        let v = self
            .session_cmd(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        element(&v)
    }

    /// Every element matching `css`.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .session_cmd(
                "POST",
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v.as_array()
            .expect("elements: an array")
            .iter()
            .map(element)
            .collect()
    }

    /// The first element matching `css` inside `parent`.
    pub async fn find_in(&self, parent: &Element, css: &str) -> Element {
        let v = self
            .session_cmd(
                "POST",
                &format!("/element/{}/element", parent.0),
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        element(&v)
    }

    /// The element's rendered (visible) text.
    pub async fn text(&self, el: &Element) -> String {
        let v = self
            .session_cmd("GET", &format!("/element/{}/text", el.0), None)
            .await;
        v.as_str().expect("text: a string").to_string()
    }

    /// An attribute of the element (`None` when absent).
    pub async fn attr(&self, el: &Element, name: &str) -> Option<String> {
        let v = self
            .session_cmd("GET", &format!("/element/{}/attribute/{name}", el.0), None)
            .await;
        v.as_str().map(str::to_string)
    }

    /// Whether the element is displayed.
    pub async fn displayed(&self, el: &Element) -> bool {
        let v = self
            .session_cmd("GET", &format!("/element/{}/displayed", el.0), None)
            .await;
        v.as_bool().expect("displayed: a bool")
    }

    /// Clicks the element (scrolling it into view first, as a user would).
    pub async fn click(&self, el: &Element) {
        self.session_cmd("POST", &format!("/element/{}/click", el.0), Some(json!({})))
            .await;
    }

    /// Types `text` into the element, key by key (`\u{E009}` is Control, `\u{E000}` releases it).
    pub async fn type_text(&self, el: &Element, text: &str) {
        self.session_cmd(
            "POST",
            &format!("/element/{}/value", el.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Selects everything in a text box and deletes it, with the keyboard.
    pub async fn clear_text(&self, el: &Element) {
        self.type_text(el, "\u{E009}a\u{E000}\u{E003}").await;
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns its result.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.session_cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The browser console since the last call (`[{level, message, …}]`; chromedriver only).
    pub async fn console_log(&self) -> Vec<Value> {
        let v = self
            .session_cmd("POST", "/se/log", Some(json!({ "type": "browser" })))
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Saves a PNG of the viewport to `path` (directories created).
    pub async fn screenshot(&self, path: &Path) {
        let v = self.session_cmd("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("screenshot: base64 text"))
            .expect("screenshot: valid base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        if let Some(d) = path.parent() {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        }
        fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Resizes the window (e.g. to capture a longer page).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.session_cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Deletes the session and stops chromedriver now (dropping does the same).
    pub async fn quit(mut self) {
        if let Some(id) = self.session.take() {
            let _ = self
                .http
                .delete(format!("{}/session/{id}", self.base))
                .timeout(Duration::from_secs(20))
                .send()
                .await;
        }
        self.stop_driver();
    }

    /// Stops chromedriver (see [`kill_group`]).
    fn stop_driver(&mut self) {
        if let Some(child) = self.driver.take() {
            kill_group(child);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            // The test's runtime may be gone or busy (a panic): delete the session from a thread
            // of its own with a fresh client.
            let url = format!("{}/session/{id}", self.base);
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let client = reqwest::Client::builder().no_proxy().build().ok()?;
                    client
                        .delete(url)
                        .timeout(Duration::from_secs(20))
                        .send()
                        .await
                        .ok()
                })
            })
            .join();
        }
        self.stop_driver();
    }
}

/// Polls chromedriver's `GET /status` until it says it is ready (or exits).
async fn wait_ready(http: &reqwest::Client, base: &str, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("chromedriver exited with {status}"));
        }
        if let Ok(r) = http.get(format!("{base}/status")).send().await {
            if let Ok(v) = json_body(r).await {
                if v["value"]["ready"] == Value::Bool(true) {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            return Err("no ready answer on /status within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills chromedriver and anything left in its process group (it was started as the leader of
/// a group of its own: a Chromium whose session could not be deleted goes too), then reaps it.
fn kill_group(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// An element reference from a WebDriver answer.
fn element(v: &Value) -> Element {
    Element(
        v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("not an element reference: {v}"))
            .to_string(),
    )
}

/// A `file://` URL for a local path.
pub fn file_url(path: &Path) -> String {
    url::Url::from_file_path(path)
        .unwrap_or_else(|()| panic!("not an absolute path: {}", path.display()))
        .to_string()
}

/// `<target>/test-artifacts/<name>`: files kept after the run (screenshots).
pub fn artifact(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("test-artifacts").join(name)
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// The body as JSON (`reqwest` here has no `json` feature).
async fn json_body(resp: reqwest::Response) -> Result<Value, String> {
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(500)])
        )
    })
}
