//! Registry auth: the challenge last seen, bearer tokens cached per scope, and the token
//! request (docker's token protocol, or OAuth2 with an identity token).

use super::challenge::{self, Challenge};
use super::connect::flatten;
use super::credentials::Credential;
use super::error::{describe_body, Cause, RegistryError, Request};
use super::send::read_limited;
use super::Client;
use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::Url;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub(super) struct Token {
    value: String,
    expires: Instant,
}

#[derive(Default)]
pub(super) struct AuthState {
    challenge: Option<Challenge>,
    tokens: HashMap<String, Token>,
    /// One lock per scope, held while its token is fetched: requests for a scope wait for one
    /// token request (no stampede) while other scopes fetch theirs at the same time.
    fetching: HashMap<String, Arc<Mutex<()>>>,
}

impl Client {
    /// The `Authorization` value for a request in `scope`, fetching a token when the registry
    /// asked for bearer auth before.
    pub(super) async fn authorization(&self, scope: &str) -> Result<Option<String>, RegistryError> {
        let valid = |st: &AuthState| {
            st.tokens
                .get(scope)
                .filter(|t| t.expires > Instant::now())
                .map(|t| format!("Bearer {}", t.value))
        };
        let (ch, gate) = {
            let mut st = self.inner.auth.lock().await;
            let Some(ch) = st.challenge.clone() else {
                return Ok(None);
            };
            if ch.scheme != "bearer" {
                (ch, None)
            } else if let Some(h) = valid(&st) {
                return Ok(Some(h));
            } else {
                let gate = st.fetching.entry(scope.to_string()).or_default().clone();
                (ch, Some(gate))
            }
        };
        match ch.scheme.as_str() {
            "basic" => Ok(self.basic_header()),
            "bearer" => {
                let gate = gate.unwrap_or_default();
                let _one = gate.lock().await;
                // Another request may have fetched it while this one waited.
                if let Some(h) = valid(&*self.inner.auth.lock().await) {
                    return Ok(Some(h));
                }
                let token = self.fetch_token(&ch, scope).await?;
                let header = format!("Bearer {}", token.value);
                self.inner
                    .auth
                    .lock()
                    .await
                    .tokens
                    .insert(scope.to_string(), token);
                Ok(Some(header))
            }
            other => {
                Err(self.auth_error(format!("unsupported authentication scheme {other:?}"), None))
            }
        }
    }

    /// Takes up the challenge of a 401 so the next attempt authenticates: `None` when there is
    /// none we can answer (then the 401 stands), else the scope to ask for from now on, which
    /// adds any scope the challenge names that `scope` lacks (a registry that wants more than we
    /// asked for says so in `scope="…"`, as distribution does with `insufficient_scope`).
    pub(super) async fn learn_challenge(
        &self,
        resp: &reqwest::Response,
        scope: &str,
    ) -> Option<String> {
        let ch = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(challenge::parse)?;
        if ch.scheme == "basic" && self.basic_header().is_none() {
            return None;
        }
        let wider = widen(scope, ch.params.get("scope").map(String::as_str));
        let mut st = self.inner.auth.lock().await;
        st.tokens.remove(scope);
        st.tokens.remove(&wider);
        st.challenge = Some(ch);
        Some(wider)
    }

    /// `text` with every form of a known secret (password, identity token, the Basic header
    /// value) replaced: a registry may echo what it was sent in an error body.
    pub(super) fn redact(&self, text: &str) -> String {
        use base64::Engine as _;
        let secrets: Vec<String> = match &self.inner.credential {
            Some(Credential::Basic { username, password }) => vec![
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")),
                password.clone(),
            ],
            Some(Credential::IdentityToken(t)) => vec![t.clone()],
            None => Vec::new(),
        };
        let mut out = text.to_string();
        for s in secrets.iter().filter(|s| s.len() >= 4) {
            out = out.replace(s.as_str(), "<redacted>");
        }
        out
    }

    pub(super) fn basic_header(&self) -> Option<String> {
        use base64::Engine as _;
        match &self.inner.credential {
            Some(Credential::Basic { username, password }) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            _ => None,
        }
    }

    fn auth_error(&self, reason: String, source: Option<Cause>) -> RegistryError {
        RegistryError::Auth {
            registry: self.inner.host.clone(),
            reason,
            source,
        }
    }

    async fn fetch_token(&self, ch: &Challenge, scope: &str) -> Result<Token, RegistryError> {
        let fail = |reason: &str| self.auth_error(reason.into(), None);
        let realm = ch
            .params
            .get("realm")
            .ok_or_else(|| fail("bearer challenge without realm"))?;
        let url = Url::parse(realm)
            .map_err(|e| self.auth_error("bearer realm is not a URL".into(), Some(e.into())))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail("bearer realm is not an http(s) URL"));
        }
        // Credentials go to the realm the registry names, on whatever host (as docker does);
        // never in clear text when the registry itself is reached over HTTPS.
        let realm_host = url.host_str().unwrap_or_default().to_string();
        let realm_authority = match url.port() {
            Some(p) => format!("{realm_host}:{p}"),
            None => realm_host,
        };
        if url.scheme() == "http"
            && self.base().scheme() == "https"
            && !super::connect::is_loopback(&realm_authority)
        {
            return Err(fail(
                "the HTTPS registry names a plain-HTTP token realm; refusing to send credentials there",
            ));
        }
        let service = ch.params.get("service").cloned().unwrap_or_default();
        // Named for messages only: the query (scope, service) is dropped either way.
        let request = Request::new("GET", &url);
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .token_request(url, &service, scope)
            .await
            .map_err(|e| {
                let reason = format!("token request to {} failed: {}", request.url, flatten(&e));
                self.auth_error(reason, Some(e.without_url().into()))
            })?;
        let status = resp.status();
        let body = read_limited(resp, 1 << 20, &request).await?;
        if !status.is_success() {
            let code = status.as_u16();
            let reason = format!(
                "token endpoint answered HTTP {code}: {}",
                self.redact(&describe_body(&body))
            );
            return Err(self.auth_error(reason, None));
        }
        parse_token(&body).map_err(fail)
    }

    /// Sends the token request: an OAuth2 POST for an identity token (falling back to docker's
    /// GET where the endpoint has no OAuth2: 400, 401, 404 or 405, as containerd does), else
    /// docker's GET, with basic auth when we have a password.
    async fn token_request(
        &self,
        url: Url,
        service: &str,
        scope: &str,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let Some(Credential::IdentityToken(refresh)) = &self.inner.credential else {
            return self.token_get(url, service, scope, None).await;
        };
        // Several scopes go in one space-separated `scope` field (RFC 6749 §3.3).
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("service", service),
            ("scope", scope),
            ("client_id", "referrify"),
            ("access_type", "offline"),
        ];
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = self
            .inner
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        if !matches!(resp.status().as_u16(), 400 | 401 | 404 | 405) {
            return Ok(resp);
        }
        tracing::debug!(
            status = resp.status().as_u16(),
            "token endpoint refused the OAuth2 POST; asking with GET"
        );
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        self.token_get(url, service, scope, Some(("<token>", refresh.as_str())))
            .await
    }

    /// Docker's token GET: one `scope` parameter per scope.
    async fn token_get(
        &self,
        mut url: Url,
        service: &str,
        scope: &str,
        login: Option<(&str, &str)>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        {
            let mut q = url.query_pairs_mut();
            if !service.is_empty() {
                q.append_pair("service", service);
            }
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                q.append_pair("scope", s);
            }
        }
        let login = login.or(match &self.inner.credential {
            Some(Credential::Basic { username, password }) => {
                Some((username.as_str(), password.as_str()))
            }
            _ => None,
        });
        let mut req = self.inner.http.get(url);
        if let Some((user, password)) = login {
            req = req.basic_auth(user, Some(password));
        }
        req.send().await
    }
}

/// `scope` with every scope of `asked` it lacks added (space-separated, as token requests and
/// the token cache take them).
pub(super) fn widen(scope: &str, asked: Option<&str>) -> String {
    let mut out: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    for s in asked.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !covers(&out, s) {
            out.push(s);
        }
    }
    out.join(" ")
}

/// Whether the scopes `have` already grant `want` (`repository:x:pull` is granted by
/// `repository:x:pull,push`).
fn covers(have: &[&str], want: &str) -> bool {
    let Some((resource, actions)) = want.rsplit_once(':') else {
        return have.contains(&want);
    };
    have.iter().any(|h| match h.rsplit_once(':') {
        Some((r, a)) if r == resource => actions
            .split(',')
            .all(|x| a.split(',').any(|y| y == x || y == "*")),
        _ => false,
    })
}

/// A token endpoint's answer (`token` or `access_token`), valid a little less than it says.
fn parse_token(body: &[u8]) -> Result<Token, &'static str> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    // The JSON error is not kept as a cause: serde's messages quote values, here secrets.
    let t: TokenResponse = serde_json::from_slice(body)
        .map_err(|_| "token endpoint answered something that is not a token")?;
    let value = t
        .token
        .or(t.access_token)
        .filter(|v| !v.is_empty())
        .ok_or("token endpoint answered without a token")?;
    // At least a minute (docker's rule for shorter or missing lifetimes), at most a day: a
    // hostile `expires_in` cannot overflow the clock.
    let life = Duration::from_secs(t.expires_in.unwrap_or(60).clamp(60, 86_400));
    Ok(Token {
        value,
        expires: Instant::now() + life - Duration::from_secs(10),
    })
}

#[cfg(test)]
mod tests {
    use super::widen;

    #[test]
    fn a_challenge_widens_the_scope_only_by_what_it_lacks() {
        let mine = "repository:a/b:pull,push";
        assert_eq!(widen(mine, None), mine);
        assert_eq!(widen(mine, Some("repository:a/b:pull")), mine);
        assert_eq!(
            widen(mine, Some("repository:c:pull repository:a/b:push")),
            "repository:a/b:pull,push repository:c:pull"
        );
        assert_eq!(
            widen("repository:a:pull", Some("repository:a:pull,push")),
            "repository:a:pull repository:a:pull,push"
        );
        assert_eq!(widen("", Some("registry:catalog:*")), "registry:catalog:*");
    }

    #[test]
    fn a_hostile_token_lifetime_does_not_panic() {
        for n in ["0", "1", "18446744073709551615", "9223372036854775807"] {
            let body = format!(r#"{{"token":"t","expires_in":{n}}}"#);
            let t = super::parse_token(body.as_bytes()).unwrap();
            assert!(t.expires > std::time::Instant::now());
        }
    }

    fn client_with_password(host: &str) -> (super::Client, tempfile::TempDir) {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pass");
        let config = format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#);
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        let opts = super::super::ClientOptions {
            docker_config: Some(dir.path().join("config.json")),
            ..Default::default()
        };
        (super::Client::new(host, host, &opts).unwrap(), dir)
    }

    #[test]
    fn credentials_never_go_to_a_plain_http_realm_of_an_https_registry() {
        let (c, _d) = client_with_password("registry.example");
        let ch =
            super::challenge::parse(r#"Bearer realm="http://other.example/token",service="x""#)
                .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(c.fetch_token(&ch, "repository:a:pull"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("plain-HTTP token realm"), "{e}");
        assert_eq!(c.request_count(), 0, "nothing was sent");
    }

    #[test]
    fn a_secret_echoed_by_the_registry_is_redacted() {
        let (c, _d) = client_with_password("registry.example");
        let echoed = "bad login alice:s3cret-pass YWxpY2U6czNjcmV0LXBhc3M= end";
        let r = c.redact(echoed);
        assert!(
            !r.contains("s3cret-pass") && !r.contains("YWxpY2U6czNjcmV0LXBhc3M="),
            "{r}"
        );
    }
}
