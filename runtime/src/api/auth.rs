//! Bearer-token auth. Reads need the read or the write token once a read token is set; writes
//! need the write token (or, with only a read token set, that one): setting any token closes
//! writes. Tokens are compared in constant time (over their SHA-256 digests, so that the
//! length does not leak either). A refused request learns nothing but 401 (or 403 when a read
//! token tries to write); `/-/healthy` and `/-/ready` stay open.

use super::{Access, Resp, plain};
use crate::config::ApiTokens;
use hyper::{HeaderMap, StatusCode, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The configured tokens, as digests.
#[derive(Clone, Default)]
pub struct Auth {
    read: Option<[u8; 32]>,
    write: Option<[u8; 32]>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("read", &self.read.is_some())
            .field("write", &self.write.is_some())
            .finish()
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    /// No token, or a wrong one: 401.
    Unauthorized,
    /// The read token on a write endpoint: 403.
    Forbidden,
}

impl Denied {
    /// The answer: a generic body that says nothing about the tokens.
    pub(crate) fn into_response(self) -> Resp {
        match self {
            Denied::Forbidden => plain(StatusCode::FORBIDDEN, "Forbidden\n"),
            Denied::Unauthorized => {
                let mut r = plain(StatusCode::UNAUTHORIZED, "Unauthorized\n");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                r
            }
        }
    }
}

/// What a request's credentials grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Grant {
    None,
    Read,
    Write,
}

impl Auth {
    /// Auth with these tokens; none set means every endpoint is open.
    pub fn new(tokens: &ApiTokens) -> Self {
        let digest = |s: &str| -> [u8; 32] { Sha256::digest(s.as_bytes()).into() };
        Self {
            read: tokens.read.as_ref().map(|t| digest(&t.0)),
            write: tokens.write.as_ref().map(|t| digest(&t.0)),
        }
    }

    /// Checks a request for `access`.
    pub(crate) fn check(&self, access: Access, headers: &HeaderMap) -> Result<(), Denied> {
        let needed = match access {
            Access::Open => return Ok(()),
            Access::Read if self.read.is_none() => return Ok(()),
            Access::Write if self.read.is_none() && self.write.is_none() => return Ok(()),
            Access::Read => Grant::Read,
            Access::Write => Grant::Write,
        };
        let grant = self.grant(headers);
        if grant >= needed {
            return Ok(());
        }
        Err(if grant == Grant::Read {
            Denied::Forbidden
        } else {
            Denied::Unauthorized
        })
    }

    fn grant(&self, headers: &HeaderMap) -> Grant {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
        else {
            return Grant::None;
        };
        let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let is = |d: &Option<[u8; 32]>| d.as_ref().is_some_and(|d| bool::from(d.ct_eq(&given)));
        // Both comparisons always run.
        let (write, read) = (is(&self.write), is(&self.read));
        if write {
            Grant::Write
        } else if read {
            // With no write token, the read token is the only one and may write.
            if self.write.is_none() {
                Grant::Write
            } else {
                Grant::Read
            }
        } else {
            Grant::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn headers(token: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(t) = token
            && let Ok(v) = header::HeaderValue::from_str(&format!("Bearer {t}"))
        {
            h.insert(header::AUTHORIZATION, v);
        }
        h
    }

    fn status(auth: &Auth, access: Access, token: Option<&str>) -> u16 {
        match auth.check(access, &headers(token)) {
            Ok(()) => 200,
            Err(d) => d.into_response().status().as_u16(),
        }
    }

    #[test]
    fn tokens_grant_reads_and_writes() {
        let auth = Auth::new(&ApiTokens {
            read: Some(Secret("r".into())),
            write: Some(Secret("w".into())),
        });
        assert_eq!(status(&auth, Access::Open, None), 200);
        assert_eq!(status(&auth, Access::Read, None), 401);
        assert_eq!(status(&auth, Access::Read, Some("x")), 401);
        assert_eq!(status(&auth, Access::Read, Some("r")), 200);
        assert_eq!(status(&auth, Access::Read, Some("w")), 200);
        assert_eq!(status(&auth, Access::Write, Some("r")), 403);
        assert_eq!(status(&auth, Access::Write, Some("w")), 200);
        assert_eq!(status(&auth, Access::Write, None), 401);
    }

    #[test]
    fn unset_tokens_leave_reads_open_but_any_token_closes_writes() {
        let open = Auth::default();
        assert_eq!(status(&open, Access::Write, None), 200);
        let write_only = Auth::new(&ApiTokens {
            read: None,
            write: Some(Secret("w".into())),
        });
        assert_eq!(status(&write_only, Access::Read, None), 200);
        assert_eq!(status(&write_only, Access::Write, None), 401);
        let read_only = Auth::new(&ApiTokens {
            read: Some(Secret("r".into())),
            write: None,
        });
        assert_eq!(status(&read_only, Access::Write, None), 401);
        assert_eq!(status(&read_only, Access::Write, Some("r")), 200);
    }
}
