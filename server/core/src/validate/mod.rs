//! What valid input looks like. Each `check_*` collects every problem of a
//! request body, so a client can fix them all in one go.

use chrono::{DateTime, Utc};
use ditto_types::problem::FieldError;

use crate::{Error, Result};

mod directory;
mod gateway;
mod limits;
#[cfg(test)]
mod tests;
mod usage;

pub use directory::*;
pub use gateway::*;
pub use limits::*;
pub use usage::*;

/// Collects field errors.
#[derive(Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn fail(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        });
    }

    /// A display string: trimmed length within bounds, no control characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let len = value.trim().chars().count();
        if len < min {
            if min == 1 {
                self.fail(field, "required", "must not be empty");
            } else {
                self.fail(
                    field,
                    "too_short",
                    format!("must have at least {min} characters"),
                );
            }
        } else if value.chars().count() > max {
            self.fail(
                field,
                "too_long",
                format!("must have at most {max} characters"),
            );
        } else if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.fail(
                field,
                "invalid_characters",
                "must not contain control characters",
            );
        }
    }

    pub fn opt_text(&mut self, field: &str, value: Option<&str>, min: usize, max: usize) {
        if let Some(value) = value {
            self.text(field, value, min, max);
        }
    }

    pub fn slug(&mut self, field: &str, value: &str) {
        let ok_shape = (3..=63).contains(&value.len())
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && !value.ends_with('-')
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok_shape {
            self.fail(
                field,
                "invalid_format",
                "must be 3–63 characters of lowercase letters, digits and '-', \
                 starting with a letter and not ending with '-'",
            );
        } else if RESERVED_SLUGS.contains(&value) {
            self.fail(field, "reserved", format!("'{value}' is reserved"));
        }
    }

    pub fn email(&mut self, field: &str, value: &str) {
        let valid = value.len() <= 254
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            })
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if !valid {
            self.fail(
                field,
                "invalid_format",
                "must be an email address like name@example.com",
            );
        }
    }

    /// A model name: 1–200 characters, no spaces; `*` only where patterns are allowed.
    pub fn model(&mut self, field: &str, value: &str, allow_pattern: bool) {
        if value.is_empty() || value.chars().count() > 200 {
            self.fail(field, "invalid_length", "must have 1–200 characters");
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.fail(
                field,
                "invalid_characters",
                "must not contain spaces or control characters",
            );
        } else if !allow_pattern && value.contains('*') {
            self.fail(
                field,
                "invalid_characters",
                "must be a model name, not a pattern",
            );
        }
    }

    /// An allow-list of models (names or `*` patterns).
    pub fn models(&mut self, field: &str, values: Option<&[String]>) {
        let Some(values) = values else { return };
        if values.len() > MODELS_MAX {
            self.fail(
                field,
                "too_many",
                format!("must have at most {MODELS_MAX} entries"),
            );
            return;
        }
        for (i, value) in values.iter().enumerate() {
            self.model(&format!("{field}/{i}"), value, true);
        }
    }

    /// An upstream API root: http(s), a host, no credentials, query or fragment.
    pub fn base_url(&mut self, field: &str, value: &str) {
        match url::Url::parse(value) {
            Ok(u) if !matches!(u.scheme(), "http" | "https") || u.host().is_none() => self.fail(
                field,
                "invalid_format",
                "must be an http:// or https:// URL with a host",
            ),
            Ok(u) if !u.username().is_empty() || u.password().is_some() => self.fail(
                field,
                "credentials_in_url",
                "must not contain credentials; put the API key in `credentials`",
            ),
            Ok(u) if u.query().is_some() || u.fragment().is_some() => self.fail(
                field,
                "invalid_format",
                "must not have a query string or fragment",
            ),
            Ok(_) if value.len() > 2000 => {
                self.fail(field, "too_long", "must have at most 2000 characters")
            }
            Ok(_) => {}
            Err(e) => self.fail(field, "invalid_format", format!("is not a URL: {e}")),
        }
    }

    pub fn range(&mut self, field: &str, value: Option<u32>, min: u32, max: u32) {
        if value.is_some_and(|v| !(min..=max).contains(&v)) {
            self.fail(
                field,
                "out_of_range",
                format!("must be between {min} and {max}"),
            );
        }
    }

    pub fn future(&mut self, field: &str, value: Option<DateTime<Utc>>, now: DateTime<Utc>) {
        if value.is_some_and(|at| at <= now) {
            self.fail(field, "in_the_past", "must be in the future");
        }
    }

    pub fn range_u64(&mut self, field: &str, value: Option<u64>, min: u64, max: u64) {
        if value.is_some_and(|v| !(min..=max).contains(&v)) {
            self.fail(
                field,
                "out_of_range",
                format!("must be between {min} and {max}"),
            );
        }
    }

    /// An IANA time zone name.
    pub fn time_zone(&mut self, field: &str, value: Option<&str>) {
        if let Some(Err(message)) = value.map(crate::period::parse_zone) {
            self.fail(field, "invalid_value", message);
        }
    }

    /// `flag` and `other` cannot both be given.
    pub fn exclusive(&mut self, field: &str, flag: bool, other: bool, other_name: &str) {
        if flag && other {
            self.fail(
                field,
                "conflicting_fields",
                format!("cannot be combined with `{other_name}`"),
            );
        }
    }

    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// Slugs that would collide with routes or confuse people.
const RESERVED_SLUGS: &[&str] = &[
    "api", "admin", "www", "platform", "ditto", "static", "assets",
];

const NAME_MAX: usize = 100;
const MODELS_MAX: usize = 100;
const ROUTE_TARGETS_MAX: usize = 16;
const DESCRIPTION_MAX: usize = 1000;
const EXTERNAL_ID_MAX: usize = 255;
