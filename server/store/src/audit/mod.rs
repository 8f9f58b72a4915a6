//! The audit trail. Every mutating repository method ends its transaction
//! with [`record`]: the event joins its chain in the same transaction as the
//! change, so a rolled-back change leaves no event and a committed one
//! always has one. Sequence numbers come from the chain's head row, locked
//! until commit, so concurrent writers get 1, 2, 3, … without gaps.
//!
//! Who acted comes from the scope; the request's id, source address and
//! user agent from [`with_request`], which the admin API wraps around each
//! request.

use std::future::Future;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use ditto_core::audit::{
    AuditRecord, AuditSigner, BrokenLink, ChainLink, ChainWalk, GENESIS, PublicKeys,
    checkpoint_message, redact,
};
use ditto_core::validate::Checker;
use ditto_core::{Actor, Error, PlatformScope, Result, TenantScope};
use ditto_types::TenantId;
use ditto_types::api::{
    AuditBrokenLink, AuditCheckpoint, AuditEvent, AuditEventPage, AuditFilter, AuditRetentionRun,
    AuditVerification, PageParams, PlatformAuditFilter,
};
use futures_util::{Stream, StreamExt, TryStreamExt};
use serde_json::Value;
use sqlx::{FromRow, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::page::{BY_CREATION, Keyset};
use crate::tx::Tx;
use crate::{Store, error::db};

mod export;
mod retention;
mod verify;

use retention::retain;
use verify::walk;

/// Where a request came from, recorded with each event it causes.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The operation asked for (`METHOD /matched/{path}`), for events about
    /// the request itself (a refused permission).
    pub operation: Option<String>,
}

tokio::task_local! {
    static REQUEST: RequestMeta;
}

/// Runs `f` with `meta` as the request every event it records came from.
pub async fn with_request<F: Future>(meta: RequestMeta, f: F) -> F::Output {
    REQUEST.scope(meta, f).await
}

fn current_request() -> RequestMeta {
    REQUEST.try_with(Clone::clone).unwrap_or_default()
}

/// One change, as its repository method describes it.
pub(crate) struct Change {
    /// `<resource>.<verb>`, e.g. `budgets.create`.
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Change {
    pub(crate) fn new(action: impl Into<String>, target_type: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            target_type: target_type.into(),
            target_id: None,
            before: None,
            after: None,
        }
    }

    pub(crate) fn target(mut self, id: impl ToString) -> Self {
        self.target_id = Some(id.to_string());
        self
    }

    pub(crate) fn before(mut self, image: Option<Value>) -> Self {
        self.before = image;
        self
    }

    pub(crate) fn after(mut self, image: Option<Value>) -> Self {
        self.after = image;
        self
    }
}

fn actor_columns(actor: Option<Actor>) -> (&'static str, Option<Uuid>) {
    match actor {
        Some(Actor::ServiceAccount(id)) => ("service_account", Some(id.0)),
        Some(Actor::User(id)) => ("user", Some(id.0)),
        Some(Actor::ScimToken(id)) => ("scim_token", Some(id.0)),
        None => ("system", None),
    }
}

/// Records a change in the scope's tenant chain. Call it last before commit:
/// the chain head stays locked until then.
pub(crate) async fn record(tx: &mut Tx, scope: &TenantScope, change: Change) -> Result<()> {
    append(tx, Some(scope.tenant_id().0), Some(scope.actor()), change).await
}

/// Records a platform-level change in the platform chain.
pub(crate) async fn record_platform(
    tx: &mut Tx,
    scope: &PlatformScope,
    change: Change,
) -> Result<()> {
    append(tx, None, Some(scope.actor()), change).await
}

/// Records a change made by Ditto itself, not by a caller (e.g. the first
/// platform administrator, made at start-up), in the platform chain.
pub(crate) async fn record_system(tx: &mut Tx, change: Change) -> Result<()> {
    append(tx, None, None, change).await
}

/// Records a change made by Ditto itself (e.g. an export run finishing) in
/// a tenant's chain.
pub(crate) async fn record_system_in(tx: &mut Tx, tenant: Uuid, change: Change) -> Result<()> {
    append(tx, Some(tenant), None, change).await
}

/// Appends an event to a chain (`tenant` `None`: the platform chain).
pub(crate) async fn append(
    tx: &mut Tx,
    tenant: Option<Uuid>,
    actor: Option<Actor>,
    mut change: Change,
) -> Result<()> {
    // Locks the head until commit; creates it on a chain's first event.
    let (seq, prev): (i64, Vec<u8>) = sqlx::query_as(
        "INSERT INTO audit_heads AS h (tenant_id) VALUES ($1)
         ON CONFLICT (tenant_id) DO UPDATE SET seq = h.seq
         RETURNING seq, hash",
    )
    .bind(tenant)
    .fetch_one(&mut **tx)
    .await
    .map_err(db)?;
    let prev = hash32(&prev)?;
    for image in [&mut change.before, &mut change.after]
        .into_iter()
        .flatten()
    {
        redact(image);
    }
    let request = current_request();
    let (actor_type, actor_id) = actor_columns(actor);
    let record = AuditRecord {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        seq: seq + 1,
        created_at: micros(Utc::now()),
        actor_type: actor_type.to_owned(),
        actor_id,
        action: change.action,
        target_type: change.target_type,
        target_id: change.target_id,
        before: change.before,
        after: change.after,
        request_id: request.request_id.filter(|r| !r.is_empty()),
        source_ip: request.source_ip,
        user_agent: request.user_agent.map(|ua| ua.chars().take(512).collect()),
    };
    let hash = record.hash(&prev);
    // The event and the head's move, in one round trip.
    sqlx::query(
        "WITH event AS (
             INSERT INTO audit_events (id, tenant_id, seq, prev_hash, hash, created_at, actor_type,
                 actor_id, action, target_type, target_id, before, after, request_id, source_ip,
                 user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         )
         UPDATE audit_heads SET seq = $3, hash = $5 WHERE tenant_id IS NOT DISTINCT FROM $2",
    )
    .bind(record.id)
    .bind(record.tenant_id)
    .bind(record.seq)
    .bind(prev.as_slice())
    .bind(hash.as_slice())
    .bind(record.created_at)
    .bind(&record.actor_type)
    .bind(record.actor_id)
    .bind(&record.action)
    .bind(&record.target_type)
    .bind(&record.target_id)
    .bind(&record.before)
    .bind(&record.after)
    .bind(&record.request_id)
    .bind(&record.source_ip)
    .bind(&record.user_agent)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Postgres keeps microseconds; the hashed time must be the stored one.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

fn hash32(bytes: &[u8]) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| Error::Internal("an audit hash is not 32 bytes".into()))
}

/// A row of `table` as JSON (`None` when there is none), for the before and
/// after images of a change. Runs in the caller's transaction, so it sees
/// what row-level security lets the caller see.
pub(crate) async fn image<T>(
    tx: &mut Tx,
    table: &'static str,
    key: &'static str,
    value: T,
) -> Result<Option<Value>>
where
    T: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send,
{
    sqlx::query_scalar(sql!("SELECT to_jsonb(t) FROM {table} t WHERE {key} = $1"))
        .bind(value)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)
}

impl Store {
    /// Records that the authorization seam refused `actor` `permission` in
    /// `tenant` (`security.permission_denied`, by the actor, in the
    /// tenant's chain; `None`: the platform chain), with the operation and
    /// origin of the current request. `suppressed`: refusals of the same kind not recorded since
    /// the last one (the caller limits how often this is called).
    pub async fn record_permission_denied(
        &self,
        tenant: Option<TenantId>,
        actor: Actor,
        permission: &str,
        reason: &str,
        suppressed: u64,
    ) -> Result<()> {
        let operation = current_request().operation;
        // The actor holds no scope here: that is the point.
        let mut tx = self.unscoped_platform_tx().await?;
        let change = Change::new("security.permission_denied", "permission")
            .target(permission)
            .after(Some(serde_json::json!({
                "permission": permission,
                "operation": operation,
                "reason": reason,
                "suppressed_since_last": suppressed,
            })));
        append(&mut tx, tenant.map(|t| t.0), Some(actor), change).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}

/// Rows that belong to another and change with it: the image of a parent
/// row carries them under the child table's name, so a route's before and
/// after show its targets. `(parent table, child table, column naming the
/// parent, order of the children)`.
const CHILDREN: &[(&str, &str, &str, &str)] = &[(
    "routes",
    "route_targets",
    "route_id",
    "c.kind DESC, c.position",
)];

/// A row by id, with its child rows (see [`CHILDREN`]).
pub(crate) async fn image_by_id(
    tx: &mut Tx,
    table: &'static str,
    id: Uuid,
) -> Result<Option<Value>> {
    let Some(mut image) = image(tx, table, "id", id).await? else {
        return Ok(None);
    };
    for (_, child, column, order) in CHILDREN.iter().filter(|(parent, ..)| *parent == table) {
        let rows: Value = sqlx::query_scalar(sql!(
            "SELECT COALESCE(jsonb_agg(to_jsonb(c) ORDER BY {order}), '[]')
             FROM {child} c WHERE c.{column} = $1"
        ))
        .bind(id)
        .fetch_one(&mut **tx)
        .await
        .map_err(db)?;
        if let Value::Object(map) = &mut image {
            map.insert((*child).to_owned(), rows);
        }
    }
    Ok(Some(image))
}

const EVENT_COLUMNS: &str = "id, tenant_id, seq, prev_hash, hash, created_at, actor_type, actor_id,
    action, target_type, target_id, before, after, request_id, source_ip, user_agent";

#[derive(Clone, FromRow)]
struct EventRow {
    id: Uuid,
    tenant_id: Option<Uuid>,
    seq: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    created_at: DateTime<Utc>,
    actor_type: String,
    actor_id: Option<Uuid>,
    action: String,
    target_type: String,
    target_id: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
    request_id: Option<String>,
    source_ip: Option<String>,
    user_agent: Option<String>,
}

impl EventRow {
    fn link(self) -> ChainLink {
        ChainLink {
            record: AuditRecord {
                id: self.id,
                tenant_id: self.tenant_id,
                seq: self.seq,
                created_at: self.created_at,
                actor_type: self.actor_type,
                actor_id: self.actor_id,
                action: self.action,
                target_type: self.target_type,
                target_id: self.target_id,
                before: self.before,
                after: self.after,
                request_id: self.request_id,
                source_ip: self.source_ip,
                user_agent: self.user_agent,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

impl From<EventRow> for AuditEvent {
    fn from(r: EventRow) -> Self {
        AuditEvent {
            id: r.id,
            tenant_id: r.tenant_id.map(TenantId),
            seq: r.seq,
            created_at: r.created_at,
            actor_type: r.actor_type,
            actor_id: r.actor_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            before: r.before,
            after: r.after,
            request_id: r.request_id,
            source_ip: r.source_ip,
            user_agent: r.user_agent,
            prev_hash: hex::encode(&r.prev_hash),
            hash: hex::encode(&r.hash),
        }
    }
}

const CHECKPOINT_COLUMNS: &str = "id, tenant_id, seq, hash, created_at, reason, key_id, signature";

#[derive(FromRow)]
struct CheckpointRow {
    id: Uuid,
    tenant_id: Option<Uuid>,
    seq: i64,
    hash: Vec<u8>,
    created_at: DateTime<Utc>,
    reason: String,
    key_id: String,
    signature: Vec<u8>,
}

impl CheckpointRow {
    /// The id of the listed key its signature verifies with.
    fn signed_by(&self, keys: &PublicKeys) -> Option<String> {
        let message = checkpoint_message(self.tenant_id, self.seq, &self.hash, self.created_at);
        keys.verify(&self.key_id, &message, &self.signature)
            .map(str::to_owned)
    }
}

impl From<CheckpointRow> for AuditCheckpoint {
    fn from(r: CheckpointRow) -> Self {
        AuditCheckpoint {
            id: r.id,
            tenant_id: r.tenant_id.map(TenantId),
            seq: r.seq,
            hash: hex::encode(&r.hash),
            created_at: r.created_at,
            reason: r.reason,
            key_id: r.key_id,
            signature: STANDARD.encode(&r.signature),
        }
    }
}

fn push_filter(qb: &mut QueryBuilder<Postgres>, f: &AuditFilter) {
    if let Some(actor) = f.actor_id {
        qb.push(" AND actor_id = ").push_bind(actor);
    }
    if let Some(action) = &f.action {
        qb.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(t) = &f.target_type {
        qb.push(" AND target_type = ").push_bind(t.clone());
    }
    if let Some(t) = &f.target_id {
        qb.push(" AND target_id = ").push_bind(t.clone());
    }
    if let Some(since) = f.since {
        qb.push(" AND created_at >= ").push_bind(since);
    }
    if let Some(until) = f.until {
        qb.push(" AND created_at < ").push_bind(until);
    }
}

fn check_filter(f: &AuditFilter) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("action", f.action.as_deref(), 1, 200);
    c.opt_text("target_type", f.target_type.as_deref(), 1, 200);
    c.opt_text("target_id", f.target_id.as_deref(), 1, 200);
    if let (Some(since), Some(until)) = (f.since, f.until)
        && since > until
    {
        c.fail("until", "invalid_range", "must not be before `since`");
    }
    c.finish()
}

/// Finishes a list query whose filters are pushed: one page of it, in the
/// keyset's order, read in `tx`, which it commits.
async fn event_page(
    mut tx: Tx,
    mut qb: QueryBuilder<Postgres>,
    keyset: Keyset,
) -> Result<AuditEventPage> {
    keyset.push_after(&mut qb);
    keyset.push_order_limit(&mut qb);
    let rows: Vec<EventRow> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    let (rows, next_cursor) = keyset.finish(rows, |r, _| (r.id, None));
    Ok(AuditEventPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    })
}

impl Store {
    /// A page of the scope's tenant's events, newest first. The tenant
    /// restriction is row-level security inside the query, so filters and
    /// cursors can only ever reach this tenant's rows.
    pub async fn list_audit_events(
        &self,
        scope: &TenantScope,
        filter: &AuditFilter,
        page: &PageParams,
    ) -> Result<AuditEventPage> {
        check_filter(filter)?;
        let keyset = Keyset::parse(page, &[BY_CREATION])?;
        let mut qb = QueryBuilder::new(format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE tenant_id = ditto_current_tenant()"
        ));
        push_filter(&mut qb, filter);
        event_page(self.tenant_tx(scope).await?, qb, keyset).await
    }

    /// A page of events across tenants and the platform chain, newest first.
    pub async fn list_platform_audit_events(
        &self,
        scope: &PlatformScope,
        chains: &PlatformAuditFilter,
        filter: &AuditFilter,
        page: &PageParams,
    ) -> Result<AuditEventPage> {
        check_filter(filter)?;
        let keyset = Keyset::parse(page, &[BY_CREATION])?;
        let mut qb = QueryBuilder::new(format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE true"
        ));
        if chains.platform_only {
            qb.push(" AND tenant_id IS NULL");
        } else if let Some(t) = chains.tenant_id {
            qb.push(" AND tenant_id = ").push_bind(t.0);
        }
        push_filter(&mut qb, filter);
        event_page(self.platform_tx(scope).await?, qb, keyset).await
    }

    /// Signs and stores a checkpoint of the tenant's chain at its head, then
    /// records that it did.
    pub async fn create_audit_checkpoint(
        &self,
        scope: &TenantScope,
        signer: &AuditSigner,
    ) -> Result<AuditCheckpoint> {
        let mut tx = self.tenant_tx(scope).await?;
        let checkpoint: AuditCheckpoint =
            checkpoint(&mut tx, Some(scope.tenant_id().0), signer, "on_demand")
                .await?
                .into();
        // The API's form: the hash in hex and the signature in base64.
        let after = serde_json::to_value(&checkpoint).ok();
        record(
            &mut tx,
            scope,
            Change::new("audit_checkpoints.create", "audit_checkpoint")
                .target(checkpoint.id)
                .after(after),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(checkpoint)
    }

    pub async fn list_audit_checkpoints(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<AuditCheckpoint>> {
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<CheckpointRow> = sqlx::query_as(sql!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints
             WHERE tenant_id = ditto_current_tenant() ORDER BY seq DESC, created_at DESC LIMIT 100"
        ))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Checks the tenant's chain from its anchor (the genesis, or the
    /// checkpoint just before the oldest kept event) to its head.
    pub async fn verify_audit_chain(
        &self,
        scope: &TenantScope,
        keys: &PublicKeys,
    ) -> Result<AuditVerification> {
        let mut tx = self.tenant_tx(scope).await?;
        let out = walk(&mut tx, Some(scope.tenant_id().0), keys).await;
        tx.commit().await.map_err(db)?;
        out
    }

    /// Checks the platform chain.
    pub async fn verify_platform_audit_chain(
        &self,
        scope: &PlatformScope,
        keys: &PublicKeys,
    ) -> Result<AuditVerification> {
        let mut tx = self.platform_tx(scope).await?;
        let out = walk(&mut tx, None, keys).await;
        tx.commit().await.map_err(db)?;
        out
    }

    /// Background work of `ditto serve`: checkpoints every chain that moved
    /// since its last checkpoint, and applies every tenant's retention.
    /// Returns how many checkpoints were written and events removed.
    pub async fn audit_housekeeping(&self, signer: &AuditSigner) -> Result<(u64, u64)> {
        let mut tx = self.unscoped_platform_tx().await?;
        let moved: Vec<(Option<Uuid>,)> = sqlx::query_as(
            "SELECT h.tenant_id FROM audit_heads h
             WHERE h.seq > COALESCE((SELECT max(c.seq) FROM audit_checkpoints c
                                     WHERE c.tenant_id IS NOT DISTINCT FROM h.tenant_id), -1)",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut written = 0;
        for (tenant,) in moved {
            let mut tx = self.unscoped_platform_tx().await?;
            checkpoint(&mut tx, tenant, signer, "periodic").await?;
            tx.commit().await.map_err(db)?;
            written += 1;
        }
        let mut tx = self.unscoped_platform_tx().await?;
        let due: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT h.tenant_id FROM audit_heads h
             WHERE h.tenant_id IS NOT NULL AND EXISTS (
                 SELECT 1 FROM audit_events e WHERE e.tenant_id = h.tenant_id
                   AND e.created_at < now() - make_interval(days => h.retention_days))",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut removed = 0;
        for (tenant,) in due {
            let mut tx = self.unscoped_platform_tx().await?;
            removed += retain(&mut tx, tenant, None, signer).await?.removed;
            tx.commit().await.map_err(db)?;
        }
        Ok((written, removed))
    }

    /// Checks a tenant's chain for the operator CLI (`ditto audit verify`),
    /// which holds the database credentials and so no scope.
    pub async fn operator_verify_audit_chain(
        &self,
        tenant_slug: &str,
        keys: &PublicKeys,
    ) -> Result<AuditVerification> {
        let tenant = self.resolve_tenant(tenant_slug).await?;
        let mut tx = self.unscoped_platform_tx().await?;
        let out = walk(&mut tx, Some(tenant.id.0), keys).await;
        tx.commit().await.map_err(db)?;
        out
    }
}

/// Up to `limit` of a tenant's events after `after` and up to `upto`, in
/// sequence order, each with its link in the chain.
pub(crate) async fn event_batch(
    tx: &mut Tx,
    tenant: Uuid,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<(AuditEvent, ChainLink)>> {
    let rows: Vec<EventRow> = sqlx::query_as(sql!(
        "SELECT {EVENT_COLUMNS} FROM audit_events
         WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4"
    ))
    .bind(tenant)
    .bind(after)
    .bind(upto)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
    .map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.clone().into(), r.link()))
        .collect())
}

/// Signs and stores a checkpoint at the tenant's event `seq`.
pub(crate) async fn checkpoint_at(
    tx: &mut Tx,
    tenant: Uuid,
    seq: i64,
    signer: &AuditSigner,
    reason: &str,
) -> Result<AuditCheckpoint> {
    let hash: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = $2")
            .bind(tenant)
            .bind(seq)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
    let hash = hash.ok_or_else(|| {
        Error::Conflict(format!(
            "event {seq} is no longer kept (retention removed it)"
        ))
    })?;
    Ok(sign_and_store(tx, Some(tenant), seq, hash, signer, reason)
        .await?
        .into())
}

/// Signs the chain's head and stores the checkpoint.
async fn checkpoint(
    tx: &mut Tx,
    tenant: Option<Uuid>,
    signer: &AuditSigner,
    reason: &str,
) -> Result<CheckpointRow> {
    let head: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, hash FROM audit_heads WHERE tenant_id IS NOT DISTINCT FROM $1 FOR UPDATE",
    )
    .bind(tenant)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    let (seq, hash) = head.unwrap_or((0, GENESIS.to_vec()));
    sign_and_store(tx, tenant, seq, hash, signer, reason).await
}

async fn sign_and_store(
    tx: &mut Tx,
    tenant: Option<Uuid>,
    seq: i64,
    hash: Vec<u8>,
    signer: &AuditSigner,
    reason: &str,
) -> Result<CheckpointRow> {
    let created_at = micros(Utc::now());
    let signature = signer.sign(&checkpoint_message(tenant, seq, &hash, created_at));
    sqlx::query_as(sql!(
        "INSERT INTO audit_checkpoints (id, tenant_id, seq, hash, created_at, reason, key_id, signature)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {CHECKPOINT_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(seq)
    .bind(hash)
    .bind(created_at)
    .bind(reason)
    .bind(signer.key_id())
    .bind(signature.as_slice())
    .fetch_one(&mut **tx)
    .await
    .map_err(db)
}

/// Records a change to one row (by id) in the scope's chain. `action` is
/// `<table>.<verb>` (e.g. `api_keys.rotate`); the target type is the table's
/// name in the singular. `before` was read before the change; the after
/// image is read now (`None` once deleted).
pub(crate) async fn record_row(
    tx: &mut Tx,
    scope: &TenantScope,
    action: &'static str,
    id: Uuid,
    before: Option<Value>,
) -> Result<()> {
    let (table, _) = action
        .split_once('.')
        .ok_or_else(|| Error::Internal(format!("`{action}` is not `<table>.<verb>`")))?;
    record_table_row(tx, scope, action.to_owned(), table, id, before).await
}

/// [`record_row`] for a table known only at run time.
pub(crate) async fn record_table_row(
    tx: &mut Tx,
    scope: &TenantScope,
    action: String,
    table: &'static str,
    id: Uuid,
    before: Option<Value>,
) -> Result<()> {
    let after = image_by_id(tx, table, id).await?;
    let target_type = table.strip_suffix('s').unwrap_or(table);
    let change = Change::new(action, target_type)
        .target(id)
        .before(before)
        .after(after);
    record(tx, scope, change).await
}
