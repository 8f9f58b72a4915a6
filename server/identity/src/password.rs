//! Password hashing (argon2id) and the password policy.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ditto_core::{Error, Result};
use rand::RngCore;

/// Longest password accepted: hashing cost must not be an attack surface.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Argon2id cost parameters. The defaults are OWASP's recommendation
/// (19 MiB, 2 passes, 1 lane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashParams {
    /// Checks the parameters, describing what is wrong.
    pub fn validate(self) -> std::result::Result<(), String> {
        self.argon2().map(|_| ())
    }

    fn argon2(self) -> std::result::Result<Argon2<'static>, String> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| format!("invalid argon2 parameters: {e}"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Hashes and checks passwords. Hashing is slow on purpose, so callers run
/// it on a blocking thread (see [`Passwords::hash`]).
#[derive(Clone, Debug)]
pub struct Passwords {
    params: HashParams,
    policy: PasswordPolicy,
    /// A hash of nothing in particular, checked when the account does not
    /// exist so that the answer takes as long as for one that does.
    decoy: String,
    /// Hashes computed at once. Each holds `memory_kib` and a core for its
    /// duration, so without a bound a burst of sign-ins could take every
    /// blocking thread (512) and 19 MiB each; past it callers wait a little,
    /// then get 503 with Retry-After.
    slots: std::sync::Arc<tokio::sync::Semaphore>,
}

/// How long a password check waits for a free hashing slot before the
/// request is refused as busy.
const SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What a new password must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 12 }
    }
}

/// Passwords so common that any length rule lets them through.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "qwertyuiopas",
    "passwordpassword",
    "password1234",
    "password12345",
    "password123456",
    "iloveyou1234",
    "administrator",
    "administrator1",
    "letmeinletmein",
    "changeme1234",
    "welcome12345",
    "qwerty123456",
    "aaaaaaaaaaaa",
    "abcdefghijkl",
    "abc123abc123",
    "trustno1trustno1",
];

impl Passwords {
    pub fn new(params: HashParams, policy: PasswordPolicy) -> std::result::Result<Self, String> {
        let argon = params.argon2()?;
        let decoy = hash_with(&argon, "decoy password, never valid")
            .map_err(|e| format!("argon2 failed: {e}"))?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            params,
            policy,
            decoy,
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(cores * 2)),
        })
    }

    /// At most this many hashes at once (for tests and benchmarks).
    pub fn with_slots(mut self, slots: usize) -> Self {
        self.slots = std::sync::Arc::new(tokio::sync::Semaphore::new(slots.max(1)));
        self
    }

    /// A hashing slot, or 503 when none frees up soon.
    async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        match tokio::time::timeout(SLOT_WAIT, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Error::Unavailable(
                "too many sign-ins are being checked right now; retry in a moment".into(),
            )),
        }
    }

    pub fn policy(&self) -> PasswordPolicy {
        self.policy
    }

    /// Checks a new password against the policy; `email` is its owner's.
    pub fn check_policy(&self, password: &str, email: &str, field: &str) -> Result<()> {
        let fail = |message: String| Err(Error::invalid(field, "weak_password", message));
        let chars = password.chars().count();
        if chars < self.policy.min_length {
            return fail(format!(
                "use at least {} characters (this one has {chars})",
                self.policy.min_length
            ));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return fail(format!("use at most {MAX_PASSWORD_BYTES} bytes"));
        }
        if password.chars().any(char::is_control) {
            return fail("control characters are not allowed".into());
        }
        let lower = password.to_lowercase();
        let local = email.split('@').next().unwrap_or_default().to_lowercase();
        if local.len() >= 3 && lower.contains(&local) {
            return fail("do not use your email address in your password".into());
        }
        if COMMON.contains(&lower.as_str()) || lower.chars().all(|c| lower.starts_with(c)) {
            return fail("this password is too easy to guess".into());
        }
        Ok(())
    }

    /// The argon2id PHC string of `password`, computed off the async threads.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let params = self.params;
        let password = password.to_owned();
        let slot = self.slot().await?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let argon = params.argon2().map_err(Error::Internal)?;
            hash_with(&argon, &password).map_err(|e| Error::Internal(format!("argon2: {e}")))
        })
        .await
        .map_err(|e| Error::Internal(format!("password hashing stopped: {e}")))?
    }

    /// Whether `password` matches `phc`; with `None` (no such account or no
    /// password) a decoy is checked so timing does not tell the cases apart,
    /// and the answer is `false`. Errs (503) when no hashing slot is free.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool> {
        let real = phc.is_some();
        let phc = phc.unwrap_or(&self.decoy).to_owned();
        let password = password.to_owned();
        let slot = self.slot().await?;
        let matched = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            // The parameters come from the stored hash, so raising the cost
            // does not lock anyone out.
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .await
        .unwrap_or(false);
        Ok(real && matched)
    }

    /// Whether `phc` was made with other parameters than today's, so it
    /// should be replaced after a successful sign-in.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return true;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return true;
        };
        parsed.algorithm.as_str() != "argon2id"
            || params.m_cost() != self.params.memory_kib
            || params.t_cost() != self.params.iterations
            || params.p_cost() != self.params.parallelism
    }
}

fn hash_with(argon: &Argon2<'_>, password: &str) -> std::result::Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_wait_for_a_free_hashing_slot_then_refuse_as_busy() {
        let p = cheap().with_slots(1);
        let held = p.slots.clone().try_acquire_owned().unwrap();
        let e = p.verify("anything at all", None).await.unwrap_err();
        assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
        assert!(p.hash("anything at all").await.is_err());
        drop(held);
        assert!(!p.verify("anything at all", None).await.unwrap());
    }

    fn cheap() -> Passwords {
        Passwords::new(
            HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            PasswordPolicy::default(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let p = cheap();
        let a = p.hash("correct horse battery").await.unwrap();
        let b = p.hash("correct horse battery").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_ne!(a, b);
        assert!(p.verify("correct horse battery", Some(&a)).await.unwrap());
        assert!(!p.verify("correct horse batterY", Some(&a)).await.unwrap());
        assert!(!p.verify("correct horse battery", None).await.unwrap());
        assert!(!p.needs_rehash(&a));
        let stronger = Passwords::new(HashParams::default(), PasswordPolicy::default()).unwrap();
        assert!(stronger.needs_rehash(&a));
        // Hashes made with other parameters still verify.
        assert!(
            stronger
                .verify("correct horse battery", Some(&a))
                .await
                .unwrap()
        );
    }

    #[test]
    fn policy_explains_what_is_wrong() {
        let p = cheap();
        let msg = |pw: &str| match p.check_policy(pw, "ada.lovelace@example.com", "/password") {
            Ok(()) => "ok".to_owned(),
            Err(Error::Validation(errors)) => errors[0].message.clone(),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(msg("correct horse battery"), "ok");
        assert!(msg("short").contains("at least 12"));
        assert!(msg("ADA.LOVELACE-2026!").contains("email"));
        assert!(msg("password1234").contains("guess"));
        assert!(msg("zzzzzzzzzzzzzzzz").contains("guess"));
        assert!(msg(&"x".repeat(2000)).contains("at most"));
        assert!(msg("tab\tinside password").contains("control"));
    }
}
