//! OpenID providers for tests.
//!
//! [`OidcProvider`]: the real npm `oidc-provider` (e2e/oidc/provider.mjs,
//! installed by `scripts/test` with `npm install` in e2e/oidc), started per
//! test with our callback as its clients' redirect URI.
//!
//! [`discovery_fixture`]: a static discovery document and key set served
//! once per test process, for tests that need a connection to exist (the
//! authorization matrix) but never sign in through it.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// A running `oidc-provider`.
pub struct OidcProvider {
    /// `http://127.0.0.1:<port>`.
    pub issuer: String,
    child: Child,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn script_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e/oidc")
}

impl OidcProvider {
    /// Starts a provider whose clients redirect to `redirect_uri`.
    pub async fn start(redirect_uri: &str) -> Self {
        let dir = script_dir();
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "oidc-provider is not installed: run scripts/test, or `npm install` in e2e/oidc"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .env("REDIRECT_URI", redirect_uri)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (apt-get install nodejs)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "oidc-provider did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            issuer: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    /// Sets the claims the provider reports for `login` (besides `sub`,
    /// which is the login).
    pub async fn set_account(&self, login: &str, claims: Value) {
        let status = reqwest::Client::new()
            .post(format!("{}/__test/accounts", self.issuer))
            .json(&json!({"login": login, "claims": claims}))
            .send()
            .await
            .expect("oidc-provider answers")
            .status();
        assert_eq!(status, 204, "setting an oidc-provider account");
    }
}

/// The issuer of a static, valid discovery document (with a key set of one
/// RSA key) served for the rest of the test process.
pub fn discovery_fixture() -> String {
    static ISSUER: OnceLock<String> = OnceLock::new();
    ISSUER
        .get_or_init(|| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.set_nonblocking(true).expect("non-blocking");
            let issuer = format!("http://{}", listener.local_addr().expect("addr"));
            let base = issuer.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async move {
                    let document = json!({
                        "issuer": base,
                        "authorization_endpoint": format!("{base}/auth"),
                        "token_endpoint": format!("{base}/token"),
                        "userinfo_endpoint": format!("{base}/me"),
                        "jwks_uri": format!("{base}/jwks"),
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    });
                    let jwks = json!({"keys": [{
                        "kty": "RSA", "kid": "fixture", "alg": "RS256", "use": "sig", "e": "AQAB",
                        "n": "wcHhndsrBLVDdfdrXw6vgDlxl45B0XZ5drz0FlRCgnU1Ak965yl_urVUWqsNi3x2tNuL0l_iS7CwQqWYQf_O62ZeWstb4S6SAOhXEYlht6AXDAy2RurGzwSHejdvUh5Wgwx154OinVMJMNWmFfFC3FkXlYBwLHn4R94QLMS-eeeE1odgUxiG77X7edVEClGhPjMOCNBta0XkpgEUM2A6tYwqac4wGao9nDSFDts6EZeytXImqZUAagaIyMc5kV77LIThS5MJiAaoI2ysW-tn-pvsty-ny8ZR0bQK66fIaTQkYeWH1BunUE1LSeky7dRdD1ZWckGM98ZvAUv62IEuiw",
                    }]});
                    let app = axum::Router::new()
                        .route(
                            "/.well-known/openid-configuration",
                            axum::routing::get(move || async move { axum::Json(document) }),
                        )
                        .route(
                            "/jwks",
                            axum::routing::get(move || async move { axum::Json(jwks) }),
                        );
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                    axum::serve(listener, app).await.expect("serve");
                });
            });
            issuer
        })
        .clone()
}
