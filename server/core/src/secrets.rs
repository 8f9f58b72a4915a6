//! Secrets we hand out: gateway API keys (`dk-<public id>-<secret>`),
//! admin access tokens (`dat-<public id>-<secret>`) and SCIM provisioning
//! tokens (`dst-<public id>-<secret>`). Only SHA-256 digests are stored;
//! the public id finds the row, the digest proves the secret.

use rand::Rng;
use rand::distr::{Alphanumeric, Uniform};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const API_KEY_PREFIX: &str = "dk";
pub const ACCESS_TOKEN_PREFIX: &str = "dat";
pub const SCIM_TOKEN_PREFIX: &str = "dst";
const PUBLIC_ID_LEN: usize = 16;
const SECRET_LEN: usize = 40;
const PUBLIC_ID_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A string whose `Debug` never shows its content, so it can sit in config
/// and request structs without reaching a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// So command-line and environment settings can hold secrets as `Redacted`.
impl std::str::FromStr for Redacted {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// A freshly minted secret, before it is shown to its owner once.
#[derive(Debug)]
pub struct Minted {
    /// Identifies the secret in listings: `dk-<public id>`.
    pub prefix: String,
    pub public_id: String,
    /// The whole secret to give to the owner. Never stored.
    pub full: Redacted,
    /// SHA-256 of the part after the public id.
    pub hash: [u8; 32],
}

fn public_id() -> String {
    let pick = Uniform::new(0, PUBLIC_ID_ALPHABET.len()).expect("non-empty alphabet");
    rand::rng()
        .sample_iter(pick)
        .take(PUBLIC_ID_LEN)
        .map(|i| PUBLIC_ID_ALPHABET[i] as char)
        .collect()
}

fn mint(kind: &str) -> Minted {
    let public_id = public_id();
    let secret: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect();
    Minted {
        prefix: format!("{kind}-{public_id}"),
        full: Redacted(format!("{kind}-{public_id}-{secret}")),
        hash: sha256(secret.as_bytes()),
        public_id,
    }
}

/// A new gateway API key.
pub fn mint_api_key() -> Minted {
    mint(API_KEY_PREFIX)
}

/// A new admin API access token.
pub fn mint_access_token() -> Minted {
    mint(ACCESS_TOKEN_PREFIX)
}

/// A new SCIM provisioning token.
pub fn mint_scim_token() -> Minted {
    mint(SCIM_TOKEN_PREFIX)
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The parts of a presented secret of the given kind: `(public id, secret)`.
/// `None` when it is not shaped like one.
pub fn split<'a>(kind: &str, presented: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = presented.strip_prefix(kind)?.strip_prefix('-')?;
    let (public_id, secret) = rest.split_once('-')?;
    let well_formed = public_id.len() == PUBLIC_ID_LEN
        // PUBLIC_ID_ALPHABET as a range test: this runs on every gateway request.
        && public_id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        && secret.len() == SECRET_LEN
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    well_formed.then_some((public_id, secret))
}

/// Whether `secret` hashes to `expected`, in constant time.
pub fn verify(secret: &str, expected: &[u8]) -> bool {
    sha256(secret.as_bytes()).ct_eq(expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_id_takes_exactly_the_alphabet() {
        let secret = "a".repeat(SECRET_LEN);
        for b in 0..=u8::MAX {
            let public_id = format!("{}{}", "0".repeat(PUBLIC_ID_LEN - 1), b as char);
            let presented = format!("{API_KEY_PREFIX}-{public_id}-{secret}");
            assert_eq!(
                split(API_KEY_PREFIX, &presented).is_some(),
                PUBLIC_ID_ALPHABET.contains(&b),
                "byte {b}"
            );
        }
    }

    #[test]
    fn minted_key_round_trips() {
        let key = mint_api_key();
        assert!(key.full.0.starts_with(&format!("{}-", key.prefix)));
        let (public_id, secret) = split(API_KEY_PREFIX, &key.full.0).unwrap();
        assert_eq!(public_id, key.public_id);
        assert!(verify(secret, &key.hash));
        assert!(!verify("x", &key.hash));
    }

    #[test]
    fn split_rejects_malformed_and_foreign_kinds() {
        let token = mint_access_token();
        assert!(split(API_KEY_PREFIX, &token.full.0).is_none());
        assert!(split(ACCESS_TOKEN_PREFIX, &token.full.0).is_some());
        for bad in ["", "dk-", "dk-abc-def", "dk--", "sk-abcdefghijklmnop-x"] {
            assert!(split(API_KEY_PREFIX, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn redacted_hides_content() {
        assert_eq!(format!("{:?}", Redacted("s3cret".into())), "[redacted]");
    }

    #[test]
    fn secrets_are_unique() {
        let a = mint_api_key();
        let b = mint_api_key();
        assert_ne!(a.public_id, b.public_id);
        assert_ne!(a.hash, b.hash);
    }
}
