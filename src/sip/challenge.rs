//! Digest authentication headers: the challenge of a 401/407
//! (`WWW-Authenticate`, `Proxy-Authenticate`) and the credentials of a
//! request (`Authorization`, `Proxy-Authorization`), borrowed from the
//! message. The digest computation itself is [`super::digest`]'s.
use super::parse::Message;
use super::values::{is_lws, split_outside, trim_lws, unquote};

/// A digest challenge (`WWW-Authenticate` / `Proxy-Authenticate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChallengeParams<'a> {
    /// The scheme (`Digest`).
    pub scheme: &'a str,
    /// `realm`.
    pub realm: Option<&'a str>,
    /// `nonce`.
    pub nonce: Option<&'a str>,
    /// `algorithm` (absent means MD5).
    pub algorithm: Option<&'a str>,
    /// `qop` as sent (`auth` or `auth,auth-int`).
    pub qop: Option<&'a str>,
    /// `opaque`.
    pub opaque: Option<&'a str>,
    /// `stale=true`.
    pub stale: bool,
    /// `domain`.
    pub domain: Option<&'a str>,
}

impl<'a> ChallengeParams<'a> {
    /// Whether `qop` offers `q` (`auth`).
    pub fn offers_qop(&self, q: &str) -> bool {
        self.qop
            .is_some_and(|list| list.split(',').any(|x| trim_lws(x).eq_ignore_ascii_case(q)))
    }
}

/// Credentials (`Authorization` / `Proxy-Authorization`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CredentialParams<'a> {
    /// The scheme (`Digest`).
    pub scheme: &'a str,
    /// `username`.
    pub username: Option<&'a str>,
    /// `realm`.
    pub realm: Option<&'a str>,
    /// `nonce`.
    pub nonce: Option<&'a str>,
    /// `uri`.
    pub uri: Option<&'a str>,
    /// `response`.
    pub response: Option<&'a str>,
    /// `algorithm`.
    pub algorithm: Option<&'a str>,
    /// `cnonce`.
    pub cnonce: Option<&'a str>,
    /// `nc`.
    pub nc: Option<&'a str>,
    /// `qop`.
    pub qop: Option<&'a str>,
    /// `opaque`.
    pub opaque: Option<&'a str>,
}

/// `scheme k=v, k="v", ...` → scheme and the (key, value) pairs.
fn auth_params(value: &str) -> (&str, impl Iterator<Item = (&str, &str)>) {
    let value = trim_lws(value);
    let (scheme, rest) = value.split_once(is_lws).unwrap_or((value, ""));
    let pairs = split_outside(rest, ',').filter_map(|p| {
        let (k, v) = p.split_once('=')?;
        Some((trim_lws(k), unquote(trim_lws(v))))
    });
    (scheme, pairs)
}

impl<'a> Message<'a> {
    fn challenge(&self, full: &str) -> Option<ChallengeParams<'a>> {
        let h = self.headers_named(full).find(|h| {
            let (scheme, _) = auth_params(h.value);
            scheme.eq_ignore_ascii_case("digest")
        })?;
        let (scheme, pairs) = auth_params(h.value);
        let mut c = ChallengeParams {
            scheme,
            ..Default::default()
        };
        for (k, v) in pairs {
            let is = |n: &str| k.eq_ignore_ascii_case(n);
            if is("realm") {
                c.realm = Some(v);
            } else if is("nonce") {
                c.nonce = Some(v);
            } else if is("algorithm") {
                c.algorithm = Some(v);
            } else if is("qop") {
                c.qop = Some(v);
            } else if is("opaque") {
                c.opaque = Some(v);
            } else if is("stale") {
                c.stale = v.eq_ignore_ascii_case("true");
            } else if is("domain") {
                c.domain = Some(v);
            }
        }
        Some(c)
    }

    /// The digest challenge of a 401.
    pub fn www_authenticate(&self) -> Option<ChallengeParams<'a>> {
        self.challenge("www-authenticate")
    }

    /// The digest challenge of a 407.
    pub fn proxy_authenticate(&self) -> Option<ChallengeParams<'a>> {
        self.challenge("proxy-authenticate")
    }

    fn credentials(&self, full: &str) -> Option<CredentialParams<'a>> {
        let h = self.header(full)?;
        let (scheme, pairs) = auth_params(h);
        let mut c = CredentialParams {
            scheme,
            ..Default::default()
        };
        for (k, v) in pairs {
            let slot = [
                ("username", &mut c.username),
                ("realm", &mut c.realm),
                ("nonce", &mut c.nonce),
                ("uri", &mut c.uri),
                ("response", &mut c.response),
                ("algorithm", &mut c.algorithm),
                ("cnonce", &mut c.cnonce),
                ("nc", &mut c.nc),
                ("qop", &mut c.qop),
                ("opaque", &mut c.opaque),
            ]
            .into_iter()
            .find(|(n, _)| k.eq_ignore_ascii_case(n));
            if let Some((_, field)) = slot {
                *field = Some(v);
            }
        }
        Some(c)
    }

    /// `Authorization`.
    pub fn authorization(&self) -> Option<CredentialParams<'a>> {
        self.credentials("authorization")
    }

    /// `Proxy-Authorization`.
    pub fn proxy_authorization(&self) -> Option<CredentialParams<'a>> {
        self.credentials("proxy-authorization")
    }

    /// Whichever of `Authorization` / `Proxy-Authorization` is present.
    pub fn any_authorization(&self) -> Option<CredentialParams<'a>> {
        self.authorization().or_else(|| self.proxy_authorization())
    }
}
