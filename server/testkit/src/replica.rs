//! More gateway replicas for one test app: each its own process state
//! (snapshot, leases, usage writer) on the same database, as replicas
//! behind a load balancer are.

use std::sync::Arc;

use ditto_core::crypto::MasterKey;
use ditto_gateway::{Gateway, GatewayConfig, Handle};
use ditto_store::Store;
use tokio::net::TcpListener;

pub struct Replica {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub gateway: Arc<Gateway>,
    handle: Option<Handle>,
    server: tokio::task::JoinHandle<()>,
}

impl Replica {
    pub(crate) async fn start(store: Store, master_key: MasterKey, config: GatewayConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let own = listener.local_addr().expect("the listener's address");
        let mut config = config;
        config.egress = config.egress.with_own_addresses([own]);
        let (gateway, handle) = Gateway::start(store, Some(master_key), config)
            .await
            .expect("the replica starts");
        let app = ditto_gateway::router(gateway.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self {
            base: format!("http://{own}"),
            gateway,
            handle: Some(handle),
            server,
        }
    }

    /// Ends the replica as if its process died: requests in flight are cut,
    /// and nothing it holds is given back or written out.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.server.abort();
        if let Some(handle) = self.handle.take() {
            handle.kill();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop();
    }
}
