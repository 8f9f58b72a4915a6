//! The `ditto` binary end to end: configuration errors, the spec, and
//! serving on an external and on the embedded database.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ditto_testkit::TestDb;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

#[path = "cli/audit.rs"]
mod audit;
#[path = "cli/limits.rs"]
mod limits;

const BIN: &str = env!("CARGO_BIN_EXE_ditto");
const TOKEN: &str = "cli-test-bootstrap-token-0123456789";

fn ditto() -> Command {
    let mut command = Command::new(BIN);
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "DITTO_LISTEN",
        "DITTO_BOOTSTRAP_TOKEN",
        "DITTO_DATA_DIR",
        "DITTO_CONFIG",
        "DITTO_AUDIT_SIGNING_KEY",
        "DITTO_SSO_PRIVATE_HOSTS",
    ] {
        command.env_remove(var);
    }
    // The mock upstreams these tests start run on loopback.
    command.env("DITTO_EGRESS_ALLOW", "127.0.0.0/8");
    command
}

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn openapi_prints_the_checked_in_spec() {
    let out = ditto().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let checked_in = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/ditto.json"),
    )
    .unwrap();
    assert_eq!(printed.trim_end(), checked_in.trim_end());
}

#[test]
fn bad_configuration_is_reported_clearly_and_without_secrets() {
    let out: Output = ditto()
        .arg("serve")
        .env("DITTO_LISTEN", "localhost")
        .env("DATABASE_URL", "mysql://root:hunter2@db/ditto")
        .env("DITTO_BOOTSTRAP_TOKEN", "tiny")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DITTO_LISTEN") && stderr.contains("'localhost' is not an address"),
        "{stderr}"
    );
    assert!(
        stderr.contains("DATABASE_URL") && stderr.contains("postgres://"),
        "{stderr}"
    );
    assert!(stderr.contains("at least 24 characters"), "{stderr}");
    assert!(
        !stderr.contains("hunter2") && !stderr.contains("tiny"),
        "{stderr}"
    );

    let missing = ditto()
        .args(["--config", "/nonexistent/ditto.toml", "migrate"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("cannot read the config file /nonexistent/ditto.toml")
    );
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(mut command: Command) -> Self {
        let listen = free_addr();
        let child = command
            .args(["serve", "--listen", &listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            base: format!("http://{listen}"),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Ok(resp) = reqwest::blocking::get(format!("{}/readyz", self.base))
                && resp.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let out = self.child.wait_with_output_ref();
                panic!("ditto exited early with {status}: {out}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("ditto did not become ready");
    }

    fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let client = reqwest::blocking::Client::new();
        let mut request = client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let resp = request.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    /// Stops with SIGTERM; returns everything the process printed.
    fn stop(mut self) -> String {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let out = self.child.wait_with_output_ref();
                assert!(status.success(), "ditto exited with {status}: {out}");
                return out;
            }
            assert!(Instant::now() < deadline, "ditto did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

trait OutputText {
    fn wait_with_output_ref(&mut self) -> String;
}

impl OutputText for Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let mut text = String::new();
        if let Some(mut out) = self.stdout.take() {
            out.read_to_string(&mut text).ok();
        }
        if let Some(mut err) = self.stderr.take() {
            err.read_to_string(&mut text).ok();
        }
        text
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_an_external_database_from_a_bootstrap_token() {
    let db = TestDb::create().await;
    let url = db.url();
    tokio::task::spawn_blocking(move || {
        let mut command = ditto();
        command
            .env("DATABASE_URL", &url)
            .env("DITTO_BOOTSTRAP_TOKEN", TOKEN);
        let server = Server::start(command);
        let (status, tenant) = server.call(
            TOKEN,
            reqwest::Method::POST,
            "/api/v1/tenants",
            Some(json!({"slug": "acme", "name": "Acme"})),
        );
        assert_eq!(status, 201, "{tenant}");
        let (status, _) = server.call("wrong-token", reqwest::Method::GET, "/api/v1/tenants", None);
        assert_eq!(status, 401);
        let output = server.stop();
        assert!(output.contains("Ditto is serving on"), "{output}");
        assert!(
            output.contains("created the platform administrator"),
            "{output}"
        );
        assert!(
            !output.contains(TOKEN),
            "the bootstrap token reached the output"
        );

        // A second start neither re-bootstraps nor forgets.
        let mut command = ditto();
        command.env("DATABASE_URL", &url).env(
            "DITTO_BOOTSTRAP_TOKEN",
            "a-different-token-that-is-long-enough",
        );
        let server = Server::start(command);
        let (status, list) = server.call(TOKEN, reqwest::Method::GET, "/api/v1/tenants", None);
        assert_eq!(status, 200);
        assert_eq!(list["items"][0]["slug"], "acme");
        let (status, _) = server.call(
            "a-different-token-that-is-long-enough",
            reqwest::Method::GET,
            "/api/v1/tenants",
            None,
        );
        assert_eq!(
            status, 401,
            "the bootstrap token only applies to an empty database"
        );
        server.stop();
    })
    .await
    .unwrap();
}

#[test]
fn migrate_applies_migrations_to_an_external_database() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::create());
    for _ in 0..2 {
        let out = ditto()
            .arg("migrate")
            .env("DATABASE_URL", db.url())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("migrations are up to date"));
    }
    drop(db);
}

#[test]
fn embedded_postgres_starts_from_nothing_and_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    // Under root the embedded Postgres runs as an unprivileged user, which
    // must be able to enter the directory.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");

    let mut command = ditto();
    command.env("DITTO_DATA_DIR", &data);
    let server = Server::start(command);
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let mode = std::fs::metadata(data.join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the token file is private");
    let (status, _) = server.call(
        &token,
        reqwest::Method::POST,
        "/api/v1/tenants",
        Some(json!({"slug": "acme", "name": "Acme"})),
    );
    assert_eq!(status, 201);
    let output = server.stop();
    assert!(output.contains("the token is in"), "{output}");
    assert!(
        !output.contains(token.trim()),
        "the token itself is never printed"
    );
    assert!(
        !data.join("postgres/postmaster.pid").exists(),
        "Postgres was stopped"
    );

    let mut command = ditto();
    command.env("DITTO_DATA_DIR", &data);
    let server = Server::start(command);
    let (status, list) = server.call(&token, reqwest::Method::GET, "/api/v1/tenants", None);
    assert_eq!(status, 200);
    assert_eq!(
        list["items"][0]["slug"], "acme",
        "data survived the restart"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_reaches_another_replica_within_a_second() {
    let db = TestDb::create().await;
    let url = db.url();
    tokio::task::spawn_blocking(move || {
        let replica = || {
            let mut command = ditto();
            command
                .env("DATABASE_URL", &url)
                .env("DITTO_BOOTSTRAP_TOKEN", TOKEN);
            Server::start(command)
        };
        let a = replica();
        let b = replica();
        let post = reqwest::Method::POST;
        a.call(
            TOKEN,
            post.clone(),
            "/api/v1/tenants",
            Some(json!({"slug": "acme", "name": "Acme"})),
        );
        let (_, project) = a.call(
            TOKEN,
            post.clone(),
            "/api/v1/tenants/acme/projects",
            Some(json!({"name": "p"})),
        );
        let (status, key) = a.call(
            TOKEN,
            post.clone(),
            "/api/v1/tenants/acme/api-keys",
            Some(json!({"project_id": project["id"], "name": "k"})),
        );
        assert_eq!(status, 201);
        let secret = key["secret"].as_str().unwrap();
        let models = |server: &Server| {
            server
                .call(secret, reqwest::Method::GET, "/t/acme/v1/models", None)
                .0
        };

        let deadline = Instant::now() + Duration::from_secs(1);
        while models(&b) != 200 {
            assert!(
                Instant::now() < deadline,
                "the new key did not reach replica B within a second"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let revoke = format!(
            "/api/v1/tenants/acme/api-keys/{}/revoke",
            key["key"]["id"].as_str().unwrap()
        );
        assert_eq!(a.call(TOKEN, post, &revoke, None).0, 200);
        let revoked_at = Instant::now();
        while models(&b) != 401 {
            assert!(
                revoked_at.elapsed() < Duration::from_secs(1),
                "replica B still accepts the revoked key"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        println!(
            "revocation reached replica B after {:?}",
            revoked_at.elapsed()
        );
        a.stop();
        b.stop();
    })
    .await
    .unwrap();
}
