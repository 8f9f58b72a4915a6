//! Limits and the usage ledger across real `ditto serve` processes.

use std::collections::BTreeSet;

use ditto_mock_upstream::MockUpstream;
use ditto_testkit::pg::PrivatePostgres;
use futures_util::future::join_all;
use sqlx::{Connection, PgConnection};

use super::*;

/// A tenant `acme` with a route `gpt-4o` on `mock`, set up through `server`.
/// Returns (project id, key secrets).
fn set_up_tenant(server: &Server, mock: &MockUpstream, keys: usize) -> (String, Vec<String>) {
    let post = reqwest::Method::POST;
    let call = |path: &str, body: Value| {
        let (status, body) = server.call(TOKEN, post.clone(), path, Some(body));
        assert!(status < 300, "{path}: {status} {body}");
        body
    };
    call("/api/v1/tenants", json!({"slug": "acme", "name": "Acme"}));
    let project = call("/api/v1/tenants/acme/projects", json!({"name": "p"}))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let backend = call(
        "/api/v1/tenants/acme/backends",
        json!({"name": "mock", "base_url": mock.base_url()}),
    )["id"]
        .clone();
    call(
        "/api/v1/tenants/acme/routes",
        json!({"model": "gpt-4o", "targets": [{"backend_id": backend}]}),
    );
    let secrets = (0..keys)
        .map(|i| {
            call(
                "/api/v1/tenants/acme/api-keys",
                json!({"project_id": project, "name": format!("k{i}")}),
            )["secret"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    (project, secrets)
}

async fn chat(http: &reqwest::Client, server: &str, key: &str) -> reqwest::Response {
    http.post(format!("{server}/t/acme/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "gpt-4o", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

/// Waits until every server serves every key.
async fn keys_reach(servers: &[String], keys: &[String]) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    for server in servers {
        for key in keys {
            while http
                .get(format!("{server}/t/acme/v1/models"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                != 200
            {
                assert!(Instant::now() < deadline, "a key never reached {server}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Sends `n` requests at once, round-robin over servers and keys; how many got 200.
async fn admitted(servers: &[String], keys: &[String], n: usize) -> usize {
    let http = reqwest::Client::new();
    let responses = join_all((0..n).map(|i| {
        let server = &servers[i % servers.len()];
        let key = &keys[i % keys.len()];
        chat(&http, server, key)
    }))
    .await;
    for r in &responses {
        assert!(matches!(r.status().as_u16(), 200 | 429), "{}", r.status());
    }
    responses.iter().filter(|r| r.status() == 200).count()
}

async fn insert_limit(conn: &mut PgConnection, scope: &str, target: Option<&str>, rpm: i32) {
    let target: Option<uuid::Uuid> = target.map(|t| t.parse().unwrap());
    sqlx::query(
        "INSERT INTO rate_limits (id, tenant_id, scope, project_id, key_id, rpm)
         SELECT gen_random_uuid(), id, $1, $2, $3, $4 FROM tenants WHERE slug = 'acme'",
    )
    .bind(scope)
    .bind(if scope == "project" { target } else { None })
    .bind(if scope == "key" { target } else { None })
    .bind(rpm)
    .execute(conn)
    .await
    .unwrap();
}

/// Keys in a new project of acme.
fn keys_in_new_project(server: &Server, name: &str, keys: usize) -> Vec<String> {
    let post = reqwest::Method::POST;
    let (_, project) = server.call(
        TOKEN,
        post.clone(),
        "/api/v1/tenants/acme/projects",
        Some(json!({"name": name})),
    );
    (0..keys)
        .map(|i| {
            let (_, key) = server.call(
                TOKEN,
                post.clone(),
                "/api/v1/tenants/acme/api-keys",
                Some(json!({"project_id": project["id"], "name": format!("{name}{i}")})),
            );
            key["secret"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_share_every_rate_limit_exactly() {
    let db = TestDb::create().await;
    let mock = MockUpstream::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = db.url();
    let redis = ditto_testkit::redis_url();
    let (servers, project, keys, outside) = tokio::task::spawn_blocking(move || {
        let servers: Vec<Server> = (0..3)
            .map(|_| {
                let mut command = ditto();
                command
                    .env("DATABASE_URL", &url)
                    .env("REDIS_URL", &redis)
                    .env("DITTO_BOOTSTRAP_TOKEN", TOKEN);
                Server::start(command)
            })
            .collect();
        let (project, keys) = set_up_tenant(&servers[0], &mock, 3);
        let outside = keys_in_new_project(&servers[0], "q", 2);
        (servers, project, keys, outside)
    })
    .await
    .unwrap();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    keys_reach(&bases, &keys).await;
    keys_reach(&bases, &outside).await;
    let mut conn = db.connect().await;
    let settle = || tokio::time::sleep(Duration::from_millis(500));

    // One key, rpm 50, hammered through three replicas.
    let key_id: String = sqlx::query_scalar("SELECT id::text FROM api_keys WHERE name = 'k0'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    insert_limit(&mut conn, "key", Some(&key_id), 50).await;
    settle().await;
    assert_eq!(admitted(&bases, &keys[..1], 200).await, 50);

    // A project's limit, shared by its other two keys.
    insert_limit(&mut conn, "project", Some(&project), 30).await;
    settle().await;
    assert_eq!(admitted(&bases, &keys[1..], 200).await, 30);

    // The tenant's limit, shared by two keys of another project.
    insert_limit(&mut conn, "tenant", None, 40).await;
    settle().await;
    assert_eq!(admitted(&bases, &outside, 200).await, 40);
    conn.close().await.unwrap();
    tokio::task::spawn_blocking(move || {
        for server in servers {
            server.stop();
        }
    })
    .await
    .unwrap();
}

/// The request ids the gateway answered with, which are its usage events' ids.
fn request_id(resp: &reqwest::Response) -> uuid::Uuid {
    resp.headers()["x-ditto-request-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn recorded_ids(url: &str) -> Vec<uuid::Uuid> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let ids = sqlx::query_scalar("SELECT request_id FROM usage_events WHERE endpoint = 'chat/completions' ORDER BY request_id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_survives_a_database_outage_and_a_shutdown_exactly_once() {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start)
        .await
        .unwrap();
    let mock = MockUpstream::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let spool = tempfile::tempdir().unwrap();
    let start = {
        let url = pg.url();
        let spool = spool.path().to_owned();
        move || {
            let mut command = ditto();
            command
                .env("DATABASE_URL", &url)
                .env("DITTO_BOOTSTRAP_TOKEN", TOKEN)
                .env("DITTO_USAGE_SPOOL_DIR", &spool);
            Server::start(command)
        }
    };
    let (server, keys) = tokio::task::spawn_blocking({
        let start = start.clone();
        move || {
            let server = start();
            let (_, keys) = set_up_tenant(&server, &mock, 1);
            (server, keys)
        }
    })
    .await
    .unwrap();
    keys_reach(std::slice::from_ref(&server.base), &keys).await;
    let http = reqwest::Client::new();
    let mut answered = BTreeSet::new();

    // Load before, during a 30 s outage, and after.
    let pg = std::sync::Arc::new(pg);
    let outage = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_secs(1));
            pg.stop();
            std::thread::sleep(Duration::from_secs(30));
            pg.start_again();
        })
    };
    let until = Instant::now() + Duration::from_secs(34);
    while Instant::now() < until {
        let batch = join_all((0..4).map(|_| chat(&http, &server.base, &keys[0]))).await;
        for resp in &batch {
            assert_eq!(
                resp.status(),
                200,
                "the gateway serves from its snapshot meanwhile"
            );
            answered.insert(request_id(resp));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    outage.await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ids: BTreeSet<_> = recorded_ids(&pg.url()).await.into_iter().collect();
        if ids == answered {
            break;
        }
        assert!(
            ids.is_subset(&answered),
            "usage recorded for requests never answered"
        );
        assert!(
            Instant::now() < deadline,
            "{} of {} events arrived",
            ids.len(),
            answered.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = recorded_ids(&pg.url()).await;
    assert_eq!(all.len(), answered.len(), "no event written twice");

    // Down again, then a graceful stop: the queue goes to disk, and the
    // next start replays it.
    tokio::task::spawn_blocking({
        let pg = pg.clone();
        move || pg.stop()
    })
    .await
    .unwrap();
    for _ in 0..5 {
        let resp = chat(&http, &server.base, &keys[0]).await;
        assert_eq!(resp.status(), 200);
        answered.insert(request_id(&resp));
    }
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    let spooled = std::fs::read_dir(spool.path()).unwrap().count();
    assert!(
        spooled > 0,
        "the shutdown spooled the events it could not write"
    );
    tokio::task::spawn_blocking({
        let pg = pg.clone();
        move || pg.start_again()
    })
    .await
    .unwrap();
    let server = tokio::task::spawn_blocking(start).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ids: BTreeSet<_> = recorded_ids(&pg.url()).await.into_iter().collect();
        if ids == answered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} events after the restart",
            ids.len(),
            answered.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        std::fs::read_dir(spool.path()).unwrap().count(),
        0,
        "the spool is emptied"
    );
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}
