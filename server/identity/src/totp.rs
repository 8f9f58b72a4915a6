//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30 s
//! steps), as every authenticator app implements them, and recovery codes.

use hmac::{Hmac, KeyInit, Mac};
use rand::{Rng, RngCore};
use sha1::Sha1;
use subtle::ConstantTimeEq;

pub const STEP_SECS: i64 = 30;
const DIGITS: u32 = 6;
/// Codes of the previous and next step are accepted too, for clock skew.
const SKEW_STEPS: i64 = 1;
const SECRET_BYTES: usize = 20;
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A new random TOTP secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// The code for one time step.
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(secret) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        word % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The step a code belongs to, if it is valid around `now` and newer than
/// `last_used` (a code works once).
pub fn verify(secret: &[u8], code: &str, unix_now: i64, last_used: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_now);
    let mut found = None;
    // Every candidate is computed, so timing says nothing about which matched.
    for step in now - SKEW_STEPS..=now + SKEW_STEPS {
        let candidate = code_at_step(secret, step);
        if bool::from(candidate.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found.filter(|step| last_used.is_none_or(|last| *step > last))
}

/// The `otpauth://` URI authenticator apps read from a QR code.
pub fn provisioning_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let mut uri = url::Url::parse("otpauth://totp/").expect("static URL");
    uri.set_path(&format!("/{issuer}:{account}"));
    uri.query_pairs_mut()
        .append_pair("secret", &base32(secret))
        .append_pair("issuer", issuer)
        .append_pair("algorithm", "SHA1")
        .append_pair("digits", &DIGITS.to_string())
        .append_pair("period", &STEP_SECS.to_string());
    uri.to_string()
}

/// RFC 4648 base32 without padding, as authenticator apps expect secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// New recovery codes, `xxxxx-xxxxx` (about 50 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut pick =
                || RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char;
            let a: String = (0..5).map(|_| pick()).collect();
            let b: String = (0..5).map(|_| pick()).collect();
            format!("{a}-{b}")
        })
        .collect()
}

/// A recovery code as typed (any case, with or without the dash and
/// spaces) in the form that is hashed.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 column, truncated to 6 digits.
    #[test]
    fn matches_the_rfc_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at_step(secret, step_of(time)), code, "t={time}");
        }
    }

    #[test]
    fn accepts_neighbouring_steps_once() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let current = code_at_step(&secret, step_of(now));
        let step = verify(&secret, &current, now, None).unwrap();
        assert_eq!(verify(&secret, &current, now, Some(step)), None, "replay");
        let previous = code_at_step(&secret, step_of(now) - 1);
        assert!(verify(&secret, &previous, now, None).is_some());
        let old = code_at_step(&secret, step_of(now) - 3);
        assert_eq!(verify(&secret, &old, now, None), None);
        assert_eq!(verify(&secret, "12345", now, None), None);
        assert_eq!(verify(&secret, "abcdef", now, None), None);
        let spaced = format!("{} {}", &current[..3], &current[3..]);
        assert!(verify(&secret, &spaced, now, None).is_some());
    }

    #[test]
    fn base32_and_uri() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        let uri = provisioning_uri(b"12345678901234567890", "Ditto (acme)", "ada@example.com");
        assert!(
            uri.starts_with("otpauth://totp/Ditto%20(acme):ada@example.com?secret=GEZD"),
            "{uri}"
        );
        assert!(uri.contains("issuer=Ditto+%28acme%29"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalize() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert_eq!(normalize_recovery_code(" ABCDE-fghjk "), "abcdefghjk");
    }
}
