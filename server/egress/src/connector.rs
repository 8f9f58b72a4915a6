//! A TCP connector for hyper's client that connects only where the policy
//! allows. It resolves a name once, checks every address, and connects to
//! those very addresses: no second lookup an attacker's DNS could answer
//! differently. TLS, when the URL is https, wraps it as usual.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::EgressPolicy;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Debug)]
pub struct GuardedConnector {
    policy: EgressPolicy,
    /// For each address tried.
    connect_timeout: Duration,
}

impl GuardedConnector {
    pub fn new(policy: EgressPolicy, connect_timeout: Duration) -> Self {
        Self {
            policy,
            connect_timeout,
        }
    }

    async fn connect(self, uri: Uri) -> Result<TokioIo<TcpStream>, BoxError> {
        let host = uri.host().ok_or("the URL names no host")?;
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let addrs = self.policy.resolve(host, port).await?;
        let mut failure = String::new();
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    stream.set_nodelay(true)?;
                    return Ok(TokioIo::new(stream));
                }
                Ok(Err(e)) => failure = format!("tcp connect error: {e} ({addr})"),
                Err(_) => {
                    failure = format!(
                        "tcp connect error: no answer from {addr} within {} ms",
                        self.connect_timeout.as_millis()
                    );
                }
            }
        }
        Err(failure.into())
    }
}

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_service::Service;

    #[tokio::test]
    async fn refuses_internal_addresses_and_connects_to_allowed_ones() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let uri: Uri = format!("http://127.0.0.1:{port}/").parse().unwrap();
        let by_name: Uri = format!("http://localhost:{port}/").parse().unwrap();

        let mut strict = GuardedConnector::new(EgressPolicy::strict(), Duration::from_secs(1));
        let e = strict.call(uri.clone()).await.unwrap_err();
        assert!(e.to_string().contains("DITTO_EGRESS_ALLOW"), "{e}");
        let e = strict.call(by_name).await.unwrap_err();
        assert!(e.to_string().contains("DITTO_EGRESS_ALLOW"), "{e}");

        let policy = EgressPolicy::parse("127.0.0.1/32").unwrap();
        let mut allowed = GuardedConnector::new(policy, Duration::from_secs(1));
        assert!(allowed.call(uri).await.is_ok());
    }
}
