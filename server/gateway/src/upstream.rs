//! The HTTP client for upstream calls: hyper's pooled client used directly.
//! A general-purpose client re-parsed each request's URL (twice) and ran
//! redirect and retry layers the gateway does not use; here a backend's base
//! URL is split once and a request's URI is one concatenation.
//!
//! HTTP/1.1 over TCP, or over rustls (ring) trusting the system's roots.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{HeaderMap, Method, Request, Response, Uri, header};
use bytes::Bytes;
use ditto_egress::EgressPolicy;
use ditto_egress::connector::GuardedConnector;
use futures_util::{Stream, TryStreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client as Pool;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// One piece of an upstream body; an error means the upstream broke off.
pub type Chunk = std::io::Result<Bytes>;

/// An upstream body as it arrives.
pub type Upstream = std::pin::Pin<Box<dyn Stream<Item = Chunk> + Send>>;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// A pooled client with its own connect timeout.
#[derive(Clone)]
pub struct Client {
    pool: Pool<HttpsConnector<GuardedConnector>, Full<Bytes>>,
}

/// Why an upstream call failed before a response arrived.
#[derive(Debug)]
pub struct SendError {
    /// Connecting (DNS, TCP, TLS) failed, as opposed to the exchange.
    pub connect: bool,
    /// The cause, with its sources, for logs and the client's error.
    pub message: String,
}

impl Client {
    /// Connections go only where `egress` allows, checked on the resolved
    /// address of every new connection.
    pub fn new(connect_timeout: Duration, egress: EgressPolicy) -> Self {
        let http = GuardedConnector::new(egress, connect_timeout);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config().as_ref().clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let pool = Pool::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self { pool }
    }

    /// Sends `body` to `uri`; the response's body streams afterwards.
    pub async fn send(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, SendError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        self.pool.request(request).await.map_err(|e| SendError {
            connect: e.is_connect(),
            message: describe(&e),
        })
    }
}

/// TLS settings shared by every backend's client: loading the system's
/// roots reads files, so it happens once.
fn tls_config() -> &'static Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let builder =
            rustls::ClientConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions");
        let config = match builder.clone().with_native_roots() {
            Ok(with_roots) => with_roots.with_no_client_auth(),
            Err(e) => {
                // Plain-HTTP backends still work; HTTPS ones fail with an
                // "unknown issuer" error naming the certificate.
                tracing::error!(error = %e, "no trusted root certificates found on this system (install ca-certificates); HTTPS backends will fail");
                builder
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        Arc::new(config)
    })
}

/// An error and its sources, e.g. "client error (Connect): tcp connect
/// error: Connection refused (os error 111)".
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// A backend's base URL split once: scheme, authority, and path prefix
/// without its trailing slash.
#[derive(Clone, Debug)]
pub struct Origin {
    scheme: Scheme,
    authority: Authority,
    prefix: String,
}

impl Origin {
    /// `None` unless `base` is an absolute http(s) URL without a query or
    /// fragment (those would be lost when a path is appended).
    pub fn parse(base: &str) -> Option<Self> {
        let url = url::Url::parse(base).ok()?;
        if !matches!(url.scheme(), "http" | "https")
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return None;
        }
        // The url crate has normalised and percent-encoded it.
        let uri: Uri = url.as_str().parse().ok()?;
        Some(Self {
            scheme: uri.scheme()?.clone(),
            authority: uri.authority()?.clone(),
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// `{base}/{path}?{query}`. `path` and `query` must be URI-encoded (as
    /// the client sent them); `None` when they are not.
    pub fn uri(&self, path: &str, query: Option<&str>) -> Option<Uri> {
        let mut text =
            String::with_capacity(self.prefix.len() + path.len() + 2 + query.map_or(0, str::len));
        text.push_str(&self.prefix);
        text.push('/');
        text.push_str(path);
        if let Some(query) = query {
            text.push('?');
            text.push_str(query);
        }
        let path_and_query = PathAndQuery::from_maybe_shared(Bytes::from(text)).ok()?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .ok()
    }
}

/// The response body as a stream of chunks.
pub fn body_stream(body: Incoming) -> Upstream {
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

/// The body's length, when the upstream declared it.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_joins_prefix_path_and_query() {
        let origin = Origin::parse("http://127.0.0.1:9000/openai/v1/").unwrap();
        assert_eq!(
            origin.uri("chat/completions", None).unwrap().to_string(),
            "http://127.0.0.1:9000/openai/v1/chat/completions"
        );
        assert_eq!(
            origin
                .uri("files/file-1/content", Some("a=1&b=%20"))
                .unwrap()
                .to_string(),
            "http://127.0.0.1:9000/openai/v1/files/file-1/content?a=1&b=%20"
        );
        let bare = Origin::parse("https://api.example.com").unwrap();
        assert_eq!(
            bare.uri("models", None).unwrap().to_string(),
            "https://api.example.com/models"
        );
        let v6 = Origin::parse("http://[::1]:8080/v1").unwrap();
        assert_eq!(
            v6.uri("models", None).unwrap().to_string(),
            "http://[::1]:8080/v1/models"
        );
    }

    #[test]
    fn origin_refuses_what_a_path_cannot_be_appended_to() {
        for base in [
            "not a url",
            "ftp://example.com/v1",
            "http://example.com/v1?x=1",
            "http://example.com/v1#frag",
            "http://user:secret@example.com/v1",
            "/relative/v1",
        ] {
            assert!(Origin::parse(base).is_none(), "{base}");
        }
    }

    #[test]
    fn a_path_that_is_not_uri_encoded_is_refused() {
        let origin = Origin::parse("http://example.com/v1").unwrap();
        assert!(origin.uri("models/a b", None).is_none());
    }

    fn loopback() -> EgressPolicy {
        EgressPolicy::parse("127.0.0.0/8,::1").unwrap()
    }

    /// `GET {base}/models` through `client`, expected to fail.
    async fn failed_get(client: &Client, base: &str) -> SendError {
        let origin = Origin::parse(base).unwrap();
        client
            .send(
                Method::GET,
                origin.uri("models", None).unwrap(),
                HeaderMap::new(),
                Bytes::new(),
            )
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn an_internal_backend_is_refused_at_connect_time_unless_allowed() {
        let client = Client::new(Duration::from_secs(2), EgressPolicy::strict());
        for base in [
            "http://127.0.0.1:9/v1",
            "http://169.254.169.254/latest",
            "http://[::1]:9/",
            "http://localhost:9/v1",
            "http://10.0.0.1:9/v1",
        ] {
            let error = failed_get(&client, base).await;
            assert!(error.connect, "{error:?}");
            assert!(
                error.message.contains("DITTO_EGRESS_ALLOW"),
                "{base}: {}",
                error.message
            );
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_with_its_cause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let client = Client::new(Duration::from_secs(2), loopback());
        let error = failed_get(&client, &format!("http://127.0.0.1:{port}/v1")).await;
        assert!(error.connect, "{error:?}");
        assert!(error.message.contains("refused"), "{}", error.message);
    }

    #[tokio::test]
    async fn https_backends_are_spoken_to_in_tls() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let first_byte = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.read_u8().await.unwrap()
        });
        let client = Client::new(Duration::from_secs(2), loopback());
        let origin = Origin::parse(&format!("https://localhost:{port}/v1")).unwrap();
        let sent = tokio::time::timeout(
            Duration::from_secs(5),
            client.send(
                Method::GET,
                origin.uri("models", None).unwrap(),
                HeaderMap::new(),
                Bytes::new(),
            ),
        );
        let (byte, _) = tokio::join!(first_byte, sent);
        // 0x16: a TLS handshake record (the ClientHello), not plain HTTP.
        assert_eq!(byte.unwrap(), 0x16);
    }
}
