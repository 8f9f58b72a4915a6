//! Captures every log line of the test process in memory, so tests can
//! assert that secrets never reach the logs.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INIT: OnceLock<()> = OnceLock::new();

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        BUFFER
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lines pass the redaction policy, as `ditto serve`'s do.
impl<'a> MakeWriter<'a> for Capture {
    type Writer = ditto_core::redact::Redacting<Capture>;
    fn make_writer(&'a self) -> Self::Writer {
        ditto_core::redact::Redacting(Capture)
    }
}

/// Installs the capturing subscriber (once per process), at debug level for
/// everything and trace for our own crates, with span fields included.
pub fn init() {
    INIT.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::new(
            "debug,ditto=trace,ditto_api=trace,ditto_store=trace,ditto_core=trace",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(Capture)
            .with_ansi(false)
            .try_init();
    });
}

/// Everything logged so far.
pub fn captured() -> String {
    String::from_utf8_lossy(&BUFFER.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}
