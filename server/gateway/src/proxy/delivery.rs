//! Delivering an upstream answer to the client: passed through as it
//! streams, or translated from another provider's protocol, metered for
//! usage either way.

use super::*;

/// The backend that answered, the model it was asked for and the route's name.
pub(super) type Served<'a> = (Arc<crate::backend::Backend>, Option<&'a str>, &'a str);

/// An answer ready to go to the client.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: providers::Upstream,
}

/// How the answer's body is metered on its way out.
struct Metering {
    /// The body is a server-sent event stream.
    sse: bool,
    /// Drop the usage chunk the gateway asked for and the client did not.
    strip_usage: bool,
    /// The length the upstream announced, when the body passes unchanged.
    expected_len: Option<u64>,
    /// The concurrency slot the request holds until its body ends.
    slot: Option<InFlight>,
    /// Set by a translated stream that carried the provider's error event.
    failed_mid_stream: Option<Arc<AtomicBool>>,
}

pub(super) fn pass_through(
    call: Call,
    response: UpstreamResponse,
    served: Served<'_>,
    slot: Option<InFlight>,
    attempts: u32,
    strip_usage: bool,
) -> Response {
    let status = response.status();
    let sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    let mut headers = HeaderMap::with_capacity(response.headers().len() + 8);
    for (name, value) in response.headers().iter().filter(|(n, _)| returnable(n)) {
        if strip_usage && name == header::CONTENT_LENGTH {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    let expected_len = if strip_usage {
        None
    } else {
        upstream::content_length(response.headers())
    };
    let body = upstream::body_stream(response.into_body());
    let answer = Answer {
        status,
        headers,
        body,
    };
    let metering = Metering {
        sse,
        strip_usage: strip_usage && sse,
        expected_len,
        slot,
        failed_mid_stream: None,
    };
    deliver(call, served, answer, metering, attempts)
}

/// A translated backend's answer: OpenAI's shape, chunk by chunk for streams.
pub(super) async fn translated(
    call: Call,
    adapter: Adapter,
    response: UpstreamResponse,
    served: Served<'_>,
    slot: Option<InFlight>,
    attempts: u32,
    request: &UpstreamRequest,
) -> Response {
    let model = served
        .1
        .or(call.model.as_deref())
        .unwrap_or(served.2)
        .to_owned();
    let status = response.status();
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let answer = adapter
        .answer(
            status,
            upstream::body_stream(response.into_body()),
            request.stream,
            &model,
        )
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => return call.refuse(error, attempts),
    };
    let mut headers = HeaderMap::with_capacity(8);
    providers::answer_headers(&mut headers, retry_after, answer.sse);
    // The usage chunk is always there in a translated stream; it goes when the client did not ask.
    let strip = answer.sse && request.add_usage;
    let metering = Metering {
        sse: answer.sse,
        strip_usage: strip,
        expected_len: None,
        slot,
        failed_mid_stream: answer.failed,
    };
    let answer = Answer {
        status: answer.status,
        headers,
        body: answer.body,
    };
    deliver(call, served, answer, metering, attempts)
}

/// Sends an answer on to the client, metered, and accounts for it when it ends.
fn deliver(
    mut call: Call,
    (backend, upstream_model, route_model): Served<'_>,
    Answer {
        status,
        headers: upstream_headers,
        body,
    }: Answer,
    Metering {
        sse,
        strip_usage,
        expected_len,
        slot,
        failed_mid_stream,
    }: Metering,
    attempts: u32,
) -> Response {
    call.price = governor::served_price(
        &call.tenant,
        &call.gw.snapshot.load().platform_prices,
        [upstream_model, Some(route_model), call.model.as_deref()],
    );
    call.gw.metrics.response(status.as_u16());
    let mut builder = Response::builder().status(status);
    if let Some(headers) = builder.headers_mut() {
        *headers = upstream_headers;
        call.stamp(headers, Some(&backend.name), attempts);
        if let Some(admission) = &call.admission {
            headers.extend(admission.headers.clone());
        }
    }
    let backend_id = backend.id;
    let status_code = status.as_u16();
    let error = (!status.is_success()).then(|| format!("upstream_{status_code}"));
    let finish = Box::new(move |outcome: Outcome| {
        // A translated stream that carried the provider's error event ended cleanly, yet failed.
        let failed = failed_mid_stream.is_some_and(|f| f.load(Ordering::Relaxed));
        let error = error.or_else(|| failed.then(|| "upstream_stream_error".to_owned()));
        let event = call.event(
            status_code,
            attempts,
            Some(backend_id),
            Some(&outcome),
            error.as_deref(),
        );
        let served = governor::Outcome::Served {
            tokens: (event.prompt_tokens + event.completion_tokens).min(i64::MAX as u64) as i64,
            cost_pico: event.cost_pico,
        };
        call.settle(event, served);
    });
    let metered = Metered::new(body, sse, strip_usage, expected_len, slot, finish);
    builder
        .body(Body::from_stream(metered))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
