//! Typed registry errors. Messages name the request (method and URL path, never a query string
//! or a credential) and what the registry said.

use std::fmt;

/// The error underneath a [`RegistryError`], kept for `source()` but never part of its message.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

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

/// An error code of the distribution spec's error envelope (`{"errors":[{"code":…}]}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OciErrorCode {
    /// `BLOB_UNKNOWN`
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`
    BlobUploadUnknown,
    /// `DIGEST_INVALID`
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`: a manifest PUT names a blob the registry does not have.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`
    ManifestUnknown,
    /// `NAME_INVALID`
    NameInvalid,
    /// `NAME_UNKNOWN`: the repository does not exist.
    NameUnknown,
    /// `SIZE_INVALID`
    SizeInvalid,
    /// `UNAUTHORIZED`
    Unauthorized,
    /// `DENIED`
    Denied,
    /// `UNSUPPORTED`
    Unsupported,
    /// `TOOMANYREQUESTS`
    TooManyRequests,
    /// A code outside the spec, as sent. [`OciErrorCode::parse`] never puts a spec code here.
    Other(String),
}

impl OciErrorCode {
    const KNOWN: [OciErrorCode; 14] = [
        OciErrorCode::BlobUnknown,
        OciErrorCode::BlobUploadInvalid,
        OciErrorCode::BlobUploadUnknown,
        OciErrorCode::DigestInvalid,
        OciErrorCode::ManifestBlobUnknown,
        OciErrorCode::ManifestInvalid,
        OciErrorCode::ManifestUnknown,
        OciErrorCode::NameInvalid,
        OciErrorCode::NameUnknown,
        OciErrorCode::SizeInvalid,
        OciErrorCode::Unauthorized,
        OciErrorCode::Denied,
        OciErrorCode::Unsupported,
        OciErrorCode::TooManyRequests,
    ];

    /// The code for its wire form (exact match, as registries send them uppercase).
    pub fn parse(code: &str) -> OciErrorCode {
        Self::KNOWN
            .into_iter()
            .find(|k| k.as_str() == code)
            .unwrap_or_else(|| OciErrorCode::Other(code.to_string()))
    }

    /// The wire form (`NAME_UNKNOWN`, …).
    pub fn as_str(&self) -> &str {
        match self {
            OciErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            OciErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            OciErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            OciErrorCode::DigestInvalid => "DIGEST_INVALID",
            OciErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            OciErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            OciErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            OciErrorCode::NameInvalid => "NAME_INVALID",
            OciErrorCode::NameUnknown => "NAME_UNKNOWN",
            OciErrorCode::SizeInvalid => "SIZE_INVALID",
            OciErrorCode::Unauthorized => "UNAUTHORIZED",
            OciErrorCode::Denied => "DENIED",
            OciErrorCode::Unsupported => "UNSUPPORTED",
            OciErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            OciErrorCode::Other(code) => code,
        }
    }
}

impl fmt::Display for OciErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
        /// The OCI error codes in the body, in order (empty when it has none).
        codes: Vec<OciErrorCode>,
    },
    /// The request did not complete (connection refused, reset, timeout, TLS).
    #[error("{request}: {message}")]
    Transport {
        /// The request.
        request: Request,
        /// The cause, flattened (reqwest's chain, which never carries our credentials).
        message: String,
        /// The cause, without its URL (a redirect target's query may be a signature).
        source: reqwest::Error,
    },
    /// The response started but its body broke off (connection reset, truncated body, timeout
    /// while reading). Reads are retried on this.
    #[error("{request}: {message}")]
    BodyRead {
        /// The request.
        request: Request,
        /// The cause, flattened.
        message: String,
        /// The cause, without its URL.
        source: reqwest::Error,
    },
    /// Logging in failed.
    #[error("authentication to {registry} failed: {reason}")]
    Auth {
        /// The registry host.
        registry: String,
        /// Why.
        reason: String,
        /// The underlying error, where there is one that cannot carry a secret.
        source: Option<Cause>,
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
        /// The underlying error (I/O, TLS setup, URL), where there is one.
        source: Option<Cause>,
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

    /// Whether the registry answered with the OCI error `code` (a `Status` error whose body's
    /// error envelope lists it). Prefer this to searching the message, which also holds free text.
    pub fn has_code(&self, code: OciErrorCode) -> bool {
        match self {
            RegistryError::Status { codes, .. } => codes.contains(&code),
            _ => false,
        }
    }

    /// A `Status` error for a response body: its codes, and `detail` as [`describe_body`] words
    /// it followed by `hint`.
    pub(super) fn from_body(request: Request, status: u16, body: &[u8], hint: &str) -> Self {
        RegistryError::Status {
            request,
            status,
            detail: format!("{}{hint}", describe_body(body)),
            codes: error_codes(body),
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

/// The OCI error codes in a body (`NAME_UNKNOWN`, …). Read leniently: an envelope that
/// [`describe_body`] cannot word (an entry with a non-string message) still yields its codes.
pub fn error_codes(body: &[u8]) -> Vec<OciErrorCode> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("errors").and_then(|e| e.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            e.get("code")
                .and_then(|c| c.as_str())
                .map(OciErrorCode::parse)
        })
        .collect()
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in OciErrorCode::KNOWN {
            assert_eq!(OciErrorCode::parse(code.as_str()), code);
        }
        assert_eq!(
            OciErrorCode::parse("SOMETHING_ELSE"),
            OciErrorCode::Other("SOMETHING_ELSE".into())
        );
        assert_eq!(OciErrorCode::parse("name_unknown").as_str(), "name_unknown");
    }

    #[test]
    fn status_from_body_keeps_detail_and_codes() {
        let url = reqwest::Url::parse("http://r.example/v2/a/manifests/x?secret=1").unwrap();
        let body = br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown"},{"code":"X"}]}"#;
        let e = RegistryError::from_body(Request::new("PUT", &url), 400, body, " (hint)");
        assert_eq!(
            e.to_string(),
            "PUT http://r.example/v2/a/manifests/x: HTTP 400: MANIFEST_BLOB_UNKNOWN (blob unknown); X (hint)"
        );
        assert!(e.has_code(OciErrorCode::ManifestBlobUnknown));
        assert!(e.has_code(OciErrorCode::Other("X".into())));
        assert!(!e.has_code(OciErrorCode::NameUnknown));
        let e = RegistryError::from_body(Request::new("GET", &url), 404, b"", "");
        assert_eq!(
            e.to_string(),
            "GET http://r.example/v2/a/manifests/x: HTTP 404"
        );
        assert!(!e.has_code(OciErrorCode::NameUnknown));
    }
}
