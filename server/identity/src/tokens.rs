//! Checking requests for personal access tokens.

use chrono::{DateTime, Duration, Utc};
use ditto_core::validate::Checker;
use ditto_core::{Grants, Permission, Result};
use ditto_types::api::CreatePersonalAccessToken;

/// The longest a personal access token may live.
pub const MAX_LIFETIME_DAYS: i64 = 366;

/// Validates the request; returns the permissions it narrows the token to.
pub fn check_request(
    body: &CreatePersonalAccessToken,
    now: DateTime<Utc>,
) -> Result<Option<Grants>> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, 100);
    if body.expires_at <= now {
        c.fail("/expires_at", "in_past", "must be in the future");
    } else if body.expires_at > now + Duration::days(MAX_LIFETIME_DAYS) {
        c.fail(
            "/expires_at",
            "too_far",
            format!("must be at most {MAX_LIFETIME_DAYS} days away"),
        );
    }
    let mut grants = None;
    if let Some(names) = &body.permissions {
        if names.is_empty() || names.len() > Permission::ALL.len() {
            c.fail(
                "/permissions",
                "invalid_length",
                "list between 1 and all permissions, or leave it out for all of yours",
            );
        }
        let mut picked = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match Permission::parse(name) {
                Some(p) if picked.contains(&p) => {
                    c.fail(&format!("/permissions/{i}"), "duplicate", "listed twice");
                }
                Some(p) => picked.push(p),
                None => c.fail(
                    &format!("/permissions/{i}"),
                    "unknown_permission",
                    format!("`{name}` is not a permission (see the catalogue in docs/rbac.md)"),
                ),
            }
        }
        grants = Some(Grants::of(&picked));
    }
    c.finish()?;
    Ok(grants)
}
