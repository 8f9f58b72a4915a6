//! Browser sessions: random tokens in an HttpOnly cookie, a CSRF token per
//! session, and the cookie attributes.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ditto_core::secrets::{Redacted, sha256};
use rand::RngCore;
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "ditto_session";
/// Readable by the console's scripts, which echo it in [`CSRF_HEADER`].
pub const CSRF_COOKIE: &str = "ditto_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long sessions live and how their cookies are set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however active.
    pub absolute_timeout: Duration,
    /// Mark cookies `Secure` (the console is served over HTTPS).
    pub secure_cookies: bool,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            secure_cookies: true,
        }
    }
}

/// The secrets of a new session, before they are handed to the browser.
#[derive(Debug)]
pub struct SessionSecrets {
    pub token: Redacted,
    pub token_hash: [u8; 32],
    pub csrf: Redacted,
    pub csrf_hash: [u8; 32],
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SessionSecrets {
    pub fn mint() -> Self {
        let token = random_token();
        let csrf = random_token();
        Self {
            token_hash: sha256(token.as_bytes()),
            csrf_hash: sha256(csrf.as_bytes()),
            token: Redacted(token),
            csrf: Redacted(csrf),
        }
    }
}

/// Whether a presented CSRF token is the session's.
pub fn csrf_matches(presented: &str, stored_hash: &[u8]) -> bool {
    bool::from(sha256(presented.as_bytes()).ct_eq(stored_hash))
}

impl SessionPolicy {
    /// The idle timeout, in whole seconds, as sessions store it.
    pub fn idle_secs(&self) -> i32 {
        i32::try_from(self.idle_timeout.as_secs()).unwrap_or(i32::MAX)
    }

    /// The absolute timeout, in whole seconds, as sessions store it.
    pub fn absolute_secs(&self) -> i64 {
        i64::try_from(self.absolute_timeout.as_secs()).unwrap_or(i64::MAX)
    }

    fn attributes(&self, http_only: bool, max_age: u64) -> String {
        let mut attrs = format!("; Path=/; SameSite=Lax; Max-Age={max_age}");
        if http_only {
            attrs.push_str("; HttpOnly");
        }
        if self.secure_cookies {
            attrs.push_str("; Secure");
        }
        attrs
    }

    /// The `Set-Cookie` values that hand a new session to the browser.
    pub fn cookies(&self, secrets: &SessionSecrets) -> [String; 2] {
        let age = self.absolute_timeout.as_secs();
        [
            format!(
                "{SESSION_COOKIE}={}{}",
                secrets.token.0,
                self.attributes(true, age)
            ),
            format!(
                "{CSRF_COOKIE}={}{}",
                secrets.csrf.0,
                self.attributes(false, age)
            ),
        ]
    }

    /// The `Set-Cookie` values that make the browser forget its session.
    pub fn cleared_cookies(&self) -> [String; 2] {
        [
            format!("{SESSION_COOKIE}={}", self.attributes(true, 0)),
            format!("{CSRF_COOKIE}={}", self.attributes(false, 0)),
        ]
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_the_attributes() {
        let policy = SessionPolicy::default();
        let secrets = SessionSecrets::mint();
        let [session, csrf] = policy.cookies(&secrets);
        assert!(session.starts_with(&format!("ditto_session={}", secrets.token.0)));
        assert!(session.contains("HttpOnly") && session.contains("Secure"));
        assert!(session.contains("SameSite=Lax") && session.contains("Max-Age=43200"));
        assert!(!csrf.contains("HttpOnly"));
        let insecure = SessionPolicy {
            secure_cookies: false,
            ..policy
        };
        assert!(!insecure.cookies(&secrets)[0].contains("Secure"));
        assert!(policy.cleared_cookies()[0].contains("Max-Age=0"));
        assert!(csrf_matches(&secrets.csrf.0, &secrets.csrf_hash));
        assert!(!csrf_matches(&secrets.token.0, &secrets.csrf_hash));
    }

    #[test]
    fn reads_cookies() {
        let h = "a=1; ditto_session=abc ; ditto_csrf=x";
        assert_eq!(cookie(h, "ditto_session"), Some("abc"));
        assert_eq!(cookie(h, "ditto_csrf"), Some("x"));
        assert_eq!(cookie(h, "missing"), None);
        assert_eq!(cookie("ditto_session=", "ditto_session"), None);
    }
}
