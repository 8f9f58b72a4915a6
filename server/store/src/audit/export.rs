//! Downloading a tenant's trail: a stream of its events read a batch at a
//! time, each batch in a short transaction of its own.

use super::*;

impl Store {
    /// The tenant's kept events in sequence order, up to the head as it was
    /// when the export began, as a stream read a batch at a time (constant
    /// memory), with the latest checkpoint. Each batch is its own short
    /// transaction: a client that reads slowly holds no pooled connection,
    /// so slow downloads cannot exhaust the pool.
    pub async fn export_audit_events(
        &self,
        scope: &TenantScope,
    ) -> Result<(
        Option<AuditCheckpoint>,
        impl Stream<Item = Result<AuditEvent>> + Send + 'static,
    )> {
        let mut tx = self.tenant_tx(scope).await?;
        let checkpoint: Option<CheckpointRow> = sqlx::query_as(sql!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints
             WHERE tenant_id = ditto_current_tenant() ORDER BY seq DESC, created_at DESC LIMIT 1"
        ))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let upto: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(seq), 0) FROM audit_events WHERE tenant_id = ditto_current_tenant()",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let stream = event_stream(self.clone(), scope.clone(), upto);
        Ok((checkpoint.map(Into::into), stream))
    }
}

/// Rows an export reads at a time.
const EXPORT_BATCH: usize = 500;

struct ExportState {
    store: Store,
    scope: TenantScope,
    after: i64,
    /// The head when the export began: later events are the next export's.
    upto: i64,
    buffered: std::vec::IntoIter<EventRow>,
    exhausted: bool,
}

/// Streams the scope's events after 0 and up to `upto` in sequence order, a
/// batch at a time (memory stays bounded by the batch), each batch read in
/// a transaction of its own. The chain is append-only, so the batches read
/// one consistent history (a retention run that removes unread events
/// ends the stream with an error rather than a gap).
fn event_stream(
    store: Store,
    scope: TenantScope,
    upto: i64,
) -> impl Stream<Item = Result<AuditEvent>> + Send + 'static {
    let state = ExportState {
        store,
        scope,
        after: 0,
        upto,
        buffered: Vec::new().into_iter(),
        exhausted: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.buffered.len() == 0 && !st.exhausted {
            let rows = export_batch(&st.store, &st.scope, st.after, st.upto).await;
            match rows {
                Ok(rows) => {
                    st.exhausted = rows.len() < EXPORT_BATCH;
                    st.buffered = rows.into_iter();
                }
                Err(e) => {
                    st.exhausted = true;
                    return Some((Err(e), st));
                }
            }
        }
        match st.buffered.next() {
            // Sequence numbers have no gaps: a gap means retention removed
            // events this export had not read yet.
            Some(row) if st.after > 0 && row.seq != st.after + 1 => {
                st.exhausted = true;
                st.buffered = Vec::new().into_iter();
                Some((
                    Err(Error::Conflict(
                        "retention removed events while this export was read; export again".into(),
                    )),
                    st,
                ))
            }
            Some(row) => {
                st.after = row.seq;
                Some((Ok(row.into()), st))
            }
            None => None,
        }
    })
}

/// One batch of an export, in a short transaction of its own.
async fn export_batch(
    store: &Store,
    scope: &TenantScope,
    after: i64,
    upto: i64,
) -> Result<Vec<EventRow>> {
    let mut tx = store.tenant_tx(scope).await?;
    let rows = sqlx::query_as::<_, EventRow>(sql!(
        "SELECT {EVENT_COLUMNS} FROM audit_events
         WHERE tenant_id = ditto_current_tenant() AND seq > $1 AND seq <= $2
         ORDER BY seq LIMIT $3"
    ))
    .bind(after)
    .bind(upto)
    .bind(EXPORT_BATCH as i64)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(rows)
}
