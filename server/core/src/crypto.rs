//! Encryption at rest of upstream credentials: AES-256-GCM under the
//! platform's master key, with the owning row's id as associated data so a
//! ciphertext cannot be moved to another row.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::{Error, Result};

const NONCE_LEN: usize = 12;

/// The master key. Its `Debug` shows nothing.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// From 32 bytes encoded in base64 (`openssl rand -base64 32`).
    pub fn from_base64(encoded: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| "must be base64 (e.g. from `openssl rand -base64 32`)".to_owned())?;
        if bytes.len() != 32 {
            return Err(format!("must decode to 32 bytes, not {}", bytes.len()));
        }
        Ok(Self(
            Aes256Gcm::new_from_slice(&bytes).map_err(|e| e.to_string())?,
        ))
    }

    /// A fresh random key, base64-encoded.
    pub fn generate_base64() -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        STANDARD.encode(bytes)
    }

    pub fn encrypt(&self, plaintext: &[u8], bound_to: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: bound_to,
                },
            )
            .expect("AES-GCM encryption does not fail for in-memory buffers");
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn decrypt(&self, sealed: &[u8], bound_to: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::Internal("stored credentials are truncated".into()));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
        self.0
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: bound_to,
                },
            )
            .map_err(|_| {
                Error::Internal("stored credentials do not decrypt with this master key".into())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_bound_to_its_row() {
        let key = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let sealed = key.encrypt(b"sk-upstream", b"row-1");
        assert!(!sealed.windows(11).any(|w| w == b"sk-upstream"));
        assert_eq!(key.decrypt(&sealed, b"row-1").unwrap(), b"sk-upstream");
        assert!(key.decrypt(&sealed, b"row-2").is_err());
        let other = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        assert!(other.decrypt(&sealed, b"row-1").is_err());
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }
}
