//! Rules of audit export destinations, without I/O: what a valid
//! destination looks like, and the object names and local paths a run may
//! use (never outside the tenant's own directory).

use ditto_types::api::{
    AuditExportKind, CreateAuditExportDestination, UpdateAuditExportDestination,
};

use crate::validate::Checker;
use crate::{Error, Result};

/// Smallest and largest JSONL object a run writes.
pub const MIN_OBJECT_BYTES: u64 = 1024;
pub const MAX_OBJECT_BYTES: u64 = 1024 * 1024 * 1024;

const NAME_MAX: usize = 100;
const PATH_MAX: usize = 200;
const SECRET_MAX: usize = 256;

/// `/`-separated parts of `A-Z a-z 0-9 . _ -`, none empty, `.` or `..`, no
/// leading or trailing `/`: a name that stays where it is put.
pub fn is_safe_relative_path(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= PATH_MAX
        && value.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

fn relative_path(c: &mut Checker, field: &str, value: &str) {
    if value.len() > PATH_MAX {
        c.fail(
            field,
            "too_long",
            format!("must have at most {PATH_MAX} characters"),
        );
    } else if !is_safe_relative_path(value) {
        c.fail(
            field,
            "invalid_path",
            "must be `/`-separated parts of letters, digits, `.`, `_` and `-`, \
             without empty, `.` or `..` parts or a leading `/`",
        );
    }
}

fn bucket(c: &mut Checker, value: &str) {
    let ok = (3..=63).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        && !value.starts_with(['.', '-'])
        && !value.ends_with(['.', '-']);
    if !ok {
        c.fail(
            "/bucket",
            "invalid_format",
            "must be 3–63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit",
        );
    }
}

fn endpoint(c: &mut Checker, value: &str) {
    c.base_url("/endpoint", value);
    if let Ok(u) = url::Url::parse(value)
        && u.path() != "/"
        && !u.path().is_empty()
    {
        c.fail("/endpoint", "invalid_format", "must not have a path");
    }
}

fn secret(c: &mut Checker, field: &str, value: &str) {
    if value.is_empty() || value.len() > SECRET_MAX || value.chars().any(char::is_control) {
        c.fail(
            field,
            "invalid_value",
            format!("must be 1–{SECRET_MAX} characters without control characters"),
        );
    }
}

fn s3_only(c: &mut Checker, kind: AuditExportKind, field: &str, given: bool) {
    if kind == AuditExportKind::Local && given {
        c.fail(field, "not_allowed", "applies to `s3` destinations only");
    }
}

/// Checks a new destination. `local_allowed`: whether the platform has an
/// export directory.
pub fn create_destination(body: &CreateAuditExportDestination, local_allowed: bool) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    let kind = body.kind;
    match kind {
        AuditExportKind::S3 => {
            match &body.bucket {
                Some(b) => bucket(&mut c, b),
                None => c.fail("/bucket", "required", "is required for `s3`"),
            }
            match &body.access_key_id {
                Some(k) => secret(&mut c, "/access_key_id", k),
                None => c.fail("/access_key_id", "required", "is required for `s3`"),
            }
            match &body.secret_access_key {
                Some(k) => secret(&mut c, "/secret_access_key", k),
                None => c.fail("/secret_access_key", "required", "is required for `s3`"),
            }
            if body.path.is_some() {
                c.fail(
                    "/path",
                    "not_allowed",
                    "applies to `local` destinations only",
                );
            }
        }
        AuditExportKind::Local => {
            if !local_allowed {
                c.fail(
                    "/kind",
                    "no_export_dir",
                    "this server has no export directory (its operator sets DITTO_AUDIT_EXPORT_DIR)",
                );
            }
            match &body.path {
                Some(p) => relative_path(&mut c, "/path", p),
                None => c.fail("/path", "required", "is required for `local`"),
            }
        }
    }
    s3_only(&mut c, kind, "/endpoint", body.endpoint.is_some());
    s3_only(&mut c, kind, "/bucket", body.bucket.is_some());
    s3_only(&mut c, kind, "/region", body.region.is_some());
    s3_only(&mut c, kind, "/access_key_id", body.access_key_id.is_some());
    s3_only(
        &mut c,
        kind,
        "/secret_access_key",
        body.secret_access_key.is_some(),
    );
    if kind == AuditExportKind::S3 {
        if let Some(e) = &body.endpoint {
            endpoint(&mut c, e);
        }
        if let Some(r) = &body.region {
            region(&mut c, r);
        }
    }
    if let Some(p) = &body.prefix {
        relative_path(&mut c, "/prefix", p);
    }
    c.range_u64(
        "/max_object_bytes",
        body.max_object_bytes,
        MIN_OBJECT_BYTES,
        MAX_OBJECT_BYTES,
    );
    c.finish()
}

fn region(c: &mut Checker, value: &str) {
    if value.is_empty()
        || value.len() > 64
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        c.fail(
            "/region",
            "invalid_format",
            "must be 1–64 letters, digits and `-`",
        );
    }
}

/// Checks a change to a destination of `kind`.
pub fn update_destination(
    body: &UpdateAuditExportDestination,
    kind: AuditExportKind,
) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, NAME_MAX);
    s3_only(&mut c, kind, "/endpoint", body.endpoint.is_some());
    s3_only(&mut c, kind, "/bucket", body.bucket.is_some());
    s3_only(&mut c, kind, "/region", body.region.is_some());
    s3_only(&mut c, kind, "/access_key_id", body.access_key_id.is_some());
    s3_only(
        &mut c,
        kind,
        "/secret_access_key",
        body.secret_access_key.is_some(),
    );
    if kind == AuditExportKind::S3 {
        if body.path.is_some() {
            c.fail(
                "/path",
                "not_allowed",
                "applies to `local` destinations only",
            );
        }
        if let Some(e) = &body.endpoint {
            endpoint(&mut c, e);
        }
        if let Some(b) = &body.bucket {
            bucket(&mut c, b);
        }
        if let Some(r) = &body.region {
            region(&mut c, r);
        }
        if let Some(k) = &body.access_key_id {
            secret(&mut c, "/access_key_id", k);
        }
        if let Some(k) = &body.secret_access_key {
            secret(&mut c, "/secret_access_key", k);
        }
    } else if let Some(p) = &body.path {
        relative_path(&mut c, "/path", p);
    }
    if let Some(p) = &body.prefix
        && !p.is_empty()
    {
        relative_path(&mut c, "/prefix", p);
    }
    c.range_u64(
        "/max_object_bytes",
        body.max_object_bytes,
        MIN_OBJECT_BYTES,
        MAX_OBJECT_BYTES,
    );
    c.finish()
}

/// Checks a requested sequence range against what the chain holds
/// (`first..=head`); returns the range to export.
pub fn export_range(
    from: Option<i64>,
    to: Option<i64>,
    first: Option<i64>,
    head: i64,
) -> Result<(i64, i64)> {
    let Some(first) = first else {
        return Err(Error::invalid(
            "/from_seq",
            "nothing_to_export",
            "the tenant's audit chain holds no events",
        ));
    };
    let from_seq = from.unwrap_or(first);
    let to_seq = to.unwrap_or(head);
    let mut c = Checker::default();
    if from_seq < first || from_seq > head {
        c.fail(
            "/from_seq",
            "out_of_range",
            format!("must be between {first} (the oldest kept event) and {head} (the head)"),
        );
    }
    if to_seq < first || to_seq > head {
        c.fail(
            "/to_seq",
            "out_of_range",
            format!("must be between {first} (the oldest kept event) and {head} (the head)"),
        );
    }
    if to_seq < from_seq {
        c.fail("/to_seq", "invalid_range", "must not be before `from_seq`");
    }
    c.finish().map(|()| (from_seq, to_seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_where_they_are_put() {
        for ok in ["a", "audit/2026", "x.y_z-1"] {
            assert!(is_safe_relative_path(ok), "{ok}");
        }
        for bad in [
            "", "/abs", "a/../b", "..", ".", "a//b", "a/", "a\\b", "a b", "ü", "a/./b",
        ] {
            assert!(!is_safe_relative_path(bad), "{bad}");
        }
    }

    #[test]
    fn ranges_are_checked_against_the_chain() {
        assert_eq!(export_range(None, None, Some(3), 9).unwrap(), (3, 9));
        assert_eq!(export_range(Some(4), Some(5), Some(3), 9).unwrap(), (4, 5));
        assert!(export_range(Some(2), None, Some(3), 9).is_err());
        assert!(export_range(None, Some(10), Some(3), 9).is_err());
        assert!(export_range(Some(6), Some(5), Some(3), 9).is_err());
        assert!(export_range(None, None, None, 0).is_err());
    }
}
