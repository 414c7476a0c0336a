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

    /// Takes up the challenge of a 401 so the next attempt authenticates; `false` when there is
    /// none we can answer (then the 401 stands).
    pub(super) async fn learn_challenge(&self, resp: &reqwest::Response, scope: &str) -> bool {
        let Some(ch) = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(challenge::parse)
        else {
            return false;
        };
        if ch.scheme == "basic" && self.basic_header().is_none() {
            return false;
        }
        let mut st = self.inner.auth.lock().await;
        st.tokens.remove(scope);
        st.challenge = Some(ch);
        true
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
                describe_body(&body)
            );
            return Err(self.auth_error(reason, None));
        }
        parse_token(&body).map_err(fail)
    }

    /// Sends the token request: an OAuth2 POST for an identity token, else docker's GET with
    /// basic auth when we have a password.
    async fn token_request(
        &self,
        mut url: Url,
        service: &str,
        scope: &str,
    ) -> Result<reqwest::Response, reqwest::Error> {
        match &self.inner.credential {
            Some(Credential::IdentityToken(refresh)) => {
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
                self.inner
                    .http
                    .post(url)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
            }
            cred => {
                {
                    let mut q = url.query_pairs_mut();
                    if !service.is_empty() {
                        q.append_pair("service", service);
                    }
                    q.append_pair("scope", scope);
                }
                let mut req = self.inner.http.get(url);
                if let Some(Credential::Basic { username, password }) = cred {
                    req = req.basic_auth(username, Some(password));
                }
                req.send().await
            }
        }
    }
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
    let life = Duration::from_secs(t.expires_in.unwrap_or(60).max(60));
    Ok(Token {
        value,
        expires: Instant::now() + life - Duration::from_secs(10),
    })
}
