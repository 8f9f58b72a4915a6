//! Verifying a chain: walking its events from the genesis or a checkpoint,
//! recomputing each hash and checking each checkpoint's signature.

use super::*;

/// Walks a chain from its anchor to its head and reports the first broken link.
pub(super) async fn walk(
    tx: &mut Tx,
    chain: Option<Uuid>,
    keys: &PublicKeys,
) -> Result<AuditVerification> {
    let first: Option<i64> = sqlx::query_scalar(
        "SELECT min(seq) FROM audit_events WHERE tenant_id IS NOT DISTINCT FROM $1",
    )
    .bind(chain)
    .fetch_one(&mut **tx)
    .await
    .map_err(db)?;
    // The latest checkpoint at or before the event before the oldest kept one.
    let anchor: Option<CheckpointRow> = match first {
        Some(first) if first > 1 => sqlx::query_as(sql!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints
             WHERE tenant_id IS NOT DISTINCT FROM $1 AND seq <= $2
             ORDER BY seq DESC, created_at DESC LIMIT 1"
        ))
        .bind(chain)
        .bind(first - 1)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?,
        _ => None,
    };
    let mut report = AuditVerification {
        valid: false,
        anchor: None,
        verified_through: 0,
        checked: 0,
        broken: None,
        checkpoint_keys: Vec::new(),
    };
    let mut walk = ChainWalk::from(0, GENESIS);
    if let Some(cp) = &anchor {
        let Some(key) = cp.signed_by(keys) else {
            report.broken = Some(AuditBrokenLink {
                seq: cp.seq,
                reason: format!(
                    "the anchoring checkpoint's signature does not verify with any listed key \
                     (it names key {})",
                    cp.key_id
                ),
            });
            report.anchor = anchor.map(Into::into);
            return Ok(report);
        };
        report.checkpoint_keys.push(key);
        walk = ChainWalk::from(cp.seq, hash32(&cp.hash)?);
    }
    let mut broken: Option<BrokenLink> = None;
    {
        let mut rows = sqlx::query_as::<_, EventRow>(sql!(
            "SELECT {EVENT_COLUMNS} FROM audit_events
             WHERE tenant_id IS NOT DISTINCT FROM $1 AND seq > $2 ORDER BY seq"
        ))
        .bind(chain)
        .bind(walk.last_seq())
        .fetch(&mut **tx)
        .map_err(db);
        while let Some(row) = rows.next().await {
            if let Err(b) = walk.step(&row?.link()) {
                broken = Some(b);
                break;
            }
        }
    }
    if broken.is_none() {
        let head: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, hash FROM audit_heads WHERE tenant_id IS NOT DISTINCT FROM $1",
        )
        .bind(chain)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
        if let Some((seq, hash)) = head
            && (seq != walk.last_seq() || hash.as_slice() != walk.last_hash())
        {
            broken = Some(BrokenLink {
                seq: walk.last_seq() + 1,
                reason: format!(
                    "the chain ends at {} but its head is at {seq}",
                    walk.last_seq()
                ),
            });
        }
    }
    if broken.is_none() {
        // Every later checkpoint must agree with the event it vouches for.
        let mismatch: Option<i64> = sqlx::query_scalar(
            "SELECT c.seq FROM audit_checkpoints c
             LEFT JOIN audit_events e ON e.tenant_id IS NOT DISTINCT FROM c.tenant_id AND e.seq = c.seq
             WHERE c.tenant_id IS NOT DISTINCT FROM $1 AND c.seq > $2 AND e.hash IS DISTINCT FROM c.hash
             ORDER BY c.seq LIMIT 1",
        )
        .bind(chain)
        .bind(anchor.as_ref().map_or(0, |c| c.seq))
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
        if let Some(seq) = mismatch {
            broken = Some(BrokenLink {
                seq,
                reason: "a signed checkpoint vouches for another hash at this sequence".into(),
            });
        }
    }
    if broken.is_none() {
        // And each is signed by a listed key: the current one or a retired one.
        let mut later = sqlx::query_as::<_, CheckpointRow>(sql!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints
             WHERE tenant_id IS NOT DISTINCT FROM $1 AND seq >= $2 AND id IS DISTINCT FROM $3
             ORDER BY seq, created_at"
        ))
        .bind(chain)
        .bind(anchor.as_ref().map_or(0, |c| c.seq))
        .bind(anchor.as_ref().map(|c| c.id))
        .fetch(&mut **tx)
        .map_err(db);
        while let Some(cp) = later.next().await {
            let cp = cp?;
            match cp.signed_by(keys) {
                Some(key) => {
                    if !report.checkpoint_keys.contains(&key) {
                        report.checkpoint_keys.push(key);
                    }
                }
                None => {
                    broken = Some(BrokenLink {
                        seq: cp.seq,
                        reason: format!(
                            "the checkpoint at this sequence does not verify with any listed key \
                             (it names key {})",
                            cp.key_id
                        ),
                    });
                    break;
                }
            }
        }
    }
    report.valid = broken.is_none();
    report.verified_through = match &broken {
        Some(b) => b.seq - 1,
        None => walk.last_seq(),
    };
    report.checked = walk.checked();
    report.broken = broken.map(|b| AuditBrokenLink {
        seq: b.seq,
        reason: b.reason,
    });
    report.anchor = anchor.map(Into::into);
    Ok(report)
}
