//! A `referrify serve` process for the tests: started on a port picked free, its stdout (one
//! JSON line per image worked on) and stderr kept in files, its `/metrics` read as numbers.
#![allow(dead_code)]

use crate::common;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bearer token every test receiver uses.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A port free right now (the caller binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// distribution's `notifications:` section sending to `127.0.0.1:port` with our token.
pub fn notifications(port: u16) -> String {
    format!(
        "notifications:\n  events:\n    includereferences: true\n  endpoints:\n    - name: referrify\n      \
         url: http://127.0.0.1:{port}/events\n      headers:\n        Authorization: [Bearer {TOKEN}]\n      \
         timeout: 5s\n      threshold: 3\n      backoff: 500ms\n"
    )
}

/// A running `referrify serve`; killed (not waited on gracefully) when dropped.
pub struct Serve {
    pub addr: String,
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Serve {
    /// Starts `referrify serve` on `port` for `registries`, journal in `journal`, plus `extra`
    /// arguments; waits until `/healthz` answers.
    pub fn start(port: u16, registries: &[&str], journal: &Path, extra: &[&str]) -> Serve {
        let n = std::fs::read_dir(journal.parent().unwrap()).map_or(0, |d| d.count());
        let stdout = journal.with_extension(format!("stdout.{n}"));
        let stderr = journal.with_extension(format!("stderr.{n}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_referrify"));
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--journal",
        ])
        .arg(journal)
        .args(extra)
        .env("REFERRIFY_SERVE_TOKEN", TOKEN)
        .env("DOCKER_CONFIG", journal.parent().unwrap())
        .env("REFERRIFY_LOG", "referrify=info")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
        for r in registries {
            cmd.args(["--registry", r]);
        }
        let mut child = cmd.spawn().expect("starting referrify serve");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _, _)) = common::try_http_request(&addr, "GET", "/healthz", &[], b"") {
                break;
            }
            if let Some(st) = child.try_wait().unwrap() {
                panic!(
                    "serve exited with {st}: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "serve did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Serve {
            addr,
            child,
            stdout,
            stderr,
        }
    }

    /// POSTs `body` to `/events` with `token` (`None`: no Authorization header).
    pub fn post(&self, body: &[u8], token: Option<&str>) -> (u16, common::HeaderMap, String) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut h = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            h.push(("authorization", a.as_str()));
        }
        let (st, headers, b) = common::http_request(&self.addr, "POST", "/events", &h, body);
        (st, headers, String::from_utf8_lossy(&b).into_owned())
    }

    /// The value of a metric (`referrify_serve_<name>`, counters with `_total`); 0 when absent.
    pub fn metric(&self, name: &str) -> f64 {
        let (st, _, body) = common::http_request(&self.addr, "GET", "/metrics", &[], b"");
        assert_eq!(st, 200);
        let text = String::from_utf8_lossy(&body).into_owned();
        let key = format!("referrify_serve_{name}");
        text.lines()
            .filter_map(|l| l.strip_prefix(&key))
            .filter_map(|rest| rest.strip_prefix(' '))
            .filter_map(|v| v.trim().parse().ok())
            .next()
            .unwrap_or(0.0)
    }

    /// Waits until `cond` holds for this receiver (polling `/metrics`); panics with the log after
    /// `limit` (a hang guard, not a speed assertion).
    pub fn wait(&self, what: &str, limit: Duration, cond: impl Fn(&Serve) -> bool) {
        let deadline = Instant::now() + limit;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; serve log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The JSON lines serve printed (one per image worked on).
    pub fn reports(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.stdout)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        // SAFETY: kill(2) on our own child's pid touches no memory of ours.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
