//! Audit export runs: a tenant's chain, a sequence range at a time, written
//! to object storage (an S3-compatible bucket or a directory under the
//! platform's export directory) as JSONL objects of bounded size, followed
//! by a `manifest.json` naming each object with its SHA-256 and row count
//! and carrying a checkpoint, signed for the run, at the range's last
//! event. Memory stays constant: events are read a batch at a time and
//! streamed into the current object.
//!
//! The store holds what to do (destinations, runs, leases); this crate does
//! the I/O. [`Exporter::tick`] is the background worker of `ditto serve`;
//! [`Exporter::spawn_run`] starts a run the API just made.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ditto_core::audit::{AuditSigner, ChainWalk};
use ditto_core::audit_export::is_safe_relative_path;
use ditto_core::crypto::MasterKey;
use ditto_egress::EgressPolicy;
use ditto_store::Store;
use ditto_store::audit_export::{ClaimedRun, ExportTarget, RunOutcome};
use ditto_types::api::{AuditExportKind, AuditExportObject};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload, RetryConfig};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// The manifest's `format`.
pub const MANIFEST_FORMAT: &str = "ditto-audit-export/v1";

/// The manifest's object name, after the run's prefix.
pub const MANIFEST_NAME: &str = "manifest.json";

/// Events read from the database at a time.
const BATCH: i64 = 500;

/// Runs the worker works off in one pass at most.
const RUNS_PER_TICK: usize = 20;

/// Does export runs.
#[derive(Clone)]
pub struct Exporter {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    master_key: Option<MasterKey>,
    signer: Option<AuditSigner>,
    local_root: Option<PathBuf>,
    /// Where S3-compatible endpoints may be.
    egress: EgressPolicy,
}

/// Why a run stopped: a message for its record, and whether the run is
/// still this attempt's to finish.
struct Stop {
    message: String,
    lost_lease: bool,
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Self {
            message,
            lost_lease: false,
        }
    }
}

/// One JSONL object being written.
struct Part {
    writer: BufWriter,
    name: String,
    sha: Sha256,
    rows: u64,
    bytes: u64,
    first_seq: i64,
    last_seq: i64,
}

impl Exporter {
    /// `local_root`: the platform's export directory; each tenant gets
    /// `<root>/<tenant id>/`, and local destinations are directories in it.
    pub fn new(
        store: Store,
        master_key: Option<MasterKey>,
        signer: Option<AuditSigner>,
        local_root: Option<PathBuf>,
        egress: EgressPolicy,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                master_key,
                signer,
                local_root,
                egress,
            }),
        }
    }

    /// Whether local destinations can be used.
    pub fn has_local_root(&self) -> bool {
        self.inner.local_root.is_some()
    }

    /// Works on `run` now, in the background (the worker would otherwise
    /// pick it up on its next pass).
    pub fn spawn_run(&self, run: Uuid) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.work_one(Some(run)).await {
                tracing::warn!(run = %run, error = %e, "audit export run could not start");
            }
        });
    }

    /// One pass of the background worker: turns due schedules into runs,
    /// then works off waiting runs (and runs whose worker died). Returns how
    /// many runs it finished.
    pub async fn tick(&self) -> ditto_core::Result<u64> {
        let scheduled = self.inner.store.schedule_audit_exports().await?;
        if scheduled > 0 {
            tracing::info!(runs = scheduled, "scheduled audit exports");
        }
        let mut done = 0;
        for _ in 0..RUNS_PER_TICK {
            if !self.work_one(None).await? {
                break;
            }
            done += 1;
        }
        Ok(done)
    }

    /// Claims one run (`run` only, if given) and does it; `false` when there
    /// was none to claim.
    async fn work_one(&self, run: Option<Uuid>) -> ditto_core::Result<bool> {
        let Some(claimed) = self.inner.store.claim_audit_export_run(run).await? else {
            return Ok(false);
        };
        let run_id = claimed.run.id;
        let attempt = claimed.attempt;
        let mut written = Vec::new();
        let outcome = match self.execute(&claimed, &mut written).await {
            Ok((rows, manifest)) => RunOutcome::Succeeded {
                rows,
                objects: written,
                manifest,
            },
            Err(stop) if stop.lost_lease => {
                tracing::warn!(run = %run_id, "audit export run was taken over by another worker");
                return Ok(true);
            }
            Err(stop) => {
                let rows = written.iter().map(|o| o.rows).sum();
                RunOutcome::Failed {
                    rows,
                    objects: written,
                    error: stop.message,
                }
            }
        };
        let failed = matches!(outcome, RunOutcome::Failed { .. });
        match self
            .inner
            .store
            .finish_audit_export_run(run_id, attempt, outcome)
            .await?
        {
            Some(run) if failed => tracing::warn!(
                run = %run_id, tenant = %run.tenant_id,
                error = run.error.as_deref().unwrap_or_default(),
                "audit export run failed"
            ),
            Some(run) => tracing::info!(
                run = %run_id, tenant = %run.tenant_id, rows = run.rows,
                objects = run.objects.len(), "audit export run succeeded"
            ),
            None => {
                tracing::warn!(run = %run_id, "audit export run was taken over by another worker")
            }
        }
        Ok(true)
    }

    /// Writes the run's objects and manifest; returns the rows written and
    /// the manifest's name. `written` collects each finished object.
    async fn execute(
        &self,
        claimed: &ClaimedRun,
        written: &mut Vec<AuditExportObject>,
    ) -> Result<(u64, String), Stop> {
        let run = &claimed.run;
        let signer = self.inner.signer.as_ref().ok_or_else(|| {
            "the server has no audit signing key (its operator sets DITTO_AUDIT_SIGNING_KEY), \
             so an export cannot carry a signed checkpoint"
                .to_owned()
        })?;
        if let Some(endpoint) = &claimed.target.endpoint {
            // IP literals never reach the guarded resolver: check them here.
            self.inner
                .egress
                .check_url(endpoint)
                .await
                .map_err(|refusal| {
                    format!("the destination's endpoint is not allowed: {refusal}")
                })?;
        }
        let store = self.object_store(&claimed.target)?;
        let base = if claimed.target.prefix.is_empty() {
            run.id.to_string()
        } else {
            format!("{}/{}", claimed.target.prefix, run.id)
        };
        let tenant = run.tenant_id.0;
        let max_bytes = claimed.target.max_object_bytes;

        let mut walk: Option<ChainWalk> = None;
        let mut first_prev_hash = String::new();
        let mut part: Option<Part> = None;
        let mut after = run.from_seq - 1;
        let mut rows = 0u64;
        loop {
            let events = self
                .inner
                .store
                .audit_events_for_export(tenant, after, run.to_seq, BATCH)
                .await
                .map_err(|e| format!("reading the audit events: {e}"))?;
            let last_batch = (events.len() as i64) < BATCH;
            for (event, link) in events {
                // Each event must follow the one before it in the chain.
                let w = walk.get_or_insert_with(|| {
                    first_prev_hash = event.prev_hash.clone();
                    let prev: [u8; 32] = link.prev_hash.as_slice().try_into().unwrap_or([0; 32]);
                    ChainWalk::from(run.from_seq - 1, prev)
                });
                w.step(&link).map_err(|b| {
                    format!(
                        "the audit chain does not hold at sequence {}: {}",
                        b.seq, b.reason
                    )
                })?;
                let mut line = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
                line.push(b'\n');
                if part
                    .as_ref()
                    .is_some_and(|p| p.bytes > 0 && p.bytes + line.len() as u64 > max_bytes)
                    && let Some(full) = part.take()
                {
                    written.push(close(full).await?);
                    self.renew(claimed).await?;
                }
                let p = part.get_or_insert_with(|| {
                    let name = format!("{base}/part-{:05}.jsonl", written.len() + 1);
                    Part {
                        writer: BufWriter::new(store.clone(), ObjectPath::from(name.as_str())),
                        name,
                        sha: Sha256::new(),
                        rows: 0,
                        bytes: 0,
                        first_seq: event.seq,
                        last_seq: event.seq,
                    }
                });
                p.writer
                    .write_all(&line)
                    .await
                    .map_err(|e| format!("writing {}: {e}", p.name))?;
                p.sha.update(&line);
                p.rows += 1;
                p.bytes += line.len() as u64;
                p.last_seq = event.seq;
                rows += 1;
                after = event.seq;
            }
            if last_batch || after >= run.to_seq {
                break;
            }
        }
        if let Some(p) = part.take() {
            written.push(close(p).await?);
        }
        let expected = (run.to_seq - run.from_seq + 1) as u64;
        if rows != expected {
            return Err(format!(
                "events {}..={} are not all kept: found {rows} of {expected} (retention may have removed them)",
                run.from_seq, run.to_seq
            )
            .into());
        }
        let last_hash = walk.map(|w| hex::encode(w.last_hash())).unwrap_or_default();
        let checkpoint = self
            .inner
            .store
            .sign_export_checkpoint(tenant, run.to_seq, signer)
            .await
            .map_err(|e| format!("signing the export's checkpoint: {e}"))?;
        let manifest = json!({
            "format": MANIFEST_FORMAT,
            "tenant_id": run.tenant_id,
            "run_id": run.id,
            "destination_id": run.destination_id,
            "trigger": run.trigger,
            "created_at": Utc::now(),
            "from_seq": run.from_seq,
            "to_seq": run.to_seq,
            "rows": rows,
            "prev_hash": first_prev_hash,
            "last_hash": last_hash,
            "objects": written,
            "checkpoint": checkpoint,
            "key_id": checkpoint.key_id,
            "signature": checkpoint.signature,
            "public_key": signer.public_key_base64(),
        });
        let name = format!("{base}/{MANIFEST_NAME}");
        let body = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
        store
            .put(&ObjectPath::from(name.as_str()), PutPayload::from(body))
            .await
            .map_err(|e| format!("writing {name}: {e}"))?;
        Ok((rows, name))
    }

    async fn renew(&self, claimed: &ClaimedRun) -> Result<(), Stop> {
        match self
            .inner
            .store
            .renew_audit_export_lease(claimed.run.id, claimed.attempt)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(Stop {
                message: String::new(),
                lost_lease: true,
            }),
            Err(e) => Err(format!("renewing the run's lease: {e}").into()),
        }
    }

    /// The destination's object store. The secret is unsealed here and goes
    /// nowhere else.
    fn object_store(&self, target: &ExportTarget) -> Result<Arc<dyn ObjectStore>, String> {
        match target.kind {
            AuditExportKind::S3 => {
                let key = self.inner.master_key.as_ref().ok_or_else(|| {
                    "the server has no master key (DITTO_MASTER_KEY), so it cannot unseal the secret access key".to_owned()
                })?;
                let sealed = target
                    .sealed_secret_access_key
                    .as_deref()
                    .ok_or("the destination has no secret access key")?;
                let secret = key.decrypt(sealed, target.id.as_bytes()).map_err(|_| {
                    "the secret access key does not decrypt with this server's master key"
                        .to_owned()
                })?;
                let secret = String::from_utf8(secret)
                    .map_err(|_| "the stored secret access key is not text".to_owned())?;
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(target.bucket.clone().unwrap_or_default())
                    .with_region(target.region.clone().unwrap_or_else(|| "us-east-1".into()))
                    .with_access_key_id(target.access_key_id.clone().unwrap_or_default())
                    .with_secret_access_key(secret)
                    .with_http_connector(GuardedHttp(self.inner.egress.clone()))
                    .with_retry(RetryConfig {
                        max_retries: 3,
                        retry_timeout: Duration::from_secs(60),
                        ..RetryConfig::default()
                    });
                if let Some(endpoint) = &target.endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                let s3 = builder
                    .build()
                    .map_err(|e| format!("the destination's S3 settings are not usable: {e}"))?;
                Ok(Arc::new(s3))
            }
            AuditExportKind::Local => {
                let root = self.inner.local_root.as_ref().ok_or_else(|| {
                    "this server has no export directory (DITTO_AUDIT_EXPORT_DIR), so local destinations cannot be written".to_owned()
                })?;
                let path = target.path.as_deref().unwrap_or_default();
                // Checked on the way in; checked again so nothing stored can
                // lead outside the tenant's directory.
                if !is_safe_relative_path(path) {
                    return Err("the destination's path is not a safe relative path".into());
                }
                let dir = root.join(target.tenant_id.to_string()).join(path);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("creating the export directory: {e}"))?;
                let fs = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| format!("opening the export directory: {e}"))?;
                Ok(Arc::new(fs))
            }
        }
    }
}

/// object_store's HTTP client, its connections going only where the egress
/// policy allows (checked on the resolved address), without redirects.
#[derive(Debug)]
struct GuardedHttp(EgressPolicy);

impl object_store::client::HttpConnector for GuardedHttp {
    fn connect(
        &self,
        _: &object_store::ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        let client = ditto_egress::resolver::client_builder(&self.0)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(object_store::client::HttpClient::new(client))
    }
}

async fn close(mut p: Part) -> Result<AuditExportObject, Stop> {
    p.writer
        .shutdown()
        .await
        .map_err(|e| format!("writing {}: {e}", p.name))?;
    Ok(AuditExportObject {
        name: p.name,
        sha256: hex::encode(p.sha.finalize()),
        rows: p.rows,
        bytes: p.bytes,
        first_seq: p.first_seq,
        last_seq: p.last_seq,
    })
}
