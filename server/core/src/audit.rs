//! The audit trail's rules, without I/O: the canonical form of an event and
//! its place in a hash chain (`hash = SHA-256(prev_hash ‖ canonical event)`),
//! what is redacted from before/after images, signed checkpoints, and the
//! walk that finds a chain's first broken link.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `prev_hash` of a chain's first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// What replaces a secret in a before/after image.
pub const REDACTED: &str = crate::redact::REDACTED;

/// One audit event, as hashed. Field order and formats are fixed by
/// [`AuditRecord::canonical`]; changing them breaks every stored chain.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    pub id: Uuid,
    /// `None` on the platform chain.
    pub tenant_id: Option<Uuid>,
    pub seq: i64,
    /// Microsecond precision, as Postgres stores it.
    pub created_at: DateTime<Utc>,
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl AuditRecord {
    /// The event as JSON with keys sorted and no whitespace.
    pub fn canonical(&self) -> Vec<u8> {
        let opt_str = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        let opt_uuid = |v: Option<Uuid>| v.map_or(Value::Null, |u| Value::String(u.to_string()));
        let fields: [(&str, Value); 14] = [
            ("action", Value::String(self.action.clone())),
            ("actor_id", opt_uuid(self.actor_id)),
            ("actor_type", Value::String(self.actor_type.clone())),
            ("after", self.after.clone().unwrap_or(Value::Null)),
            ("before", self.before.clone().unwrap_or(Value::Null)),
            (
                "created_at",
                Value::String(self.created_at.to_rfc3339_opts(SecondsFormat::Micros, true)),
            ),
            ("id", Value::String(self.id.to_string())),
            ("request_id", opt_str(&self.request_id)),
            ("seq", Value::from(self.seq)),
            ("source_ip", opt_str(&self.source_ip)),
            ("target_id", opt_str(&self.target_id)),
            ("target_type", Value::String(self.target_type.clone())),
            ("tenant_id", opt_uuid(self.tenant_id)),
            ("user_agent", opt_str(&self.user_agent)),
        ];
        let mut out = Vec::with_capacity(512);
        out.push(b'{');
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_canonical(&mut out, &Value::String((*k).to_owned()));
            out.push(b':');
            write_canonical(&mut out, v);
        }
        out.push(b'}');
        out
    }

    /// `SHA-256(prev_hash ‖ canonical event)`.
    pub fn hash(&self, prev_hash: &[u8; 32]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(prev_hash);
        h.update(self.canonical());
        h.finalize().into()
    }
}

/// JSON with object keys in byte order at every depth.
fn write_canonical(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, &Value::String(k.clone()));
                out.push(b':');
                write_canonical(out, &map[k]);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, v);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

/// Whether a field of a before/after image holds a secret (see
/// [`crate::redact`]): hashes of keys and tokens, sealed upstream
/// credentials, anything called a secret or password.
pub fn is_secret_field(name: &str) -> bool {
    crate::redact::policy().is_secret_field(name)
}

/// Redacts a before/after image with the redaction policy
/// ([`crate::redact`]): secret fields at any depth, prompt and completion
/// content, credential-looking strings. Absent and null values stay as
/// they are.
pub fn redact(value: &mut Value) {
    crate::redact::policy().json(value)
}

/// A stored event as the chain walk sees it.
#[derive(Clone, Debug)]
pub struct ChainLink {
    pub record: AuditRecord,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// The first link that does not hold, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub reason: String,
}

/// Checks a chain link by link, in sequence order, from an anchor (the
/// genesis or a checkpoint).
#[derive(Debug)]
pub struct ChainWalk {
    next_seq: i64,
    prev_hash: [u8; 32],
    checked: u64,
}

impl ChainWalk {
    /// Starts after `seq` whose hash is `hash` (`0` and [`GENESIS`] for a
    /// whole chain).
    pub fn from(seq: i64, hash: [u8; 32]) -> Self {
        Self {
            next_seq: seq + 1,
            prev_hash: hash,
            checked: 0,
        }
    }

    /// Checks the next link: its sequence number follows the last, it points
    /// at the last hash, and its own hash matches its content.
    pub fn step(&mut self, link: &ChainLink) -> Result<(), BrokenLink> {
        let seq = link.record.seq;
        if seq != self.next_seq {
            return Err(BrokenLink {
                seq: self.next_seq,
                reason: if seq > self.next_seq {
                    format!(
                        "event {} is missing (the next stored event is {seq})",
                        self.next_seq
                    )
                } else {
                    format!("event {seq} appears out of order")
                },
            });
        }
        if link.prev_hash.as_slice() != self.prev_hash {
            return Err(BrokenLink {
                seq,
                reason: "its prev_hash is not the previous event's hash".into(),
            });
        }
        let expected = link.record.hash(&self.prev_hash);
        if link.hash.as_slice() != expected {
            return Err(BrokenLink {
                seq,
                reason: "its hash does not match its content".into(),
            });
        }
        self.prev_hash = expected;
        self.next_seq += 1;
        self.checked += 1;
        Ok(())
    }

    /// The last sequence number checked (or the anchor's).
    pub fn last_seq(&self) -> i64 {
        self.next_seq - 1
    }

    pub fn last_hash(&self) -> [u8; 32] {
        self.prev_hash
    }

    pub fn checked(&self) -> u64 {
        self.checked
    }
}

/// The statement a checkpoint signs.
pub fn checkpoint_message(
    tenant_id: Option<Uuid>,
    seq: i64,
    hash: &[u8],
    created_at: DateTime<Utc>,
) -> Vec<u8> {
    format!(
        "ditto-audit-checkpoint/v1\n{}\n{seq}\n{}\n{}",
        tenant_id.map_or_else(|| "platform".to_owned(), |t| t.to_string()),
        hex::encode(hash),
        created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    )
    .into_bytes()
}

/// The Ed25519 key that signs checkpoints, with the public keys of the
/// keys it replaced (checkpoints they signed still verify). Its `Debug`
/// shows only key ids.
#[derive(Clone)]
pub struct AuditSigner {
    key: SigningKey,
    retired: Vec<PublicKey>,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditSigner({}", self.key_id())?;
        for k in &self.retired {
            write!(f, ", retired {}", k.key_id)?;
        }
        f.write_str(")")
    }
}

/// A public key checkpoints may be signed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// First 8 bytes of SHA-256 of the key, hex.
    pub key_id: String,
    /// The 32-byte key, base64.
    pub public_key: String,
    /// Whether it is the key signing new checkpoints (else retired).
    pub current: bool,
}

impl PublicKey {
    /// From a base64 Ed25519 public key.
    pub fn retired(encoded: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| "must be base64".to_owned())?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| format!("must decode to 32 bytes, not {}", bytes.len()))?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| "is not an Ed25519 public key".to_owned())?;
        Ok(Self {
            key_id: key_id(&bytes),
            public_key: STANDARD.encode(bytes),
            current: false,
        })
    }
}

/// The keys checkpoints verify with: the current signing key's and the
/// retired ones', current first.
#[derive(Clone, Debug, Default)]
pub struct PublicKeys(Vec<PublicKey>);

impl PublicKeys {
    pub fn new(keys: Vec<PublicKey>) -> Self {
        Self(keys)
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.0
    }

    /// The id of the listed key `signature` verifies with, trying the key
    /// the checkpoint names (`key_id`) first; `None` when none does.
    pub fn verify(&self, key_id: &str, message: &[u8], signature: &[u8]) -> Option<&str> {
        let named = self.0.iter().filter(|k| k.key_id == key_id);
        let others = self.0.iter().filter(|k| k.key_id != key_id);
        named
            .chain(others)
            .find(|k| verify_signature(&k.public_key, message, signature))
            .map(|k| k.key_id.as_str())
    }
}

/// Parses a comma-separated list of base64 Ed25519 public keys (retired
/// checkpoint signing keys).
pub fn parse_public_keys(list: &str) -> Result<Vec<PublicKey>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .enumerate()
        .map(|(i, k)| PublicKey::retired(k).map_err(|e| format!("key {}: {e}", i + 1)))
        .collect()
}

impl AuditSigner {
    /// From a 32-byte seed encoded in base64 (`openssl rand -base64 32`).
    pub fn from_base64(encoded: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| "must be base64 (e.g. from `openssl rand -base64 32`)".to_owned())?;
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| format!("must decode to 32 bytes, not {}", bytes.len()))?;
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
            retired: Vec::new(),
        })
    }

    /// A fresh random seed, base64-encoded.
    pub fn generate_base64() -> String {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        STANDARD.encode(seed)
    }

    /// The same key, with checkpoints of `retired` keys still verifying.
    /// The current key is never listed as retired.
    pub fn with_retired(mut self, retired: Vec<PublicKey>) -> Self {
        let current = self.key_id();
        self.retired = retired
            .into_iter()
            .filter(|k| k.key_id != current)
            .collect();
        self.retired.dedup_by(|a, b| a.key_id == b.key_id);
        self
    }

    /// The public key, base64-encoded.
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(self.key.verifying_key().as_bytes())
    }

    /// A short name of the key: the first 8 bytes of its public key's SHA-256, in hex.
    pub fn key_id(&self) -> String {
        key_id(self.key.verifying_key().as_bytes())
    }

    /// Every key checkpoints verify with: this one, then the retired ones.
    pub fn public_keys(&self) -> PublicKeys {
        let current = PublicKey {
            key_id: self.key_id(),
            public_key: self.public_key_base64(),
            current: true,
        };
        PublicKeys(
            std::iter::once(current)
                .chain(self.retired.iter().cloned())
                .collect(),
        )
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

fn key_id(public_key: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_key)[..8])
}

/// Checks a checkpoint signature against a base64 public key.
pub fn verify_signature(public_key_base64: &str, message: &[u8], signature: &[u8]) -> bool {
    let Ok(bytes) = STANDARD.decode(public_key_base64.trim()) else {
        return false;
    };
    let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice()) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&bytes) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    key.verify(message, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(seq: i64) -> AuditRecord {
        AuditRecord {
            id: Uuid::now_v7(),
            tenant_id: Some(Uuid::now_v7()),
            seq,
            created_at: Utc::now(),
            actor_type: "service_account".into(),
            actor_id: Some(Uuid::now_v7()),
            action: "budgets.create".into(),
            target_type: "budget".into(),
            target_id: Some("x".into()),
            before: None,
            after: Some(json!({"b": 1, "a": {"z": [1, "é"], "y": null}})),
            request_id: Some("r".into()),
            source_ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn canonical_form_sorts_keys_at_every_depth() {
        let r = record(1);
        let text = String::from_utf8(r.canonical()).unwrap();
        assert!(text.starts_with(r#"{"action":"budgets.create","actor_id":"#));
        assert!(text.contains(r#""after":{"a":{"y":null,"z":[1,"é"]},"b":1}"#));
    }

    #[test]
    fn walk_reports_the_first_broken_link() {
        let mut links = Vec::new();
        let mut prev = GENESIS;
        for seq in 1..=4 {
            let record = record(seq);
            let hash = record.hash(&prev);
            links.push(ChainLink {
                record,
                prev_hash: prev.to_vec(),
                hash: hash.to_vec(),
            });
            prev = hash;
        }
        let mut walk = ChainWalk::from(0, GENESIS);
        assert!(links.iter().all(|l| walk.step(l).is_ok()));
        assert_eq!(walk.last_seq(), 4);

        let mut tampered = links.clone();
        tampered[2].record.action = "budgets.delete".into();
        let mut walk = ChainWalk::from(0, GENESIS);
        let broken = tampered.iter().find_map(|l| walk.step(l).err()).unwrap();
        assert_eq!(broken.seq, 3);

        let mut gap = links.clone();
        gap.remove(1);
        let mut walk = ChainWalk::from(0, GENESIS);
        let broken = gap.iter().find_map(|l| walk.step(l).err()).unwrap();
        assert_eq!(broken.seq, 2);
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut v = json!({"secret_hash": "ab", "name": "n", "max_tokens": 5,
            "nested": [{"credentials": "x", "token": null}]});
        redact(&mut v);
        assert_eq!(
            v,
            json!({"secret_hash": REDACTED, "name": "n", "max_tokens": 5,
                "nested": [{"credentials": REDACTED, "token": null}]})
        );
    }

    #[test]
    fn checkpoints_verify_with_the_public_key_only() {
        let signer = AuditSigner::from_base64(&AuditSigner::generate_base64()).unwrap();
        let msg = checkpoint_message(None, 7, &[1; 32], Utc::now());
        let sig = signer.sign(&msg);
        assert!(verify_signature(&signer.public_key_base64(), &msg, &sig));
        let mut other = msg.clone();
        other[0] ^= 1;
        assert!(!verify_signature(&signer.public_key_base64(), &other, &sig));
        assert!(AuditSigner::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn retired_keys_still_verify_and_say_which_they_are() {
        let old = AuditSigner::from_base64(&AuditSigner::generate_base64()).unwrap();
        let new = AuditSigner::from_base64(&AuditSigner::generate_base64())
            .unwrap()
            .with_retired(parse_public_keys(&format!(" {} ,", old.public_key_base64())).unwrap());
        let msg = checkpoint_message(None, 3, &[2; 32], Utc::now());
        let keys = new.public_keys();
        assert_eq!(keys.keys().len(), 2);
        assert!(keys.keys()[0].current && !keys.keys()[1].current);
        let by_old = old.sign(&msg);
        assert_eq!(
            keys.verify(&old.key_id(), &msg, &by_old),
            Some(old.key_id().as_str())
        );
        // A wrong key id in the checkpoint does not stop a listed key verifying.
        assert_eq!(
            keys.verify("unknown", &msg, &by_old),
            Some(old.key_id().as_str())
        );
        assert_eq!(
            keys.verify(&new.key_id(), &msg, &new.sign(&msg)),
            Some(new.key_id().as_str())
        );
        let stranger = AuditSigner::from_base64(&AuditSigner::generate_base64()).unwrap();
        assert_eq!(
            keys.verify(&stranger.key_id(), &msg, &stranger.sign(&msg)),
            None
        );
        assert!(parse_public_keys("bm90IGEga2V5").is_err());
        // Listing the current key as retired does not list it twice.
        let again = new
            .clone()
            .with_retired(vec![PublicKey::retired(&new.public_key_base64()).unwrap()]);
        assert_eq!(again.public_keys().keys().len(), 1);
    }
}
