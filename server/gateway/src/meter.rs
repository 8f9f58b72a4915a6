//! The response body on its way to the client: passed through chunk by
//! chunk, watched for token usage, and accounted for when it ends — or when
//! the client goes away, which also drops (cancels) the upstream request.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::Stream;
use serde_json::Value;

use crate::backend::InFlight;

/// Token counts reported by the upstream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
}

impl Usage {
    /// Reads an OpenAI `usage` object (chat, completions, embeddings, responses).
    pub fn from_json(usage: &Value) -> Option<Self> {
        let obj = usage.as_object()?;
        let number = |key: &str| obj.get(key).and_then(Value::as_u64);
        let prompt = number("prompt_tokens")
            .or_else(|| number("input_tokens"))
            .unwrap_or(0);
        let completion = number("completion_tokens")
            .or_else(|| number("output_tokens"))
            .unwrap_or(0);
        let cached = usage
            .pointer("/prompt_tokens_details/cached_tokens")
            .or_else(|| usage.pointer("/input_tokens_details/cached_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Some(Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_tokens: cached,
        })
    }
}

/// An OpenAI `usage` object read straight into numbers, with what
/// [`Usage::from_json`] makes of it (a field of another type counts as
/// absent), without building a `Value` tree: every non-streamed answer is
/// read this way.
#[derive(serde::Deserialize)]
struct UsageFields {
    #[serde(default, deserialize_with = "count")]
    prompt_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    completion_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "cached")]
    prompt_tokens_details: Option<u64>,
    #[serde(default, deserialize_with = "cached")]
    input_tokens_details: Option<u64>,
}

impl From<UsageFields> for Usage {
    fn from(u: UsageFields) -> Self {
        Self {
            prompt_tokens: u.prompt_tokens.or(u.input_tokens).unwrap_or(0),
            completion_tokens: u.completion_tokens.or(u.output_tokens).unwrap_or(0),
            cached_tokens: u
                .prompt_tokens_details
                .or(u.input_tokens_details)
                .unwrap_or(0),
        }
    }
}

/// A token count: a non-negative integer, anything else is no count.
fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(<Value as serde::Deserialize>::deserialize(d)?.as_u64())
}

/// `cached_tokens` of a `*_tokens_details` object; anything else is no count.
fn cached<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Details {
        Object {
            #[serde(default, deserialize_with = "count")]
            cached_tokens: Option<u64>,
        },
        Other(serde::de::IgnoredAny),
    }
    Ok(match serde::Deserialize::deserialize(d)? {
        Details::Object { cached_tokens } => cached_tokens,
        Details::Other(_) => None,
    })
}

/// How a metered body ended.
pub struct Outcome {
    pub usage: Usage,
    pub first_byte: Option<Instant>,
    /// False when the body did not reach its end.
    pub completed: bool,
    /// The upstream broke off mid-body (otherwise an incomplete body means
    /// the client went away).
    pub upstream_failed: bool,
}

type Finish = Box<dyn FnOnce(Outcome) + Send>;
pub use crate::upstream::Upstream;

/// Largest non-streamed body kept in memory to read its usage.
const JSON_KEEP: usize = 4 << 20;

pub struct Metered {
    upstream: Upstream,
    sse: bool,
    /// Drop the usage-only event we asked for when the client did not.
    strip_usage: bool,
    /// SSE bytes after the last complete event.
    pending: Vec<u8>,
    /// A non-SSE body, for its usage.
    body: Vec<u8>,
    usage: Usage,
    first_byte: Option<Instant>,
    completed: bool,
    upstream_failed: bool,
    /// The upstream's Content-Length: the server may stop polling once that
    /// much has been sent, so reaching it counts as the end.
    expected_len: Option<u64>,
    received: u64,
    finish: Option<Finish>,
    _slot: Option<InFlight>,
}

impl Metered {
    pub fn new(
        upstream: Upstream,
        sse: bool,
        strip_usage: bool,
        expected_len: Option<u64>,
        slot: Option<InFlight>,
        finish: Finish,
    ) -> Self {
        Self {
            upstream,
            sse,
            strip_usage,
            pending: Vec::new(),
            body: Vec::new(),
            usage: Usage::default(),
            first_byte: None,
            completed: false,
            upstream_failed: false,
            expected_len,
            received: 0,
            finish: Some(finish),
            _slot: slot,
        }
    }

    /// The end of a non-SSE body: read its usage (skipping everything else).
    fn finish_json(&mut self) {
        #[derive(serde::Deserialize)]
        struct UsageOnly {
            usage: Option<UsageFields>,
        }
        self.completed = true;
        if let Ok(UsageOnly { usage: Some(usage) }) = serde_json::from_slice(&self.body) {
            self.usage = usage.into();
        }
        self.body = Vec::new();
    }

    /// Scans complete SSE events in `pending`; returns the bytes to send on.
    /// With `emit` false the events are only scanned (the chunk was already
    /// forwarded as received) and nothing is copied.
    fn take_events(&mut self, end: bool, emit: bool) -> Bytes {
        let mut out = Vec::with_capacity(if emit { self.pending.len() } else { 0 });
        let mut start = 0;
        while let Some(len) = event_end(&self.pending[start..]) {
            let event = &self.pending[start..start + len];
            let dropped = inspect_event(&mut self.usage, self.strip_usage, event);
            if emit && !dropped {
                out.extend_from_slice(event);
            }
            start += len;
        }
        if end {
            if emit {
                out.extend_from_slice(&self.pending[start..]);
            }
            start = self.pending.len();
        }
        self.pending.drain(..start);
        Bytes::from(out)
    }
}

/// Reads usage from one SSE event; returns whether to drop it.
fn inspect_event(found: &mut Usage, strip_usage: bool, event: &[u8]) -> bool {
    if !contains(event, b"\"usage\"") {
        return false;
    }
    let text = String::from_utf8_lossy(event);
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(chunk) = serde_json::from_str::<Value>(data.trim()) else {
            continue;
        };
        let usage = chunk
            .get("usage")
            .or_else(|| chunk.pointer("/response/usage"));
        if let Some(usage) = usage.and_then(Usage::from_json) {
            *found = usage;
            let usage_only = chunk
                .get("choices")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty);
            return strip_usage && usage_only;
        }
    }
    false
}

/// Length of the first complete SSE event (through its blank line), if any.
fn event_end(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl Stream for Metered {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            return match this.upstream.as_mut().poll_next(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    this.first_byte.get_or_insert_with(Instant::now);
                    this.received += chunk.len() as u64;
                    if !this.sse {
                        if this.body.len() + chunk.len() <= JSON_KEEP {
                            this.body.extend_from_slice(&chunk);
                        }
                        if this.expected_len.is_some_and(|len| this.received >= len)
                            && !this.completed
                        {
                            this.finish_json();
                        }
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    if !this.strip_usage {
                        // Forward as received; scan a copy for usage.
                        this.pending.extend_from_slice(&chunk);
                        this.take_events(false, false);
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    this.pending.extend_from_slice(&chunk);
                    let out = this.take_events(false, true);
                    if out.is_empty() {
                        continue;
                    }
                    Poll::Ready(Some(Ok(out)))
                }
                Poll::Ready(Some(Err(e))) => {
                    this.upstream_failed = true;
                    tracing::warn!(error = %e, "upstream body failed mid-way");
                    Poll::Ready(Some(Err(std::io::Error::other("upstream body failed"))))
                }
                Poll::Ready(None) => {
                    if this.completed {
                        return Poll::Ready(None);
                    }
                    if !this.sse {
                        this.finish_json();
                        return Poll::Ready(None);
                    }
                    this.completed = true;
                    let rest = this.take_events(true, this.strip_usage);
                    if this.strip_usage && !rest.is_empty() {
                        return Poll::Ready(Some(Ok(rest)));
                    }
                    Poll::Ready(None)
                }
            };
        }
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        if let Some(finish) = self.finish.take() {
            finish(Outcome {
                usage: self.usage,
                first_byte: self.first_byte,
                completed: self.completed,
                upstream_failed: self.upstream_failed,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::{Arc, Mutex};

    fn frames(parts: &[&str]) -> Upstream {
        let items: Vec<crate::upstream::Chunk> = parts
            .iter()
            .map(|p| Ok(Bytes::from(p.to_string())))
            .collect();
        Box::pin(futures_util::stream::iter(items))
    }

    async fn run(parts: &[&str], sse: bool, strip: bool) -> (String, Usage, bool) {
        let seen = Arc::new(Mutex::new(None));
        let sink = seen.clone();
        let metered = Metered::new(
            frames(parts),
            sse,
            strip,
            None,
            None,
            Box::new(move |o: Outcome| *sink.lock().unwrap() = Some((o.usage, o.completed))),
        );
        let out: Vec<Bytes> = metered.map(|r| r.unwrap()).collect().await;
        let (usage, completed) = seen.lock().unwrap().take().unwrap();
        (String::from_utf8(out.concat()).unwrap(), usage, completed)
    }

    const USAGE_EVENT: &str = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":2}}}\n\n";

    #[tokio::test]
    async fn reads_usage_from_split_sse_and_strips_it_when_asked() {
        let parts = [
            "data: {\"choices\":[{\"delta\":{}}]}\n",
            "\ndata: {\"choices\":[],\"us",
            &USAGE_EVENT[23..],
            "data: [DONE]\n\n",
        ];
        let (kept, usage, completed) = run(&parts, true, false).await;
        assert_eq!(kept, parts.concat());
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_tokens
            ),
            (7, 3, 2)
        );
        assert!(completed);

        let (stripped, usage, _) = run(&parts, true, true).await;
        assert!(!stripped.contains("usage"), "{stripped}");
        assert!(stripped.ends_with("data: [DONE]\n\n"));
        assert_eq!(usage.completion_tokens, 3);
    }

    #[tokio::test]
    async fn reads_usage_from_json_bodies() {
        let body = "{\"object\":\"list\",\"usage\":{\"prompt_tokens\":5,\"total_tokens\":5}}";
        let (out, usage, _) = run(&[&body[..10], &body[10..]], false, false).await;
        assert_eq!(out, body);
        assert_eq!(usage.prompt_tokens, 5);
    }

    #[test]
    fn reads_a_usage_object_as_from_json_does() {
        for usage in [
            r#"{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8,"prompt_tokens_details":{"cached_tokens":2,"audio_tokens":0}}"#,
            r#"{"input_tokens":7,"output_tokens":4,"input_tokens_details":{"cached_tokens":1}}"#,
            r#"{"prompt_tokens":"5","input_tokens":6,"completion_tokens":-1,"output_tokens":2.5}"#,
            r#"{"prompt_tokens_details":null,"input_tokens_details":{"cached_tokens":9}}"#,
            r#"{"prompt_tokens_details":[1],"input_tokens_details":"x","completion_tokens":{"a":1}}"#,
            r#"{}"#,
        ] {
            let value: Value = serde_json::from_str(usage).unwrap();
            let fields: UsageFields = serde_json::from_str(usage).unwrap();
            assert_eq!(
                Usage::from(fields),
                Usage::from_json(&value).unwrap(),
                "{usage}"
            );
        }
    }

    #[tokio::test]
    async fn an_abandoned_body_is_accounted_as_incomplete() {
        let seen = Arc::new(Mutex::new(None));
        let sink = seen.clone();
        let mut metered = Metered::new(
            frames(&["data: {}\n\n", "data: [DONE]\n\n"]),
            true,
            false,
            None,
            None,
            Box::new(move |o: Outcome| *sink.lock().unwrap() = Some(o.completed)),
        );
        metered.next().await;
        drop(metered);
        assert_eq!(seen.lock().unwrap().take(), Some(false));
    }
}
