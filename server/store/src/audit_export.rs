//! Audit export destinations and runs. A tenant's admins configure where
//! its trail goes (destinations, with secrets arriving already sealed) and
//! ask for one-off runs; `ditto serve` turns schedules into runs and works
//! the runs off. Every replica may do that: a schedule is claimed with
//! `FOR UPDATE SKIP LOCKED`, a run with a lease that a replica renews while
//! it works, so a run is done once, and a replica that dies mid-run leaves
//! it to another once its lease is past.
//!
//! The worker's methods are the platform-wide path (no caller, so no scope),
//! like retention's background run.

use chrono::{DateTime, Utc};
use ditto_core::audit::AuditSigner;
use ditto_core::audit_export::export_range;
use ditto_core::secret_binding::Rebinding;
use ditto_core::{Error, Result, TenantScope};
use ditto_types::TenantId;
use ditto_types::api::{
    AuditCheckpoint, AuditEvent, AuditExportDestination, AuditExportDestinationPage,
    AuditExportKind, AuditExportObject, AuditExportRun, AuditExportRunPage, AuditExportSchedule,
    AuditExportStatus, CreateAuditExport, CreateAuditExportDestination, PageParams,
    UpdateAuditExportDestination,
};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::page::{BY_CREATION, Keyset};
use crate::{Store, error::db};

const DESTINATION_COLUMNS: &str = "id, tenant_id, name, kind, endpoint, bucket, region,
    access_key_id, secret_access_key IS NOT NULL AS has_secret_access_key, path, prefix, schedule,
    next_run_at, exported_through, max_object_bytes, created_at, updated_at";

#[derive(FromRow)]
struct DestinationRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    kind: String,
    endpoint: Option<String>,
    bucket: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    has_secret_access_key: bool,
    path: Option<String>,
    prefix: String,
    schedule: String,
    next_run_at: Option<DateTime<Utc>>,
    exported_through: i64,
    max_object_bytes: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn kind_of(s: &str) -> AuditExportKind {
    if s == "local" {
        AuditExportKind::Local
    } else {
        AuditExportKind::S3
    }
}

fn schedule_of(s: &str) -> AuditExportSchedule {
    match s {
        "hourly" => AuditExportSchedule::Hourly,
        "daily" => AuditExportSchedule::Daily,
        _ => AuditExportSchedule::None,
    }
}

fn schedule_str(s: AuditExportSchedule) -> &'static str {
    match s {
        AuditExportSchedule::None => "none",
        AuditExportSchedule::Hourly => "hourly",
        AuditExportSchedule::Daily => "daily",
    }
}

impl From<DestinationRow> for AuditExportDestination {
    fn from(r: DestinationRow) -> Self {
        AuditExportDestination {
            id: r.id,
            tenant_id: TenantId(r.tenant_id),
            name: r.name,
            kind: kind_of(&r.kind),
            endpoint: r.endpoint,
            bucket: r.bucket,
            region: r.region,
            access_key_id: r.access_key_id,
            has_secret_access_key: r.has_secret_access_key,
            path: r.path,
            prefix: r.prefix,
            schedule: schedule_of(&r.schedule),
            next_run_at: r.next_run_at,
            exported_through: r.exported_through,
            max_object_bytes: r.max_object_bytes as u64,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const RUN_COLUMNS: &str = "id, tenant_id, destination_id, trigger, status, from_seq, to_seq, rows,
    objects, manifest, error, created_at, started_at, finished_at, attempts";

#[derive(FromRow)]
struct RunRow {
    id: Uuid,
    tenant_id: Uuid,
    destination_id: Uuid,
    trigger: String,
    status: String,
    from_seq: i64,
    to_seq: i64,
    rows: i64,
    objects: serde_json::Value,
    manifest: Option<String>,
    error: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    attempts: i32,
}

impl From<RunRow> for AuditExportRun {
    fn from(r: RunRow) -> Self {
        AuditExportRun {
            id: r.id,
            tenant_id: TenantId(r.tenant_id),
            destination_id: r.destination_id,
            trigger: r.trigger,
            status: match r.status.as_str() {
                "running" => AuditExportStatus::Running,
                "succeeded" => AuditExportStatus::Succeeded,
                "failed" => AuditExportStatus::Failed,
                _ => AuditExportStatus::Pending,
            },
            from_seq: r.from_seq,
            to_seq: r.to_seq,
            rows: r.rows as u64,
            objects: serde_json::from_value(r.objects).unwrap_or_default(),
            manifest: r.manifest,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// A destination as a run needs it, with its secret still sealed (to the
/// destination's id). No `Debug`: nothing here is for logs.
pub struct ExportTarget {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: AuditExportKind,
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub sealed_secret_access_key: Option<Vec<u8>>,
    pub path: Option<String>,
    pub prefix: String,
    pub max_object_bytes: u64,
}

#[derive(FromRow)]
struct TargetRow {
    id: Uuid,
    tenant_id: Uuid,
    kind: String,
    endpoint: Option<String>,
    bucket: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<Vec<u8>>,
    path: Option<String>,
    prefix: String,
    max_object_bytes: i64,
}

impl From<TargetRow> for ExportTarget {
    fn from(t: TargetRow) -> Self {
        ExportTarget {
            id: t.id,
            tenant_id: t.tenant_id,
            kind: kind_of(&t.kind),
            endpoint: t.endpoint,
            bucket: t.bucket,
            region: t.region,
            access_key_id: t.access_key_id,
            sealed_secret_access_key: t.secret_access_key,
            path: t.path,
            prefix: t.prefix,
            max_object_bytes: t.max_object_bytes as u64,
        }
    }
}

/// A run a worker holds the lease of, with where it goes.
pub struct ClaimedRun {
    pub run: AuditExportRun,
    /// Which attempt this is; only this attempt may finish the run.
    pub attempt: i32,
    pub target: ExportTarget,
}

/// How a run ended.
pub enum RunOutcome {
    Succeeded {
        rows: u64,
        objects: Vec<AuditExportObject>,
        manifest: String,
    },
    Failed {
        rows: u64,
        objects: Vec<AuditExportObject>,
        error: String,
    },
}

/// How long a worker holds a run without renewing its lease.
pub const RUN_LEASE_SECS: i64 = 300;

/// How much of an error a run keeps.
const ERROR_MAX: usize = 2000;

/// Destinations a scheduler pass claims at most.
const SCHEDULE_BATCH: i64 = 50;

fn next_run_sql(schedule: &str) -> &'static str {
    match schedule {
        "hourly" => "now() + interval '1 hour'",
        "daily" => "now() + interval '1 day'",
        _ => "NULL",
    }
}

impl Store {
    /// Adds an export destination with id `id` (the id its secret is sealed to).
    pub async fn create_audit_export_destination(
        &self,
        scope: &TenantScope,
        id: Uuid,
        body: &CreateAuditExportDestination,
        sealed_secret: Option<Vec<u8>>,
    ) -> Result<AuditExportDestination> {
        let mut tx = self.tenant_tx(scope).await?;
        let schedule = schedule_str(body.schedule);
        let s3 = body.kind == AuditExportKind::S3;
        let row: DestinationRow = sqlx::query_as(sql!(
            "INSERT INTO audit_export_destinations (id, tenant_id, name, kind, endpoint, bucket,
                 region, access_key_id, secret_access_key, path, prefix, schedule, next_run_at,
                 max_object_bytes)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                 CASE WHEN $11 = 'none' THEN NULL ELSE now() END, COALESCE($12, 67108864))
             RETURNING {DESTINATION_COLUMNS}"
        ))
        .bind(id)
        .bind(body.name.trim())
        .bind(if s3 { "s3" } else { "local" })
        .bind(body.endpoint.as_deref().map(|e| e.trim_end_matches('/')))
        .bind(&body.bucket)
        .bind(if s3 {
            Some(body.region.clone().unwrap_or_else(|| "us-east-1".into()))
        } else {
            None
        })
        .bind(&body.access_key_id)
        .bind(sealed_secret)
        .bind(&body.path)
        .bind(body.prefix.clone().unwrap_or_default())
        .bind(schedule)
        .bind(body.max_object_bytes.map(|b| b as i64))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "audit_export_destinations.create", id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn list_audit_export_destinations(
        &self,
        scope: &TenantScope,
        page: &PageParams,
    ) -> Result<AuditExportDestinationPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION])?;
        let mut qb = QueryBuilder::new(format!(
            "SELECT {DESTINATION_COLUMNS} FROM audit_export_destinations WHERE true"
        ));
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<DestinationRow> =
            qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, _| (r.id, None));
        Ok(AuditExportDestinationPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    pub async fn get_audit_export_destination(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<AuditExportDestination> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Option<DestinationRow> = sqlx::query_as(sql!(
            "SELECT {DESTINATION_COLUMNS} FROM audit_export_destinations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(Into::into)
            .ok_or(Error::NotFound("audit export destination"))
    }

    /// Changes a destination. `sealed_secret`: `Some` replaces the secret. A
    /// new schedule starts now (`none` stops it).
    pub async fn update_audit_export_destination(
        &self,
        scope: &TenantScope,
        id: Uuid,
        body: &UpdateAuditExportDestination,
        sealed_secret: Option<Vec<u8>>,
    ) -> Result<AuditExportDestination> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "audit_export_destinations", id).await?;
        if before.is_none() {
            return Err(Error::NotFound("audit export destination"));
        }
        let (endpoint, bucket, region, holds_secret): (
            Option<String>,
            Option<String>,
            Option<String>,
            bool,
        ) = sqlx::query_as(
            "SELECT endpoint, bucket, region, secret_access_key IS NOT NULL
             FROM audit_export_destinations WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let differs = |new: Option<&str>, old: &Option<String>| {
            new.is_some_and(|new| Some(new) != old.as_deref())
        };
        Rebinding {
            secret_field: "/secret_access_key",
            destination: "endpoint, bucket or region",
            moves: differs(
                body.endpoint.as_deref().map(|e| e.trim_end_matches('/')),
                &endpoint,
            ) || differs(body.bucket.as_deref(), &bucket)
                || differs(body.region.as_deref(), &region),
            holds_secret,
            replaces_secret: sealed_secret.is_some(),
        }
        .check()?;
        let row: DestinationRow = sqlx::query_as(sql!(
            "UPDATE audit_export_destinations SET
                 name = COALESCE($2, name),
                 endpoint = COALESCE($3, endpoint),
                 bucket = COALESCE($4, bucket),
                 region = COALESCE($5, region),
                 access_key_id = COALESCE($6, access_key_id),
                 secret_access_key = COALESCE($7, secret_access_key),
                 path = COALESCE($8, path),
                 prefix = COALESCE($9, prefix),
                 next_run_at = CASE WHEN $10::text IS NULL OR $10 = schedule THEN next_run_at
                                    WHEN $10 = 'none' THEN NULL ELSE now() END,
                 schedule = COALESCE($10, schedule),
                 max_object_bytes = COALESCE($11, max_object_bytes),
                 updated_at = now()
             WHERE id = $1
             RETURNING {DESTINATION_COLUMNS}"
        ))
        .bind(id)
        .bind(body.name.as_deref().map(str::trim))
        .bind(body.endpoint.as_deref().map(|e| e.trim_end_matches('/')))
        .bind(&body.bucket)
        .bind(&body.region)
        .bind(&body.access_key_id)
        .bind(sealed_secret)
        .bind(&body.path)
        .bind(&body.prefix)
        .bind(body.schedule.map(schedule_str))
        .bind(body.max_object_bytes.map(|b| b as i64))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(
            &mut tx,
            scope,
            "audit_export_destinations.update",
            id,
            before,
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Removes a destination and the record of its runs (the objects it
    /// received stay where they are).
    pub async fn delete_audit_export_destination(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image_by_id(&mut tx, "audit_export_destinations", id).await?;
        if before.is_none() {
            return Err(Error::NotFound("audit export destination"));
        }
        sqlx::query("DELETE FROM audit_export_destinations WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        audit::record_row(
            &mut tx,
            scope,
            "audit_export_destinations.delete",
            id,
            before,
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Asks for a one-off export of a range of the tenant's chain (default:
    /// every kept event); a worker picks the run up.
    pub async fn create_audit_export_run(
        &self,
        scope: &TenantScope,
        body: &CreateAuditExport,
    ) -> Result<AuditExportRun> {
        let mut tx = self.tenant_tx(scope).await?;
        let exists: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM audit_export_destinations WHERE id = $1")
                .bind(body.destination_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if exists.is_none() {
            return Err(Error::invalid(
                "/destination_id",
                "not_found",
                "no such export destination in this tenant",
            ));
        }
        let (first, head): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT min(seq) FROM audit_events WHERE tenant_id = ditto_current_tenant()),
                    (SELECT seq FROM audit_heads WHERE tenant_id = ditto_current_tenant())",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let (from_seq, to_seq) =
            export_range(body.from_seq, body.to_seq, first, head.unwrap_or(0))?;
        let id = Uuid::now_v7();
        let row: RunRow = sqlx::query_as(sql!(
            "INSERT INTO audit_export_runs (id, tenant_id, destination_id, trigger, from_seq, to_seq)
             VALUES ($1, ditto_current_tenant(), $2, 'manual', $3, $4) RETURNING {RUN_COLUMNS}"
        ))
        .bind(id)
        .bind(body.destination_id)
        .bind(from_seq)
        .bind(to_seq)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let change = Change::new("audit_exports.create", "audit_export_run")
            .target(id)
            .after(Some(json!({
                "destination_id": body.destination_id,
                "from_seq": from_seq,
                "to_seq": to_seq,
                "trigger": "manual",
            })));
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// A page of the tenant's export runs, newest first; `destination`
    /// narrows to one destination's.
    pub async fn list_audit_export_runs(
        &self,
        scope: &TenantScope,
        destination: Option<Uuid>,
        page: &PageParams,
    ) -> Result<AuditExportRunPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION])?;
        let mut qb = QueryBuilder::new(format!(
            "SELECT {RUN_COLUMNS} FROM audit_export_runs WHERE true"
        ));
        if let Some(d) = destination {
            qb.push(" AND destination_id = ").push_bind(d);
        }
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<RunRow> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) = keyset.finish(rows, |r, _| (r.id, None));
        Ok(AuditExportRunPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    pub async fn get_audit_export_run(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<AuditExportRun> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Option<RunRow> = sqlx::query_as(sql!(
            "SELECT {RUN_COLUMNS} FROM audit_export_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(Into::into)
            .ok_or(Error::NotFound("audit export run"))
    }

    /// Scheduler pass: for every destination whose schedule is due (claimed
    /// with `SKIP LOCKED`, so replicas share the work), makes a run of the
    /// events added since its last successful scheduled run, unless one is
    /// still open or nothing was added; then moves the schedule on. Returns
    /// how many runs it made.
    pub async fn schedule_audit_exports(&self) -> Result<u64> {
        let mut tx = self.unscoped_platform_tx().await?;
        let due: Vec<(Uuid, Uuid, String, i64)> = sqlx::query_as(
            "SELECT id, tenant_id, schedule, exported_through FROM audit_export_destinations
             WHERE schedule <> 'none' AND next_run_at <= now()
             ORDER BY next_run_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(SCHEDULE_BATCH)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut made = 0;
        for (id, tenant, schedule, through) in due {
            let (first, head, open): (Option<i64>, Option<i64>, bool) = sqlx::query_as(
                "SELECT (SELECT min(seq) FROM audit_events WHERE tenant_id = $1),
                        (SELECT seq FROM audit_heads WHERE tenant_id = $1),
                        EXISTS (SELECT 1 FROM audit_export_runs WHERE destination_id = $2
                                AND status IN ('pending', 'running'))",
            )
            .bind(tenant)
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            if let (Some(first), Some(head), false) = (first, head, open)
                && head > through
            {
                // Events removed by retention before they were exported
                // are gone; the run starts at the oldest kept one.
                let from = (through + 1).max(first);
                sqlx::query(
                    "INSERT INTO audit_export_runs (id, tenant_id, destination_id, trigger, from_seq, to_seq)
                     VALUES ($1, $2, $3, 'scheduled', $4, $5)",
                )
                .bind(Uuid::now_v7())
                .bind(tenant)
                .bind(id)
                .bind(from)
                .bind(head)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                made += 1;
            }
            sqlx::query(sql!(
                "UPDATE audit_export_destinations SET next_run_at = {} WHERE id = $1",
                next_run_sql(&schedule)
            ))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(made)
    }

    /// Takes the lease of a run that is waiting, or whose worker stopped
    /// renewing its lease: `run` that one only, else the oldest. `None`
    /// when there is none (or another replica holds it).
    pub async fn claim_audit_export_run(&self, run: Option<Uuid>) -> Result<Option<ClaimedRun>> {
        let mut tx = self.unscoped_platform_tx().await?;
        let row: Option<RunRow> = sqlx::query_as(sql!(
            "UPDATE audit_export_runs SET status = 'running', attempts = attempts + 1,
                 started_at = COALESCE(started_at, now()),
                 lease_until = now() + make_interval(secs => $2)
             WHERE id = (
                 SELECT id FROM audit_export_runs
                 WHERE (status = 'pending' OR (status = 'running' AND lease_until < now()))
                   AND ($1::uuid IS NULL OR id = $1)
                 ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING {RUN_COLUMNS}"
        ))
        .bind(run)
        .bind(RUN_LEASE_SECS as f64)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            tx.commit().await.map_err(db)?;
            return Ok(None);
        };
        let t: TargetRow = sqlx::query_as(
            "SELECT id, tenant_id, kind, endpoint, bucket, region, access_key_id,
                    secret_access_key, path, prefix, max_object_bytes
             FROM audit_export_destinations WHERE id = $1",
        )
        .bind(row.destination_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let attempt = row.attempts;
        Ok(Some(ClaimedRun {
            run: row.into(),
            attempt,
            target: t.into(),
        }))
    }

    /// Renews a run's lease; `false` when the run is no longer this
    /// attempt's (another replica took it over).
    pub async fn renew_audit_export_lease(&self, run: Uuid, attempt: i32) -> Result<bool> {
        let mut tx = self.unscoped_platform_tx().await?;
        let renewed = sqlx::query(
            "UPDATE audit_export_runs SET lease_until = now() + make_interval(secs => $3)
             WHERE id = $1 AND attempts = $2 AND status = 'running'",
        )
        .bind(run)
        .bind(attempt)
        .bind(RUN_LEASE_SECS as f64)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        tx.commit().await.map_err(db)?;
        Ok(renewed == 1)
    }

    /// Up to `limit` of a tenant's events after `after` and up to `upto`,
    /// in sequence order, each with its chain link (an export run's read).
    pub async fn audit_events_for_export(
        &self,
        tenant: Uuid,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<(AuditEvent, ditto_core::audit::ChainLink)>> {
        let mut tx = self.unscoped_platform_tx().await?;
        let events = audit::event_batch(&mut tx, tenant, after, upto, limit).await?;
        tx.commit().await.map_err(db)?;
        Ok(events)
    }

    /// Signs a checkpoint at `seq` of a tenant's chain (the last event an
    /// export holds), so the export verifies on its own.
    pub async fn sign_export_checkpoint(
        &self,
        tenant: Uuid,
        seq: i64,
        signer: &AuditSigner,
    ) -> Result<AuditCheckpoint> {
        let mut tx = self.unscoped_platform_tx().await?;
        let cp = audit::checkpoint_at(&mut tx, tenant, seq, signer, "export").await?;
        tx.commit().await.map_err(db)?;
        Ok(cp)
    }

    /// Records how a run ended, if this attempt still holds it, and records
    /// it in the tenant's chain (`audit_exports.finish`, by the system). A
    /// scheduled run's success moves its destination's `exported_through`;
    /// a failure leaves it, so the next scheduled run covers the same events.
    pub async fn finish_audit_export_run(
        &self,
        run: Uuid,
        attempt: i32,
        outcome: RunOutcome,
    ) -> Result<Option<AuditExportRun>> {
        let (status, rows, objects, manifest, error) = match outcome {
            RunOutcome::Succeeded {
                rows,
                objects,
                manifest,
            } => ("succeeded", rows, objects, Some(manifest), None),
            RunOutcome::Failed {
                rows,
                objects,
                error,
            } => {
                let error: String = error.chars().take(ERROR_MAX).collect();
                ("failed", rows, objects, None, Some(error))
            }
        };
        let mut tx = self.unscoped_platform_tx().await?;
        let row: Option<RunRow> = sqlx::query_as(sql!(
            "UPDATE audit_export_runs SET status = $3, rows = $4, objects = $5, manifest = $6,
                 error = $7, finished_at = now(), lease_until = NULL
             WHERE id = $1 AND attempts = $2 AND status = 'running'
             RETURNING {RUN_COLUMNS}"
        ))
        .bind(run)
        .bind(attempt)
        .bind(status)
        .bind(rows as i64)
        .bind(serde_json::to_value(&objects).map_err(|e| Error::Internal(e.to_string()))?)
        .bind(&manifest)
        .bind(&error)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            tx.commit().await.map_err(db)?;
            return Ok(None);
        };
        if status == "succeeded" && row.trigger == "scheduled" {
            sqlx::query(
                "UPDATE audit_export_destinations SET exported_through = GREATEST(exported_through, $2)
                 WHERE id = $1",
            )
            .bind(row.destination_id)
            .bind(row.to_seq)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let change = Change::new("audit_exports.finish", "audit_export_run")
            .target(row.id)
            .after(Some(json!({
                "destination_id": row.destination_id,
                "trigger": row.trigger,
                "status": status,
                "from_seq": row.from_seq,
                "to_seq": row.to_seq,
                "rows": rows,
                "objects": objects.len(),
                "manifest": manifest,
                "error": error,
            })));
        audit::record_system_in(&mut tx, row.tenant_id, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(row.into()))
    }
}
