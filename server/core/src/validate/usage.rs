//! Usage queries, pages and search terms.

use chrono::{DateTime, Utc};
use ditto_types::api::*;

use super::*;
use crate::Result;

// ---------------------------------------------------------------- usage

/// Usage is kept in buckets of this many seconds.
pub const USAGE_BUCKET_SECS: i64 = 15 * 60;
/// The longest range one usage query may cover.
pub const USAGE_MAX_DAYS: i64 = 400;
/// The most rows one usage query returns.
pub const USAGE_MAX_ROWS: usize = 10_000;

/// A checked usage query: whole buckets, known dimensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// In the order asked, without repeats.
    pub group_by: Vec<UsageDimension>,
    pub interval: UsageInterval,
}

fn bucket_floor(at: DateTime<Utc>) -> DateTime<Utc> {
    let secs = at.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(USAGE_BUCKET_SECS), 0).unwrap_or(at)
}

fn bucket_ceil(at: DateTime<Utc>) -> DateTime<Utc> {
    let floor = bucket_floor(at);
    if floor == at {
        at
    } else {
        floor + chrono::Duration::seconds(USAGE_BUCKET_SECS)
    }
}

/// Checks a usage query. `across_tenants` allows grouping by tenant.
pub fn usage_query(params: &UsageParams, across_tenants: bool) -> Result<UsageQuery> {
    let mut c = Checker::default();
    let mut group_by = Vec::new();
    for name in params.group_by.as_deref().unwrap_or("").split(',') {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        match UsageDimension::ALL.into_iter().find(|d| d.as_str() == name) {
            Some(UsageDimension::Tenant) if !across_tenants => c.fail(
                "group_by",
                "invalid_value",
                "`tenant` is only for usage across tenants (/api/v1/usage)",
            ),
            Some(d) if !group_by.contains(&d) => group_by.push(d),
            Some(_) => {}
            None => {
                let allowed: Vec<_> = UsageDimension::ALL
                    .into_iter()
                    .filter(|d| across_tenants || *d != UsageDimension::Tenant)
                    .map(UsageDimension::as_str)
                    .collect();
                c.fail(
                    "group_by",
                    "invalid_value",
                    format!(
                        "`{}` is not a dimension; use a comma-separated list of {}",
                        name.chars().take(50).collect::<String>(),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }
    // Optional to the extractor so that they are checked after authorization.
    let (Some(raw_from), Some(raw_to)) = (params.from, params.to) else {
        if params.from.is_none() {
            c.fail("from", "required", "the start of the range (RFC 3339)");
        }
        if params.to.is_none() {
            c.fail("to", "required", "the end of the range (RFC 3339)");
        }
        return Err(Error::Validation(c.errors));
    };
    let (from, to) = (bucket_floor(raw_from), bucket_ceil(raw_to));
    if raw_from >= raw_to {
        c.fail("to", "invalid_range", "must be after `from`");
    } else if to - from > chrono::Duration::days(USAGE_MAX_DAYS) {
        c.fail(
            "to",
            "invalid_range",
            format!("the range must be at most {USAGE_MAX_DAYS} days"),
        );
    }
    c.finish()?;
    Ok(UsageQuery {
        from,
        to,
        group_by,
        interval: params.interval,
    })
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
