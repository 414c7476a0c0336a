//! Typed registry errors. Messages name the request (method and URL path, never a query string
//! or a credential) and what the registry said.

use std::fmt;

/// An HTTP method and a redacted URL, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `PUT`, …
    pub method: String,
    /// `scheme://host/path`, without query string or user info.
    pub url: String,
}

impl Request {
    /// Describes a request, dropping user info and query string from `url`.
    pub fn new(method: &str, url: &reqwest::Url) -> Request {
        let mut u = url.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.set_query(None);
        u.set_fragment(None);
        Request {
            method: method.to_string(),
            url: u.to_string(),
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)
    }
}

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with an unexpected status.
    #[error("{request}: HTTP {status}{}{}", if detail.is_empty() { "" } else { ": " }, detail)]
    Status {
        /// The request.
        request: Request,
        /// The status code.
        status: u16,
        /// OCI error codes and messages, or the start of the body.
        detail: String,
    },
    /// The request did not complete (connection refused, reset, timeout, TLS).
    #[error("{request}: {message}")]
    Transport {
        /// The request.
        request: Request,
        /// The cause, flattened (reqwest's chain, which never carries our credentials).
        message: String,
    },
    /// The response started but its body broke off (connection reset, truncated body, timeout
    /// while reading). Reads are retried on this.
    #[error("{request}: {message}")]
    BodyRead {
        /// The request.
        request: Request,
        /// The cause, flattened.
        message: String,
    },
    /// Logging in failed.
    #[error("authentication to {registry} failed: {reason}")]
    Auth {
        /// The registry host.
        registry: String,
        /// Why.
        reason: String,
    },
    /// The content does not hash to the digest it was asked for.
    #[error("{request}: content does not match digest {expected} (it hashes to {actual})")]
    DigestMismatch {
        /// The request.
        request: Request,
        /// The digest asked for.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// A response body exceeded its limit.
    #[error("{request}: response is larger than the {limit}-byte limit")]
    TooLarge {
        /// The request.
        request: Request,
        /// The limit.
        limit: usize,
    },
    /// The registry answered something that breaks the protocol.
    #[error("{request}: {reason}")]
    Protocol {
        /// The request.
        request: Request,
        /// What was wrong.
        reason: String,
    },
    /// Reading credentials failed.
    #[error("credentials for {registry}: {reason}")]
    Credentials {
        /// The registry.
        registry: String,
        /// Why.
        reason: String,
    },
}

impl RegistryError {
    /// The HTTP status, when the registry answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Formats a registry error body: the OCI error envelope's codes and messages, else the first
/// 200 characters of the body with control characters removed.
pub fn describe_body(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
        let parts: Vec<String> = env
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{} ({})", e.code, clean(&e.message)),
                (false, true) => e.code.clone(),
                _ => clean(&e.message),
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let text = String::from_utf8_lossy(body);
    let t = clean(text.trim());
    if t.chars().count() > 200 {
        format!("{}…", t.chars().take(200).collect::<String>())
    } else {
        t
    }
}

/// The OCI error codes in a body (`NAME_UNKNOWN`, …).
pub fn error_codes(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("errors").and_then(|e| e.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.get("code").and_then(|c| c.as_str()).map(str::to_string))
        .collect()
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
