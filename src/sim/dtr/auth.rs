//! Authentication (docs/reference/api-facts.md §3.1, §3.2): Basic auth, the registry token service and its
//! bearer tokens, `/basic_info`, and the admin check.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::time::Instant;

use hyper::StatusCode;
use hyper::header::{AUTHORIZATION, HeaderMap};
use serde_json::json;
use time::OffsetDateTime;

use super::DtrHandle;
use super::encoding::{base64_decode, base64url_encode, rfc3339, uuid_from};
use crate::sim::{Outcome, SimUser, error_reply, json_reply, lock};

pub(super) struct TokenSession {
    user: usize,
    expires_at: Instant,
}

/// Who made an authenticated request.
pub(super) struct Principal<'a> {
    user: &'a SimUser,
    method: &'static str,
}

impl DtrHandle {
    /// §3.1: Basic auth with a known user's password, or a bearer token from `/auth/token`.
    pub(super) fn authenticate(&self, headers: &HeaderMap) -> Result<Principal<'_>, Outcome> {
        let unauthenticated =
            |message: &str| error_reply(StatusCode::UNAUTHORIZED, "NOT_AUTHENTICATED", message);
        let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Err(unauthenticated("authentication required"));
        };
        let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            return self
                .basic_user(credentials)
                .map(|user| Principal {
                    user,
                    method: "BasicAuth",
                })
                .ok_or_else(|| unauthenticated("invalid username or password"));
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let mut state = lock(&self.inner.state);
            let now = Instant::now();
            let user = match state.tokens.get(credentials) {
                Some(session) if session.expires_at > now => Some(session.user),
                Some(_) => {
                    state.tokens.remove(credentials);
                    None
                }
                None => None,
            };
            drop(state);
            return user
                .and_then(|i| self.inner.users.get(i))
                .map(|user| Principal {
                    user,
                    method: "Token",
                })
                .ok_or_else(|| unauthenticated("token expired or invalid"));
        }
        Err(unauthenticated("unsupported authorization scheme"))
    }

    fn basic_user(&self, credentials: &str) -> Option<&SimUser> {
        let decoded = base64_decode(credentials)?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (name, password) = decoded.split_once(':')?;
        self.inner
            .users
            .iter()
            .find(|u| u.name == name && u.password == password)
    }

    /// §3.1 registry token service: Basic auth only; `service`/`scope` are ignored. The token
    /// is JWT-shaped (not verifiable). `expires_in` is the simulator's token TTL in seconds
    /// (the spec default is 60; DTR's value is UNCONFIRMED).
    pub(super) fn issue_token(&self, headers: &HeaderMap) -> Outcome {
        let credentials = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
            });
        let Some(credentials) = credentials else {
            return error_reply(
                StatusCode::UNAUTHORIZED,
                "NOT_AUTHENTICATED",
                "basic authentication required",
            );
        };
        let Some(user) = self.basic_user(credentials) else {
            return error_reply(
                StatusCode::UNAUTHORIZED,
                "NOT_AUTHENTICATED",
                "invalid username or password",
            );
        };
        let index = self
            .inner
            .users
            .iter()
            .position(|u| std::ptr::eq(u, user))
            .unwrap_or_default();
        let issued = OffsetDateTime::now_utc();
        let ttl = self.inner.token_ttl;
        let claims = json!({
            "iss": "stigfix simulated DTR",
            "sub": user.name,
            "aud": self.inner.host,
            "iat": issued.unix_timestamp(),
            "exp": issued.unix_timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            "jti": hex::encode(self.random_bytes::<16>()),
        });
        let token = format!(
            "{}.{}.{}",
            base64url_encode(br#"{"typ":"JWT","alg":"ES256"}"#),
            base64url_encode(claims.to_string().as_bytes()),
            base64url_encode(&self.random_bytes::<64>()),
        );
        let now = Instant::now();
        let mut state = lock(&self.inner.state);
        state.tokens.retain(|_, s| s.expires_at > now);
        state.tokens.insert(
            token.clone(),
            TokenSession {
                user: index,
                expires_at: now + ttl,
            },
        );
        drop(state);
        json_reply(
            StatusCode::OK,
            &json!({
                "token": token,
                "access_token": token,
                "expires_in": ttl.as_secs(),
                "issued_at": rfc3339(issued),
            }),
        )
    }

    /// §3.2. `AuthnMethod` is `BasicAuth` or `Token` here (only `TLSClientCertificate` is
    /// attested).
    pub(super) fn basic_info(&self, principal: &Principal<'_>) -> Outcome {
        let user = principal.user;
        json_reply(
            StatusCode::OK,
            &json!({
                "CurrentVersion": self.inner.version,
                "User": {
                    "name": user.name,
                    "id": uuid_from(&format!("user:{}", user.name)),
                    "fullName": "",
                    "isOrg": false,
                    "isAdmin": user.admin,
                    "isActive": true,
                    "isImported": false,
                },
                "IsAdmin": user.admin,
                "AuthnMethod": principal.method,
            }),
        )
    }

    fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut bytes = [0u8; N];
        let provider = rustls::crypto::ring::default_provider();
        if provider.secure_random.fill(&mut bytes).is_err() {
            // Not expected; fall back to std's randomly keyed hasher plus a counter.
            let n = self.inner.counter.fetch_add(1, Ordering::Relaxed);
            for (i, chunk) in bytes.chunks_mut(8).enumerate() {
                let mut h = std::hash::RandomState::new().build_hasher();
                h.write_u64(n);
                h.write_usize(i);
                let word = h.finish().to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
        }
        bytes
    }
}

pub(super) fn require_admin(principal: &Principal<'_>) -> Result<(), Outcome> {
    if principal.user.admin {
        Ok(())
    } else {
        Err(error_reply(
            StatusCode::FORBIDDEN,
            "NOT_AUTHORIZED",
            "this operation requires admin access",
        ))
    }
}
