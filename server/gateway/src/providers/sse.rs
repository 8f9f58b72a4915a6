//! A provider's server-sent events turned into OpenAI `chat.completion.chunk`
//! events as they arrive: each complete event is translated and sent on at
//! once; only a partial event waits for its rest.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use serde_json::{Value, json};

use super::Upstream;

/// Translates one provider's events.
pub trait Mapper: Send + Unpin {
    /// One event's `data` (the JSON payload); writes OpenAI events to `out`.
    fn event(&mut self, data: &[u8], out: &mut Vec<u8>);
    /// The provider's stream ended; writes whatever closes the client's.
    fn end(&mut self, out: &mut Vec<u8>);
    /// Whether the provider reported an error mid-stream.
    fn failed(&self) -> bool;
}

pub struct Translate<M> {
    upstream: Upstream,
    pending: Vec<u8>,
    mapper: M,
    ended: bool,
    /// Set when the provider reports an error mid-stream: the stream still
    /// ends cleanly for the client (as OpenAI's do), but is accounted as failed.
    failed: Arc<AtomicBool>,
}

impl<M: Mapper> Translate<M> {
    pub fn new(upstream: Upstream, mapper: M, failed: Arc<AtomicBool>) -> Self {
        Self {
            upstream,
            pending: Vec::new(),
            mapper,
            ended: false,
            failed,
        }
    }

    /// Translates every complete event in `pending`.
    fn drain(&mut self, out: &mut Vec<u8>) {
        let mut start = 0;
        while let Some((len, skip)) = event_end(&self.pending[start..]) {
            let event = &self.pending[start..start + len];
            if let Some(data) = data_of(event) {
                self.mapper.event(&data, out);
            }
            start += len + skip;
        }
        self.pending.drain(..start);
        if self.mapper.failed() {
            self.failed.store(true, Ordering::Relaxed);
        }
    }
}

/// The length of the first complete event and of the blank line ending it.
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            return Some((i, 2));
        }
        if buf[i] == b'\n' && buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
            return Some((i, 3));
        }
        if buf[i] == b'\r' && buf[i + 1] == b'\r' {
            return Some((i, 2));
        }
        i += 1;
    }
    None
}

/// The `data:` lines of an event, joined; `None` if it has none.
fn data_of(event: &[u8]) -> Option<Vec<u8>> {
    let mut data: Option<Vec<u8>> = None;
    for line in event.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            let joined = data.get_or_insert_with(Vec::new);
            if !joined.is_empty() {
                joined.push(b'\n');
            }
            joined.extend_from_slice(rest);
        }
    }
    data
}

impl<M: Mapper> Stream for Translate<M> {
    type Item = crate::upstream::Chunk;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    this.pending.extend_from_slice(&chunk);
                    let mut out = Vec::new();
                    this.drain(&mut out);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    this.ended = true;
                    let mut out = Vec::new();
                    this.pending.extend_from_slice(b"\n\n");
                    this.drain(&mut out);
                    this.mapper.end(&mut out);
                    return Poll::Ready((!out.is_empty()).then(|| Ok(Bytes::from(out))));
                }
            }
        }
    }
}

/// Writes OpenAI chunks of one completion.
pub struct Chunks {
    pub id: String,
    pub model: String,
    pub created: i64,
}

impl Chunks {
    pub fn new(model: &str) -> Self {
        Self {
            id: format!("chatcmpl-{}", uuid::Uuid::now_v7().simple()),
            model: model.to_owned(),
            created: super::now(),
        }
    }

    fn write(out: &mut Vec<u8>, value: &Value) {
        out.extend_from_slice(b"data: ");
        // Serializing a `Value` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, value);
        out.extend_from_slice(b"\n\n");
    }

    /// A chunk of choice 0.
    pub fn delta(&self, out: &mut Vec<u8>, delta: Value, finish_reason: Option<&str>) {
        Self::write(
            out,
            &json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
            }),
        );
    }

    /// The usage-only chunk (the gateway strips it again when the client did not ask for it).
    pub fn usage(&self, out: &mut Vec<u8>, usage: Value) {
        Self::write(
            out,
            &json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": usage,
            }),
        );
    }

    pub fn error(out: &mut Vec<u8>, error: Value) {
        Self::write(out, &error);
    }

    pub fn done(out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    struct Echo(Vec<String>);

    impl Mapper for Echo {
        fn event(&mut self, data: &[u8], out: &mut Vec<u8>) {
            let text = String::from_utf8_lossy(data).into_owned();
            out.extend_from_slice(format!("<{text}>").as_bytes());
            self.0.push(text);
        }
        fn end(&mut self, out: &mut Vec<u8>) {
            out.extend_from_slice(b"<end>");
        }
        fn failed(&self) -> bool {
            self.0.iter().any(|e| e == "fail")
        }
    }

    #[tokio::test]
    async fn events_split_anyhow_are_translated_one_by_one() {
        let parts = [
            "event: a\ndata: {\"x\":1}\n",
            "\ndata: {\"y\"",
            ":2}\r\n\r\ndata: 3\r\n",
            "\r\n: comment\n\ndata: tail",
        ];
        let items: Vec<crate::upstream::Chunk> =
            parts.iter().map(|p| Ok(Bytes::from(*p))).collect();
        let upstream: Upstream = Box::pin(futures_util::stream::iter(items));
        let failed = Arc::new(AtomicBool::new(false));
        let out: Vec<Bytes> = Translate::new(upstream, Echo(Vec::new()), failed.clone())
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert!(!failed.load(Ordering::Relaxed));
        let texts: Vec<String> = out
            .iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect();
        assert_eq!(
            texts,
            ["<{\"x\":1}>", "<{\"y\":2}>", "<3>", "<tail><end>"],
            "each complete event goes on as soon as it is complete"
        );
    }
}
