//! The redaction policy: one place that says what counts as a secret, used
//! for audit before/after images, log lines and metrics labels alike.
//!
//! A value is redacted when
//! - it is a header whose **name** carries credentials (`authorization`,
//!   `cookie`, `x-api-key`, …);
//! - it is a JSON field whose **name** says it holds a secret (ends in
//!   `_hash`, or contains `secret`, `password`, `credential`; `token`,
//!   `authorization` and the header names above);
//! - it sits at a **JSON pointer** the policy names (prompts and
//!   completions: `/messages`, `/prompt`, `/input`, `/choices`, …, which are
//!   never stored);
//! - or, anywhere in any text, it **looks like a credential** (a regex
//!   match): bearer tokens, Ditto keys and access tokens, OpenAI- and
//!   Anthropic-style keys, AWS access key ids, Google API keys, JWTs, and
//!   `token=`/`api_key=`/`password=`/`secret=` parameters. Only the matching
//!   part is replaced.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Headers whose values are credentials.
const HEADER_NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "x-amz-security-token",
];

/// Places in a JSON document whose value is never kept: the content of
/// prompts and completions. `*` matches any one segment.
const POINTERS: &[&str] = &[
    "/messages",
    "/prompt",
    "/input",
    "/system",
    "/contents",
    "/choices/*/message",
    "/choices/*/text",
    "/choices/*/delta",
];

/// Credential-looking text: `(pattern, replacement)`; `$1` keeps a prefix.
const PATTERNS: &[(&str, &str)] = &[
    (
        r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}",
        "$1 [redacted]",
    ),
    (
        r"\b(dk|dat|dpt)-[A-Za-z0-9]{4,}-[A-Za-z0-9_]{16,}",
        "[redacted]",
    ),
    (r"\bsk-[A-Za-z0-9_-]{20,}", "[redacted]"),
    (r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", "[redacted]"),
    (r"\bAIza[0-9A-Za-z_-]{35}", "[redacted]"),
    (
        r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        "[redacted]",
    ),
    (
        r"(?i)\b(api[_-]?key|access[_-]?token|token|secret|password|passwd)=[^&\s\x22']+",
        "$1=[redacted]",
    ),
];

/// The policy. Build it once with [`policy`].
pub struct Policy {
    patterns: Vec<(Regex, &'static str)>,
}

/// The one redaction policy of Ditto.
pub fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| Policy {
        patterns: PATTERNS
            .iter()
            .map(|(p, r)| (Regex::new(p).expect("a valid redaction pattern"), *r))
            .collect(),
    })
}

impl Policy {
    /// Whether a header's value is a credential.
    pub fn is_secret_header(&self, name: &str) -> bool {
        HEADER_NAMES.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// Whether a JSON field of this name holds a secret.
    pub fn is_secret_field(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        name.ends_with("_hash")
            || name.contains("secret")
            || name.contains("password")
            || name.contains("credential")
            || name == "token"
            || self.is_secret_header(&name)
    }

    /// `text` with every credential-looking part replaced.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for (re, replacement) in &self.patterns {
            if re.is_match(&out) {
                out = Cow::Owned(re.replace_all(&out, *replacement).into_owned());
            }
        }
        out
    }

    /// A header's value as it may be shown or logged.
    pub fn header<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if self.is_secret_header(name) {
            Cow::Borrowed(REDACTED)
        } else {
            self.text(value)
        }
    }

    /// A metrics label value as it may be exposed.
    pub fn label<'a>(&self, value: &'a str) -> Cow<'a, str> {
        self.text(value)
    }

    /// A Prometheus text exposition with every label set (`{…}`) redacted.
    pub fn exposition(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            match (line.find('{'), line.rfind('}')) {
                (Some(open), Some(close)) if !line.starts_with('#') && open < close => {
                    out.push_str(&line[..open]);
                    out.push_str(&self.label(&line[open..=close]));
                    out.push_str(&line[close + 1..]);
                }
                _ => out.push_str(line),
            }
        }
        out
    }

    /// Redacts a JSON document in place: secret fields (by name, at any
    /// depth), the policy's pointers, and credential-looking strings.
    /// Absent and null values stay as they are.
    pub fn json(&self, value: &mut Value) {
        self.walk(value, &mut Vec::new());
    }

    fn walk(&self, value: &mut Value, path: &mut Vec<String>) {
        if !value.is_null() && at_pointer(path) {
            *value = Value::String(REDACTED.to_owned());
            return;
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if self.is_secret_field(k) {
                        if !v.is_null() {
                            *v = Value::String(REDACTED.to_owned());
                        }
                    } else {
                        path.push(k.clone());
                        self.walk(v, path);
                        path.pop();
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    path.push(i.to_string());
                    self.walk(v, path);
                    path.pop();
                }
            }
            Value::String(s) => {
                if let Cow::Owned(clean) = self.text(s) {
                    *s = clean;
                }
            }
            _ => {}
        }
    }
}

fn at_pointer(path: &[String]) -> bool {
    !path.is_empty()
        && POINTERS.iter().any(|p| {
            let segments: Vec<&str> = p.split('/').skip(1).collect();
            segments.len() == path.len()
                && segments.iter().zip(path).all(|(s, p)| *s == "*" || s == p)
        })
}

/// A writer that redacts what passes through it, for log output: each
/// write (one formatted log event) is redacted as text before it goes on.
pub struct Redacting<W>(pub W);

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(policy().text(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credential_looking_text_is_redacted_and_the_rest_kept() {
        let p = policy();
        let cases = [
            (
                "Authorization: Bearer abcdEFGH1234.xyz",
                "Authorization: Bearer [redacted]",
            ),
            (
                "key dk-AbCd1234-abcdefghijklmnopqrstuvwx used",
                "key [redacted] used",
            ),
            (
                "token dat-9f8e7d6c-ABCDEFGHIJKLMNOPQRSTUV",
                "token [redacted]",
            ),
            (
                "upstream sk-proj-abcdefghijklmnopqrstuvwxyz",
                "upstream [redacted]",
            ),
            ("id AKIAIOSFODNN7EXAMPLE here", "id [redacted] here"),
            (
                "GET /x?api_key=s3cr3t&page=2",
                "GET /x?api_key=[redacted]&page=2",
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmn",
                "jwt [redacted]",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(p.text(input), want, "{input}");
        }
        // A key's public prefix, ids and plain words stay.
        for keep in [
            "dk-AbCd1234",
            "0192f0e4-7c1a-7b44-9a3e-5b7e2d1c0f00",
            "the bearer of news",
        ] {
            assert_eq!(p.text(keep), keep);
        }
    }

    #[test]
    fn json_is_redacted_by_name_pointer_and_pattern() {
        let mut v = json!({
            "secret_hash": "ab", "name": "n", "max_tokens": 5,
            "nested": [{"credentials": "x", "token": null, "Authorization": "Basic abc"}],
            "description": "call with Bearer abcdefgh12345678",
            "messages": [{"role": "user", "content": "hi"}],
            "choices": [{"message": {"content": "hello"}, "index": 0}],
        });
        policy().json(&mut v);
        assert_eq!(
            v,
            json!({
                "secret_hash": REDACTED, "name": "n", "max_tokens": 5,
                "nested": [{"credentials": REDACTED, "token": null, "Authorization": REDACTED}],
                "description": "call with Bearer [redacted]",
                "messages": REDACTED,
                "choices": [{"message": REDACTED, "index": 0}],
            })
        );
    }

    #[test]
    fn metrics_labels_are_redacted_and_the_rest_kept() {
        let text = "# HELP x_total sk-abcdefghijklmnopqrstuvwxyz in help\n\
                    x_total{backend=\"sk-abcdefghijklmnopqrstuvwxyz\",outcome=\"ok\"} 3\n\
                    y 1\n";
        assert_eq!(
            policy().exposition(text),
            "# HELP x_total sk-abcdefghijklmnopqrstuvwxyz in help\n\
             x_total{backend=\"[redacted]\",outcome=\"ok\"} 3\n\
             y 1\n"
        );
    }

    #[test]
    fn headers_are_redacted_by_name() {
        let p = policy();
        assert_eq!(p.header("X-Api-Key", "anything"), REDACTED);
        assert_eq!(p.header("cookie", "ditto_session=1"), REDACTED);
        assert_eq!(p.header("user-agent", "curl/8"), "curl/8");
    }

    #[test]
    fn the_log_writer_redacts_what_it_writes() {
        use std::io::Write;
        let mut w = Redacting(Vec::new());
        w.write_all(b"upstream refused key=sk-abcdefghijklmnopqrstuvwxyz0123\n")
            .unwrap();
        let out = String::from_utf8(w.0).unwrap();
        assert_eq!(out, "upstream refused key=[redacted]\n");
    }
}
