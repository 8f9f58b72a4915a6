//! Test harness: a fresh Postgres database per test, the real HTTP server on
//! an ephemeral port, a bootstrap platform admin, and an HTTP client that
//! speaks the admin API.
//!
//! Tests talk to the Postgres at `DITTO_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, a superuser); each gets its
//! own database, dropped afterwards.

pub mod logs;
pub mod moto;
pub mod oidc;
pub mod pg;
pub mod redis;
pub mod replica;
pub mod saml;

use std::time::Duration;

use std::sync::Arc;

use ditto_api::AppState;
use ditto_core::crypto::MasterKey;
use ditto_gateway::{BreakerConfig, Gateway, GatewayConfig};
use ditto_store::{DbConfig, Store};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::net::TcpListener;

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The platform admin token every `TestApp` is bootstrapped with.
pub const BOOTSTRAP_TOKEN: &str = "test-bootstrap-token-0123456789abcdef";

/// The seed of the key test servers sign audit checkpoints with.
pub const AUDIT_SIGNING_KEY: &str = "ZGl0dG8tdGVzdC1hdWRpdC1zaWduaW5nLWtleS0wMDE=";

/// The key test servers sign audit checkpoints with.
pub fn audit_signer() -> ditto_core::audit::AuditSigner {
    ditto_core::audit::AuditSigner::from_base64(AUDIT_SIGNING_KEY).expect("a 32-byte seed")
}

/// The Redis tests use (`DITTO_TEST_REDIS_URL`, default the local server).
pub fn redis_url() -> String {
    std::env::var("DITTO_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn admin_url() -> String {
    std::env::var("DITTO_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A database that exists for one test.
pub struct TestDb {
    pub name: String,
    pub options: PgConnectOptions,
}

impl TestDb {
    pub async fn create() -> Self {
        let admin: PgConnectOptions = admin_url()
            .parse()
            .expect("DITTO_TEST_DATABASE_URL is a Postgres URL");
        let name = format!("ditto_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin
            .clone()
            .disable_statement_logging()
            .connect()
            .await
            .expect("cannot reach the test Postgres; is it running? (see README)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        Self {
            options: admin.database(&name),
            name,
        }
    }

    /// A store on this database with migrations applied.
    pub async fn migrated_store(&self) -> Store {
        let store = Store::connect_lazy(self.options.clone(), &DbConfig::default());
        store.migrate().await.expect("migrations apply");
        store
    }

    /// A URL for this database, for processes started by tests.
    pub fn url(&self) -> String {
        let admin = admin_url();
        let (base, _) = admin
            .rsplit_once('/')
            .expect("the admin URL names a database");
        format!("{base}/{}", self.name)
    }

    /// A superuser connection to the server (not this database), for tests
    /// that take the database away.
    pub async fn admin_connection(&self) -> PgConnection {
        admin_url()
            .parse::<PgConnectOptions>()
            .expect("admin URL")
            .disable_statement_logging()
            .connect()
            .await
            .expect("connect as admin")
    }

    pub async fn connect(&self) -> PgConnection {
        self.options
            .connect()
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; a short-lived runtime on its own thread
        // removes the database even when the test's runtime is gone.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let Ok(admin) = admin_url().parse::<PgConnectOptions>() else {
                    return;
                };
                if let Ok(mut conn) = admin.disable_statement_logging().connect().await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// The real application (admin API and gateway) on a fresh database.
pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub gateway: Arc<Gateway>,
    pub db: TestDb,
    /// The platform's audit export directory (`DITTO_AUDIT_EXPORT_DIR`).
    pub export_dir: tempfile::TempDir,
    /// The server's audit export worker, for tests that run its passes.
    pub audit_exporter: ditto_audit_export::Exporter,
    master_key: MasterKey,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

/// How to start a [`TestApp`].
#[derive(Clone, Default)]
pub struct Options {
    /// Configure Redis at this URL.
    pub redis_url: Option<String>,
    pub gateway: GatewayConfig,
    /// The key that signs audit checkpoints; `None`: [`audit_signer`].
    pub audit_signer: Option<ditto_core::audit::AuditSigner>,
    /// Sign-in settings; `None`: [`test_identity`].
    pub identity: Option<ditto_identity::Identity>,
}

/// Sign-in settings for tests: cheap password hashing (the cost is a
/// setting, not what is tested), cookies without `Secure` (plain HTTP).
pub fn test_identity() -> ditto_identity::Identity {
    use ditto_identity::password::{HashParams, PasswordPolicy, Passwords};
    ditto_identity::Identity {
        passwords: Passwords::new(
            HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            PasswordPolicy::default(),
        )
        .expect("valid hashing parameters"),
        sessions: ditto_identity::session::SessionPolicy {
            secure_cookies: false,
            ..Default::default()
        },
        lockout: ditto_identity::LockoutPolicy::default(),
        public_url: None,
        // The test identity providers run on loopback.
        providers: ditto_identity::egress::ProviderAccess::new(test_egress()),
    }
}

/// What tests allow beyond public addresses: their mock upstreams, identity
/// providers and S3 server run on loopback. The same list an operator would
/// give as `DITTO_EGRESS_ALLOW=127.0.0.0/8,::1`.
pub fn test_egress() -> ditto_egress::EgressPolicy {
    ditto_egress::EgressPolicy::parse("127.0.0.0/8,::1").expect("a valid allow list")
}

/// Gateway settings that keep tests quick: a short breaker cooldown, and
/// backends on loopback allowed ([`test_egress`]).
pub fn quick_gateway_config() -> GatewayConfig {
    GatewayConfig {
        egress: test_egress(),
        breaker: BreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_millis(300),
        },
        // Tests that want active health checks turn them on themselves.
        health_check_every: None,
        ..GatewayConfig::default()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options {
            gateway: quick_gateway_config(),
            ..Options::default()
        })
        .await
    }

    pub async fn spawn_with(options: Options) -> Self {
        logs::init();
        let redis = options
            .redis_url
            .as_deref()
            .map(|url| ditto_store::Redis::open(url).expect("valid Redis URL"));
        let db = TestDb::create().await;
        let store = db.migrated_store().await;
        assert!(
            store
                .bootstrap_platform_admin(BOOTSTRAP_TOKEN)
                .await
                .expect("bootstrap")
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let master_key = MasterKey::from_base64(&MasterKey::generate_base64()).expect("master key");
        let export_dir = tempfile::tempdir().expect("an audit export directory");
        // The server itself is never a destination, even on allowed loopback.
        let mut gateway_config = options.gateway;
        let own = listener.local_addr().expect("the listener's address");
        gateway_config.egress = gateway_config.egress.with_own_addresses([own]);
        let egress = gateway_config.egress.clone();
        let (gateway, _handle) =
            Gateway::start(store.clone(), Some(master_key.clone()), gateway_config)
                .await
                .expect("gateway starts");
        let metrics_gateway = gateway.clone();
        let signer = options.audit_signer.clone().unwrap_or_else(audit_signer);
        let audit_exporter = ditto_audit_export::Exporter::new(
            store.clone(),
            Some(master_key.clone()),
            Some(signer.clone()),
            Some(export_dir.path().to_owned()),
            egress.clone(),
        );
        let app = ditto_api::app(AppState {
            store: store.clone(),
            redis,
            master_key: Some(master_key.clone()),
            metrics: Some(Arc::new(move || metrics_gateway.render_metrics())),
            audit_signer: Some(signer),
            audit_exporter: audit_exporter.clone(),
            identity: options.identity.unwrap_or_else(test_identity),
            egress,
            // As behind an ingress on this host: tests name their client
            // addresses in `X-Forwarded-For`.
            trusted_proxies: ditto_egress::Networks::parse("127.0.0.0/8,::1")
                .expect("valid proxies"),
        })
        .merge(ditto_gateway::router(gateway.clone()));
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .expect("serve");
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self {
            base,
            store,
            gateway,
            db,
            export_dir,
            audit_exporter,
            master_key,
            client,
            server,
        }
    }

    /// Another gateway replica on this app's database, with its own
    /// settings and port (only the data plane: `/t/{tenant}/v1/…`).
    pub async fn replica(&self, config: GatewayConfig) -> replica::Replica {
        replica::Replica::start(self.store.clone(), self.master_key.clone(), config).await
    }

    /// Waits until the gateway's snapshot of `tenant` includes every change
    /// committed so far (change notifications are asynchronous).
    pub async fn gateway_caught_up(&self, tenant: &str) {
        let id = self
            .store
            .resolve_tenant(tenant)
            .await
            .expect("tenant exists")
            .id;
        let now = self
            .store
            .announce_config_change(id)
            .await
            .expect("announce");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while self
            .gateway
            .tenant_loaded_as_of(tenant)
            .is_none_or(|at| at < now)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the gateway never caught up with {tenant}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A client authenticated as the platform administrator.
    pub fn admin(&self) -> Api {
        self.with_token(BOOTSTRAP_TOKEN)
    }

    /// A client holding a token of a new platform service account with
    /// `role` (`platform_admin` or `platform_auditor`).
    pub async fn platform_member(&self, role: &str) -> Api {
        let token = format!("dat-test-{}", uuid::Uuid::new_v4().simple());
        let role = ditto_core::PlatformRole::parse(role).expect("a platform role");
        self.store
            .create_platform_account(
                &format!("platform-{}", uuid::Uuid::new_v4().simple()),
                role,
                &token,
            )
            .await
            .expect("platform account");
        self.with_token(&token)
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Api {
        Api {
            base: self.base.clone(),
            token: None,
            client: self.client.clone(),
        }
    }

    pub fn with_token(&self, token: &str) -> Api {
        Api {
            token: Some(token.to_owned()),
            ..self.anonymous()
        }
    }

    /// Creates a tenant; returns its JSON.
    pub async fn tenant(&self, slug: &str) -> Value {
        self.admin()
            .post("/api/v1/tenants", json!({"slug": slug, "name": slug}))
            .await
            .expect_status(201)
    }

    /// A client holding a token of a new service account of `tenant` bound
    /// to the `admin` role.
    pub async fn tenant_member(&self, tenant: &str) -> Api {
        self.tenant_member_as(tenant, "admin").await
    }

    /// A client holding a token of a new service account of `tenant` bound
    /// tenant-wide to `role`.
    pub async fn tenant_member_as(&self, tenant: &str, role: &str) -> Api {
        let admin = self.admin();
        let account = admin
            .post(
                &format!("/api/v1/tenants/{tenant}/service-accounts"),
                json!({
                    "name": format!("automation-{}", uuid::Uuid::new_v4().simple()),
                    "role": role,
                }),
            )
            .await
            .expect_status(201);
        let token = admin
            .post(
                &format!(
                    "/api/v1/tenants/{tenant}/service-accounts/{}/tokens",
                    account["id"].as_str().expect("id")
                ),
                json!({"name": "ci"}),
            )
            .await
            .expect_status(201);
        self.with_token(token["secret"].as_str().expect("secret"))
    }
}

/// An admin API client.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    token: Option<String>,
    client: reqwest::Client,
}

/// A response, with its body parsed as JSON (`Value::Null` when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    /// The body, after checking the status (the panic shows the body).
    #[track_caller]
    pub fn expect_status(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self.body
    }

    /// Asserts a problem+json response with `status`; returns the body.
    #[track_caller]
    pub fn expect_problem(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            content_type, "application/problem+json",
            "body: {}",
            self.text
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{}",
            self.text
        );
        self.body
    }

    /// The fields named in a 422 problem.
    #[track_caller]
    pub fn invalid_fields(self) -> Vec<String> {
        let body = self.expect_problem(422);
        body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().expect("field").to_owned())
            .collect()
    }
}

impl Api {
    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.client.post(self.url(path)).json(&body))
            .await
    }

    /// POST without a body (action endpoints such as `/revoke`).
    pub async fn post_empty(&self, path: &str) -> Resp {
        self.send(self.client.post(self.url(path))).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(self.client.patch(self.url(path)).json(&body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.client.delete(self.url(path))).await
    }

    /// Sends a raw request built on this client's base URL and token.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Resp {
        self.send(build(self.client.request(method, self.url(path))))
            .await
    }

    /// Creates a project in `tenant`; returns its id.
    pub async fn project(&self, tenant: &str, name: &str) -> String {
        let project = self
            .post(
                &format!("/api/v1/tenants/{tenant}/projects"),
                json!({"name": name}),
            )
            .await
            .expect_status(201);
        project["id"].as_str().expect("project id").to_owned()
    }

    /// Follows `next_cursor` through every page of a list; returns all items.
    pub async fn collect(&self, path: &str, limit: usize) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let sep = if path.contains('?') { '&' } else { '?' };
        for _ in 0..1000 {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
                None => format!("{path}{sep}limit={limit}"),
            };
            let page = self.get(&url).await.expect_status(200);
            let batch = page["items"].as_array().expect("items");
            assert!(batch.len() <= limit, "page larger than limit");
            items.extend(batch.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
        panic!("pagination did not end");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> Resp {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request reaches the server");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
        };
        Resp {
            status,
            headers,
            text,
            body,
        }
    }
}
