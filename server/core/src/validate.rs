//! What valid input looks like. Each `check_*` collects every problem of a
//! request body, so a client can fix them all in one go.

use chrono::{DateTime, Utc};
use ditto_types::api::*;
use ditto_types::problem::FieldError;

use crate::{Error, Result};

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

    pub fn future(&mut self, field: &str, value: Option<DateTime<Utc>>, now: DateTime<Utc>) {
        if value.is_some_and(|at| at <= now) {
            self.fail(field, "in_the_past", "must be in the future");
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
const DESCRIPTION_MAX: usize = 1000;
const EXTERNAL_ID_MAX: usize = 255;

pub fn create_tenant(body: &CreateTenant) -> Result<()> {
    let mut c = Checker::default();
    c.slug("/slug", &body.slug);
    c.text("/name", &body.name, 1, 200);
    c.finish()
}

pub fn update_tenant(body: &UpdateTenant) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, 200);
    c.finish()
}

pub fn create_project(body: &CreateProject) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.finish()
}

pub fn update_project(body: &UpdateProject) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.finish()
}

pub fn create_user(body: &CreateUser) -> Result<()> {
    let mut c = Checker::default();
    c.email("/email", &body.email);
    c.opt_text("/display_name", body.display_name.as_deref(), 1, 200);
    c.opt_text(
        "/external_id",
        body.external_id.as_deref(),
        1,
        EXTERNAL_ID_MAX,
    );
    c.finish()
}

pub fn update_user(body: &UpdateUser) -> Result<()> {
    let mut c = Checker::default();
    if let Some(email) = &body.email {
        c.email("/email", email);
    }
    c.opt_text("/display_name", body.display_name.as_deref(), 1, 200);
    c.opt_text(
        "/external_id",
        body.external_id.as_deref(),
        1,
        EXTERNAL_ID_MAX,
    );
    c.finish()
}

pub fn create_service_account(body: &CreateServiceAccount) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.finish()
}

pub fn update_service_account(body: &UpdateServiceAccount) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.finish()
}

pub fn create_access_token(body: &CreateAccessToken, now: DateTime<Utc>) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.future("/expires_at", body.expires_at, now);
    c.finish()
}

pub fn create_api_key(body: &CreateApiKey, now: DateTime<Utc>) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.future("/expires_at", body.expires_at, now);
    if body.owner_user_id.is_some() && body.owner_service_account_id.is_some() {
        c.fail(
            "/owner_service_account_id",
            "conflicting_owner",
            "a key has at most one owner: give owner_user_id or owner_service_account_id, not both",
        );
    }
    c.finish()
}

pub fn update_api_key(body: &UpdateApiKey) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, NAME_MAX);
    c.finish()
}

/// Default and maximum page sizes of list endpoints.
pub const PAGE_DEFAULT: i64 = 50;
pub const PAGE_MAX: i64 = 200;

pub fn page_limit(limit: Option<i64>) -> Result<i64> {
    match limit {
        None => Ok(PAGE_DEFAULT),
        Some(n) if (1..=PAGE_MAX).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            "limit",
            "out_of_range",
            format!("must be between 1 and {PAGE_MAX}"),
        )),
    }
}

/// Free-text search terms are bounded so they cannot become expensive scans.
pub fn search_term(q: Option<&str>) -> Result<Option<String>> {
    match q.map(str::trim) {
        None | Some("") => Ok(None),
        Some(q) if q.chars().count() > 100 => Err(Error::invalid(
            "q",
            "too_long",
            "must have at most 100 characters",
        )),
        Some(q) => Ok(Some(q.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: Result<()>) -> Vec<String> {
        match r {
            Err(Error::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn slugs() {
        let ok = |s: &str| {
            create_tenant(&CreateTenant {
                slug: s.into(),
                name: "x".into(),
            })
        };
        assert!(ok("acme").is_ok());
        assert!(ok("acme-2").is_ok());
        for bad in [
            "ac",
            "Acme",
            "1acme",
            "acme-",
            "ac me",
            "api",
            &"a".repeat(64),
        ] {
            assert_eq!(fields(ok(bad)), ["/slug"], "{bad}");
        }
    }

    #[test]
    fn reports_every_invalid_field() {
        let body = CreateUser {
            email: "nope".into(),
            display_name: Some("".into()),
            external_id: Some("x".repeat(300)),
        };
        assert_eq!(
            fields(create_user(&body)),
            ["/email", "/display_name", "/external_id"]
        );
    }

    #[test]
    fn emails() {
        let mut c = Checker::default();
        for good in ["a@b.co", "first.last+tag@sub.example.com"] {
            c.email("/e", good);
        }
        assert!(c.finish().is_ok());
        for bad in ["a@b", "@b.co", "a b@c.co", "a@.co", "a@b.co."] {
            let mut c = Checker::default();
            c.email("/e", bad);
            assert!(c.finish().is_err(), "{bad}");
        }
    }

    #[test]
    fn page_limits() {
        assert_eq!(page_limit(None).unwrap(), PAGE_DEFAULT);
        assert_eq!(page_limit(Some(200)).unwrap(), 200);
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(201)).is_err());
    }
}
