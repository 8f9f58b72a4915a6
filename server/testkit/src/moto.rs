//! A real S3-compatible server for tests: moto's server (`pip install
//! 'moto[server]'`; `scripts/test` installs it), started per test on a free
//! port, with request signing enforced. It gets an IAM user with an access
//! key allowed everything on S3, and one bucket; then every request must be
//! signed with that key, so a wrong secret is refused as AWS would.
//!
//! The binary: `DITTO_TEST_MOTO_SERVER`, else `target/e2e-venv/bin/moto_server`
//! of this checkout, else `moto_server` on the PATH.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("DITTO_TEST_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let local =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-venv/bin/moto_server");
    if local.exists() {
        return local;
    }
    PathBuf::from("moto_server")
}

/// Moto's IAM API, unsigned: allowed for the first few requests only.
const IAM_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDSETUP/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";

/// The value of the first `<tag>…</tag>` in `xml`.
fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_owned())
}

impl Moto {
    /// Starts a server with one bucket, `bucket`.
    pub async fn start(bucket: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // The set-up below takes four requests; every later one is
            // authenticated and authorized.
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "4")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server runs (pip install 'moto[server]', or set DITTO_TEST_MOTO_SERVER)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let http = reqwest::Client::new();
        let iam = |form: Vec<(&'static str, String)>| {
            let http = http.clone();
            let endpoint = endpoint.clone();
            async move {
                let resp = http
                    .post(format!("{endpoint}/"))
                    .header("authorization", IAM_AUTH)
                    .form(&form)
                    .send()
                    .await
                    .expect("moto IAM");
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                assert!(status.is_success(), "moto IAM: {status} {text}");
                text
            }
        };
        let v = || ("Version", "2010-05-08".to_owned());
        iam(vec![
            ("Action", "CreateUser".into()),
            ("UserName", "ditto".into()),
            v(),
        ])
        .await;
        let key = iam(vec![
            ("Action", "CreateAccessKey".into()),
            ("UserName", "ditto".into()),
            v(),
        ])
        .await;
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        iam(vec![
            ("Action", "PutUserPolicy".into()),
            ("UserName", "ditto".into()),
            ("PolicyName", "s3".into()),
            ("PolicyDocument", policy.into()),
            v(),
        ])
        .await;
        let resp = http
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .expect("create bucket");
        assert!(
            resp.status().is_success(),
            "create bucket: {}",
            resp.status()
        );
        Self {
            bucket: bucket.to_owned(),
            access_key_id: xml_value(&key, "AccessKeyId").expect("an access key id"),
            secret_access_key: xml_value(&key, "SecretAccessKey").expect("a secret access key"),
            endpoint,
            child,
        }
    }
}
