//! The audit trail: events, checkpoints, verification, retention and exports.

use super::*;

/// One audit event: who changed what, with the before and after images of
/// the change (secrets redacted), chained to the previous event of its
/// tenant (or of the platform) by `hash = SHA-256(prev_hash ‖ canonical event)`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    /// `null` for platform-level events (tenant management, platform prices).
    pub tenant_id: Option<TenantId>,
    /// Position in its chain: 1, 2, 3, … without gaps.
    pub seq: i64,
    pub created_at: DateTime<Utc>,
    /// `service_account`, `user` or `system`.
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    /// `<resource>.<verb>`, e.g. `api_keys.rotate`.
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Hex.
    pub prev_hash: String,
    /// Hex.
    pub hash: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEventPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only events by this actor (service account or user id).
    pub actor_id: Option<Uuid>,
    /// Only events with this action, e.g. `api_keys.create`.
    pub action: Option<String>,
    /// Only events about this kind of target, e.g. `api_key`.
    pub target_type: Option<String>,
    /// Only events about this target id.
    pub target_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

/// Which chains a platform auditor reads.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlatformAuditFilter {
    /// Only this tenant's events.
    pub tenant_id: Option<TenantId>,
    /// Only platform-level events (no tenant).
    #[serde(default)]
    pub platform_only: bool,
}

/// A signed statement that a chain had `hash` at `seq` at `created_at`.
/// The signature is Ed25519 over
/// `ditto-audit-checkpoint/v1\n<tenant id or "platform">\n<seq>\n<hash hex>\n<created_at, RFC 3339 with microseconds, Z>`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditCheckpoint {
    pub id: Uuid,
    pub tenant_id: Option<TenantId>,
    pub seq: i64,
    /// Hex.
    pub hash: String,
    pub created_at: DateTime<Utc>,
    /// `periodic`, `on_demand` or `retention`.
    pub reason: String,
    /// Names the signing key: first 8 bytes of SHA-256 of its public key, hex.
    pub key_id: String,
    /// Base64.
    pub signature: String,
}

/// The key that signs checkpoints.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditSigningKey {
    /// Always `ed25519`.
    pub algorithm: String,
    pub key_id: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
    /// Every key checkpoints verify with: the current one first, then
    /// retired ones (`DITTO_AUDIT_PREVIOUS_SIGNING_KEYS`).
    pub keys: Vec<AuditPublicKey>,
}

/// A key checkpoints may be signed with.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPublicKey {
    pub key_id: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
    /// `current` (signs new checkpoints) or `retired`.
    pub status: String,
}

/// The outcome of checking a chain.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditVerification {
    /// Whether every link held.
    pub valid: bool,
    /// The checkpoint the walk started from; `null` when it started at the
    /// chain's beginning.
    pub anchor: Option<AuditCheckpoint>,
    /// The last sequence number that verified.
    pub verified_through: i64,
    /// How many events were checked.
    pub checked: u64,
    /// The first link that did not hold.
    pub broken: Option<AuditBrokenLink>,
    /// Ids of the keys the checkpoints checked were signed with (the
    /// current signing key or retired ones), in the order first met.
    pub checkpoint_keys: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditBrokenLink {
    pub seq: i64,
    pub reason: String,
}

/// How long a tenant's audit events are kept.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditRetention {
    /// 7–36500 days (default 30); shortening it needs an owner.
    pub retention_days: u32,
}

/// What a retention run removed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditRetentionRun {
    /// Events removed.
    pub removed: u64,
    /// The checkpoint written before removing them; the remaining chain
    /// verifies from it. `null` when nothing was old enough.
    pub checkpoint: Option<AuditCheckpoint>,
}

/// Export format.
#[derive(Clone, Copy, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditExportParams {
    /// `jsonl` (default) or `csv`.
    #[serde(default)]
    #[param(inline)]
    pub format: AuditExportFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditExportFormat {
    #[default]
    Jsonl,
    Csv,
}

/// Where a destination keeps exported objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditExportKind {
    /// An S3-compatible bucket.
    S3,
    /// A directory under the platform's export directory (`DITTO_AUDIT_EXPORT_DIR`).
    Local,
}

/// How often a destination receives the events added since its last
/// scheduled run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditExportSchedule {
    /// Only one-off runs.
    #[default]
    None,
    Hourly,
    Daily,
}

/// A place a tenant's audit trail is exported to. The secret access key is
/// write-only: encrypted at rest, never returned.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditExportDestination {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: AuditExportKind,
    /// S3: the service's URL; `null` for AWS itself.
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub has_secret_access_key: bool,
    /// Local: the directory, relative to the tenant's export directory.
    pub path: Option<String>,
    /// Object names start with it.
    pub prefix: String,
    pub schedule: AuditExportSchedule,
    pub next_run_at: Option<DateTime<Utc>>,
    /// Scheduled runs export the events after this sequence number.
    pub exported_through: i64,
    /// Largest JSONL object a run writes; larger ranges are split.
    pub max_object_bytes: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

page_type!(AuditExportDestinationPage, AuditExportDestination);

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuditExportDestination {
    /// 1–100 characters, unique within the tenant.
    pub name: String,
    pub kind: AuditExportKind,
    /// S3: `http(s)://host[:port]` of an S3-compatible service; absent for AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// S3: the bucket (3–63 characters), required.
    #[serde(default)]
    pub bucket: Option<String>,
    /// S3: default `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// S3: required.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// S3: required. Encrypted at rest; never returned.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Local: a relative directory (`a-z`, `0-9`, `.`, `_`, `-` in `/`-separated parts), required.
    #[serde(default)]
    pub path: Option<String>,
    /// Object name prefix, `/`-separated parts of `A-Z a-z 0-9 . _ -` (default none).
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub schedule: AuditExportSchedule,
    /// 1024–1073741824 (default 64 MiB).
    #[serde(default)]
    pub max_object_bytes: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAuditExportDestination {
    pub name: Option<String>,
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    /// Replaces the secret access key.
    pub secret_access_key: Option<String>,
    pub path: Option<String>,
    pub prefix: Option<String>,
    pub schedule: Option<AuditExportSchedule>,
    pub max_object_bytes: Option<u64>,
}

/// Ask for a one-off export of a sequence range.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuditExport {
    pub destination_id: Uuid,
    /// First sequence number; default the oldest kept event.
    #[serde(default)]
    pub from_seq: Option<i64>,
    /// Last sequence number; default the chain's head now.
    #[serde(default)]
    pub to_seq: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditExportStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

/// One JSONL object a run wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditExportObject {
    pub name: String,
    /// Hex SHA-256 of the object's bytes.
    pub sha256: String,
    pub rows: u64,
    pub bytes: u64,
    pub first_seq: i64,
    pub last_seq: i64,
}

/// One export of a sequence range to a destination.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditExportRun {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub destination_id: Uuid,
    /// `manual` or `scheduled`.
    pub trigger: String,
    pub status: AuditExportStatus,
    pub from_seq: i64,
    pub to_seq: i64,
    /// Events written.
    pub rows: u64,
    pub objects: Vec<AuditExportObject>,
    /// The manifest's object name, once written.
    pub manifest: Option<String>,
    /// Why the run failed.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

page_type!(AuditExportRunPage, AuditExportRun);
