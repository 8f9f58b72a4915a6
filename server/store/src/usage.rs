//! Usage reports, summed from the 15-minute roll-ups (never from the event
//! ledger, which is far larger).

use chrono::{DateTime, Utc};
use ditto_core::money::format_usd_wide;
use ditto_core::validate::{USAGE_MAX_ROWS, UsageQuery};
use ditto_core::{Error, PlatformScope, Result, TenantScope};
use ditto_types::api::{UsageDimension, UsageInterval, UsageReport, UsageRow};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::budgets::pico_sum;
use crate::tenants::tenant_zone;
use crate::tx::Tx;
use crate::{Store, error::db};

/// A report query that runs longer is cancelled.
const STATEMENT_TIMEOUT: &str = "20s";

#[derive(FromRow)]
struct Row {
    bucket: Option<DateTime<Utc>>,
    tenant_id: Option<Uuid>,
    project_id: Option<Uuid>,
    user_id: Option<Uuid>,
    key_id: Option<Uuid>,
    model: Option<String>,
    backend_id: Option<Uuid>,
    requests: i64,
    errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cached_tokens: i64,
    cost_pico: String,
}

fn column(d: UsageDimension) -> (&'static str, &'static str) {
    match d {
        UsageDimension::Tenant => ("tenant_id", "uuid"),
        UsageDimension::Project => ("project_id", "uuid"),
        UsageDimension::User => ("user_id", "uuid"),
        UsageDimension::Key => ("key_id", "uuid"),
        UsageDimension::Model => ("model", "text"),
        UsageDimension::Backend => ("backend_id", "uuid"),
    }
}

/// Sums the roll-ups of `[q.from, q.to)`, day and hour buckets in `zone`.
async fn report(tx: &mut Tx, q: &UsageQuery, zone: String) -> Result<UsageReport> {
    sqlx::query(sql!("SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"))
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    let grouped = |d| q.group_by.contains(&d);
    let mut qb = QueryBuilder::new("SELECT ");
    match q.interval {
        UsageInterval::None => qb.push("NULL::timestamptz"),
        UsageInterval::Hour => qb
            .push("date_trunc('hour', bucket, ")
            .push_bind(zone.clone())
            .push(")"),
        UsageInterval::Day => qb
            .push("date_trunc('day', bucket, ")
            .push_bind(zone.clone())
            .push(")"),
    };
    qb.push(" AS bucket");
    let mut group = Vec::new();
    if q.interval != UsageInterval::None {
        group.push("1".to_owned());
    }
    for d in UsageDimension::ALL {
        let (name, kind) = column(d);
        if grouped(d) {
            qb.push(format!(", {name}"));
        } else {
            qb.push(format!(", NULL::{kind} AS {name}"));
        }
    }
    // In the order asked for, after the bucket.
    group.extend(q.group_by.iter().map(|d| column(*d).0.to_owned()));
    qb.push(
        ", COALESCE(sum(requests), 0)::bigint AS requests, COALESCE(sum(errors), 0)::bigint AS errors,
         COALESCE(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
         COALESCE(sum(completion_tokens), 0)::bigint AS completion_tokens,
         COALESCE(sum(cached_tokens), 0)::bigint AS cached_tokens,
         COALESCE(sum(cost_pico), 0)::text AS cost_pico
         FROM usage_rollups WHERE bucket >= ",
    );
    qb.push_bind(q.from).push(" AND bucket < ").push_bind(q.to);
    if !group.is_empty() {
        let list = group.join(", ");
        qb.push(format!(" GROUP BY {list} ORDER BY {list}"));
    }
    qb.push(" LIMIT ").push_bind(USAGE_MAX_ROWS as i64 + 1);
    let mut rows: Vec<Row> = qb
        .build_query_as()
        .fetch_all(&mut **tx)
        .await
        .map_err(
            |e| match e.as_database_error().and_then(|d| d.code()).as_deref() {
                Some("57014") => Error::Unavailable(
                    "the usage query took too long; narrow the range or the grouping".into(),
                ),
                _ => db(e),
            },
        )?;
    let truncated = rows.len() > USAGE_MAX_ROWS;
    rows.truncate(USAGE_MAX_ROWS);
    let rows = rows
        .into_iter()
        .map(|r| {
            Ok(UsageRow {
                bucket: r.bucket,
                tenant_id: r.tenant_id.map(Into::into),
                project_id: r.project_id.map(Into::into),
                user_id: grouped(UsageDimension::User).then(|| r.user_id.map(Into::into)),
                key_id: r.key_id.map(Into::into),
                model: r.model,
                backend_id: grouped(UsageDimension::Backend).then(|| r.backend_id.map(Into::into)),
                requests: r.requests.max(0) as u64,
                errors: r.errors.max(0) as u64,
                prompt_tokens: r.prompt_tokens.max(0) as u64,
                completion_tokens: r.completion_tokens.max(0) as u64,
                cached_tokens: r.cached_tokens.max(0) as u64,
                cost_usd: format_usd_wide(pico_sum(&r.cost_pico)?),
            })
        })
        .collect::<Result<_>>()?;
    Ok(UsageReport {
        from: q.from,
        to: q.to,
        group_by: q.group_by.clone(),
        interval: q.interval,
        time_zone: zone,
        rows,
        truncated,
    })
}

impl Store {
    /// A tenant's usage; days follow the tenant's time zone.
    pub async fn tenant_usage(&self, scope: &TenantScope, q: &UsageQuery) -> Result<UsageReport> {
        let mut tx = self.tenant_tx(scope).await?;
        let (zone, _) = tenant_zone(&mut tx).await?;
        let report = report(&mut tx, q, zone).await?;
        tx.commit().await.map_err(db)?;
        Ok(report)
    }

    /// Usage across tenants; days in UTC.
    pub async fn platform_usage(
        &self,
        scope: &PlatformScope,
        q: &UsageQuery,
    ) -> Result<UsageReport> {
        let mut tx = self.platform_tx(scope).await?;
        let report = report(&mut tx, q, "UTC".to_owned()).await?;
        tx.commit().await.map_err(db)?;
        Ok(report)
    }
}
