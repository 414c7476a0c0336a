//! Reaching the host: the HTTP client, HTTPS or plain HTTP for loopback registries, and
//! connection failures described without the URL (which may carry a signed query).

use super::error::{Cause, RegistryError};
use super::{Client, ClientOptions};
use std::sync::atomic::Ordering;
use std::time::Duration;

const USER_AGENT: &str = concat!("referrify/", env!("CARGO_PKG_VERSION"));

/// Whether `host` (with optional port) is a loopback name or address.
pub fn is_loopback(host: &str) -> bool {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .map(|(h, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            })
            .unwrap_or(host)
    };
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// The reqwest client for `host`: no redirects followed (API calls must not leak auth to
/// storage), bounded pool, and the extra CA when one is given.
pub(super) fn http_client(
    host: &str,
    opts: &ClientOptions,
) -> Result<reqwest::Client, RegistryError> {
    let fail = |reason: String, source: Cause| RegistryError::Credentials {
        registry: host.into(),
        reason,
        source: Some(source),
    };
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(15))
        .timeout(opts.timeout)
        .pool_max_idle_per_host(opts.max_concurrency.max(1));
    if let Some(ca) = &opts.ca_file {
        let pem = std::fs::read(ca).map_err(|e| {
            let reason = format!("cannot read CA file {}: {e}", ca.display());
            fail(reason, e.into())
        })?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
            let reason = format!("CA file {} is not a PEM certificate: {e}", ca.display());
            fail(reason, e.into())
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| fail(format!("cannot set up HTTP: {e}"), e.into()))
}

impl Client {
    /// Settles HTTPS or plain HTTP for a loopback registry: a TLS handshake that succeeds, or
    /// fails on the certificate, means HTTPS (so a bad certificate is refused, never bypassed);
    /// a server that does not speak TLS at all means plain HTTP.
    pub(super) async fn settle(&self) {
        if self.inner.base.get().is_some() {
            return;
        }
        let _one = self.inner.settling.lock().await;
        if self.inner.base.get().is_some() {
            return;
        }
        let probe = self
            .inner
            .https
            .join("v2/")
            .unwrap_or_else(|_| self.inner.https.clone());
        let chosen = match self.inner.http.get(probe).send().await {
            Ok(_) => {
                self.inner.requests.fetch_add(1, Ordering::Relaxed);
                &self.inner.https
            }
            Err(e) if is_certificate_error(&e) => &self.inner.https,
            Err(e) => {
                tracing::debug!(host = %self.inner.host, "no TLS on this loopback registry ({}); using plain HTTP", flatten(&e));
                &self.inner.http_url
            }
        };
        let _ = self.inner.base.set(chosen.clone());
    }
}

/// Whether a request failed on the server's TLS certificate (as opposed to the server not
/// speaking TLS at all): rustls's error sits in the source chain, sometimes inside an io::Error.
pub(super) fn is_certificate_error(e: &reqwest::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = src {
        // io::Error hides what it wraps from `source()`; unwrap it by hand (it nests).
        let mut cur: &(dyn std::error::Error + 'static) = err;
        while let Some(inner) = cur
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            cur = inner;
        }
        if let Some(t) = cur.downcast_ref::<rustls::Error>() {
            return matches!(
                t,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        src = err.source();
    }
    false
}

/// Whether nothing listens where `e` tried to connect (the host refused the connection).
pub(super) fn is_refused(e: &reqwest::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = src {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        src = err.source();
    }
    false
}

/// `host:port` of a URL, for messages.
pub(super) fn authority(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// reqwest's error with its sources, on one line.
pub(super) fn flatten(e: &reqwest::Error) -> String {
    // reqwest's own message embeds the URL (with its query); describe the kind instead.
    let mut s = String::from(if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the body failed"
    } else {
        "request failed"
    });
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.8.9.1:1",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:1",
            "ghcr.io",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn a_missing_ca_file_keeps_its_io_error() {
        let opts = ClientOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..ClientOptions::default()
        };
        let e = http_client("r.example", &opts).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "credentials for r.example: cannot read CA file /nonexistent/ca.pem: "
            ),
            "{e}"
        );
        let cause = std::error::Error::source(&e).expect("the cause is kept");
        assert!(cause.downcast_ref::<std::io::Error>().is_some());
    }
}
