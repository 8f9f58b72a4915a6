//! Batches kept on local disk while the database is away: one JSON-lines
//! file each, written whole or not at all, replayed oldest first (also
//! after a restart). Usage events and governance events use it.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Batches on disk, one JSON-lines file each, named so that they sort in
/// the order they were written.
pub(crate) struct Spool<T> {
    dir: PathBuf,
    /// Batches on disk not yet replayed.
    pub(crate) pending: usize,
    /// What the batches hold, for the logs.
    what: &'static str,
    _items: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned> Spool<T> {
    pub(crate) fn open(dir: PathBuf, what: &'static str) -> Self {
        let pending = Self::files(&dir).len();
        if pending > 0 {
            tracing::info!(batches = pending, dir = %dir.display(), "found spooled {what} to replay");
        }
        Self {
            dir,
            pending,
            what,
            _items: PhantomData,
        }
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    pub(crate) fn push(&mut self, batch: &[T]) -> std::io::Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(&self.dir)?;
        let name = format!("{}.jsonl", uuid::Uuid::now_v7());
        let partial = self.dir.join(format!("{name}.partial"));
        let mut file = std::fs::File::create(&partial)?;
        let mut out = std::io::BufWriter::new(&mut file);
        for event in batch {
            serde_json::to_writer(&mut out, event)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        drop(out);
        file.sync_all()?;
        // Renamed once complete, so a crash mid-write leaves no half batch to replay.
        std::fs::rename(&partial, self.dir.join(name))?;
        self.pending += 1;
        Ok(())
    }

    /// The oldest batch, skipping (and setting aside) files that do not parse.
    pub(crate) fn oldest(&mut self) -> Option<(PathBuf, Vec<T>)> {
        for path in Self::files(&self.dir) {
            let parsed = std::fs::read_to_string(&path).map(|text| {
                text.lines()
                    .filter(|l| !l.is_empty())
                    .map(serde_json::from_str)
                    .collect::<Result<Vec<T>, _>>()
            });
            match parsed {
                Ok(Ok(events)) => return Some((path, events)),
                other => {
                    let what = self.what;
                    tracing::error!(file = %path.display(), result = ?other.map(|r| r.map(|e| e.len())),
                        "unreadable {what} spool file set aside as .bad");
                    let _ = std::fs::rename(&path, path.with_extension("bad"));
                    self.pending = self.pending.saturating_sub(1);
                }
            }
        }
        self.pending = 0;
        None
    }

    pub(crate) fn remove(&mut self, path: &Path) {
        if let Err(e) = std::fs::remove_file(path) {
            let what = self.what;
            tracing::error!(file = %path.display(), error = %e, "cannot remove a replayed {what} spool file");
        }
        self.pending = self.pending.saturating_sub(1);
    }
}
