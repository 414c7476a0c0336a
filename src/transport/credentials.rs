//! Credentials from docker's `config.json`: `credHelpers`, `auths` (`auth`, `username`/`password`,
//! `identitytoken`) and `credsStore`, in the order the docker CLI uses them.
//! Secrets never reach `Debug` output or error messages.

use crate::model::reference::DOCKER_HUB_AUTH_KEY;
use base64::Engine as _;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A credential for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Username and password (or a personal access token used as password).
    Basic {
        /// Username.
        username: String,
        /// Password.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// The docker config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The key docker uses for `registry` (`docker.io` → `https://index.docker.io/v1/`).
pub fn auth_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_AUTH_KEY.to_string(),
        other => other.to_string(),
    }
}

/// Looks up the credential for `registry` in the docker config at `path`. `Ok(None)` = anonymous.
pub fn lookup(path: &Path, registry: &str) -> Result<Option<Credential>, String> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let config: Value = serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    let key = auth_key(registry);
    if let Some(helper) = config
        .get("credHelpers")
        .and_then(|h| h.get(&key).or_else(|| h.get(registry)))
        .and_then(Value::as_str)
    {
        return run_helper(helper, &key);
    }
    if let Some(auths) = config.get("auths").and_then(Value::as_object) {
        let entry = auths
            .iter()
            .find(|(k, _)| normalise_key(k) == normalise_key(&key))
            .map(|(_, v)| v);
        if let Some(entry) = entry {
            if let Some(c) = from_auth_entry(entry)? {
                return Ok(Some(c));
            }
        }
    }
    if let Some(store) = config.get("credsStore").and_then(Value::as_str) {
        return run_helper(store, &key);
    }
    Ok(None)
}

/// `https://host/v1/`, `http://host`, `host/` all name `host`; Docker Hub keys all name Hub.
fn normalise_key(k: &str) -> String {
    let k = k
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or("");
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

fn from_auth_entry(entry: &Value) -> Result<Option<Credential>, String> {
    if let Some(t) = entry
        .get("identitytoken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        return Ok(Some(Credential::IdentityToken(t.to_string())));
    }
    if let Some(a) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(a.trim())
            .map_err(|_| "an \"auth\" entry is not valid base64".to_string())?;
        let text =
            String::from_utf8(decoded).map_err(|_| "an \"auth\" entry is not UTF-8".to_string())?;
        let (u, p) = text
            .split_once(':')
            .ok_or_else(|| "an \"auth\" entry is not username:password".to_string())?;
        return Ok(Some(Credential::Basic {
            username: u.to_string(),
            password: p.to_string(),
        }));
    }
    let user = entry.get("username").and_then(Value::as_str);
    let pass = entry.get("password").and_then(Value::as_str);
    if let (Some(u), Some(p)) = (user, pass) {
        return Ok(Some(Credential::Basic {
            username: u.to_string(),
            password: p.to_string(),
        }));
    }
    Ok(None)
}

/// Runs `docker-credential-<helper> get` with the server URL on stdin.
fn run_helper(helper: &str, server: &str) -> Result<Option<Credential>, String> {
    if helper.is_empty()
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!("invalid credential helper name {helper:?}"));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program} failed: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // The docker CLI treats "credentials not found" as anonymous access.
        if stdout.contains("credentials not found")
            || String::from_utf8_lossy(&out.stderr).contains("credentials not found")
        {
            return Ok(None);
        }
        return Err(format!("{program} get exited with {}", out.status));
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| format!("{program} get printed something that is not JSON"))?;
    let user = v.get("Username").and_then(Value::as_str).unwrap_or("");
    let secret = v.get("Secret").and_then(Value::as_str).unwrap_or("");
    if secret.is_empty() {
        return Ok(None);
    }
    if user == "<token>" {
        return Ok(Some(Credential::IdentityToken(secret.to_string())));
    }
    Ok(Some(Credential::Basic {
        username: user.to_string(),
        password: secret.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_config(json: &str, registry: &str) -> Result<Option<Credential>, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(&p, json).unwrap();
        lookup(&p, registry)
    }

    #[test]
    fn auths_forms() {
        // "user:pa:ss" base64
        let c = with_config(
            r#"{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpwYTpzcw=="}}}"#,
            "127.0.0.1:5000",
        )
        .unwrap();
        assert_eq!(
            c,
            Some(Credential::Basic {
                username: "user".into(),
                password: "pa:ss".into()
            })
        );
        let c = with_config(
            r#"{"auths":{"https://reg.example/v1/":{"username":"u","password":"p"}}}"#,
            "reg.example",
        )
        .unwrap();
        assert_eq!(
            c,
            Some(Credential::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        let c = with_config(
            r#"{"auths":{"https://index.docker.io/v1/":{"identitytoken":"tok"}}}"#,
            "docker.io",
        )
        .unwrap();
        assert_eq!(c, Some(Credential::IdentityToken("tok".into())));
        assert_eq!(
            with_config(r#"{"auths":{"other":{"auth":"dTpw"}}}"#, "reg.example").unwrap(),
            None
        );
        assert!(with_config(r#"{"auths":{"r":{"auth":"!!"}}}"#, "r").is_err());
        assert!(with_config("not json", "r").is_err());
    }

    #[test]
    fn missing_file_is_anonymous_and_debug_hides_secrets() {
        assert_eq!(
            lookup(Path::new("/nonexistent/config.json"), "r").unwrap(),
            None
        );
        let c = Credential::Basic {
            username: "u".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(!format!("{:?}", Credential::IdentityToken("s3cret".into())).contains("s3cret"));
    }

    #[test]
    fn helper_names_are_checked() {
        let e = with_config(r#"{"credsStore":"../evil"}"#, "r").unwrap_err();
        assert!(e.contains("invalid credential helper"));
        let e =
            with_config(r#"{"credHelpers":{"r":"definitely-missing-helper"}}"#, "r").unwrap_err();
        assert!(e.contains("cannot run docker-credential-definitely-missing-helper"));
    }
}
