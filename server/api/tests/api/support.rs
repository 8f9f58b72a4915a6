//! Fixtures shared by the tests of rate limits, budgets and usage reports.

use chrono::{DateTime, Utc};
use ditto_store::gateway::UsageEvent;
use ditto_testkit::{Api, TestApp};
use serde_json::{Value, json};
use uuid::Uuid;

/// One cell of `usage_rollups`: usage of one key and model in one 15-minute bucket.
#[derive(Clone)]
pub(crate) struct Cell {
    pub bucket: DateTime<Utc>,
    pub key: Key,
    pub model: String,
    pub backend: Option<Uuid>,
    pub requests: i64,
    pub errors: i64,
    pub prompt: i64,
    pub completion: i64,
    pub cached: i64,
    pub cost_pico: i64,
}

/// A key and what it belongs to, as the roll-ups record it.
#[derive(Clone, Copy)]
pub(crate) struct Key {
    pub tenant: Uuid,
    pub id: Uuid,
    pub project: Uuid,
    pub user: Option<Uuid>,
}

impl Cell {
    pub fn new(bucket: &str, key: Key, model: &str) -> Self {
        Cell {
            bucket: bucket.parse().unwrap(),
            key,
            model: model.to_owned(),
            backend: None,
            requests: 1,
            errors: 0,
            prompt: 10,
            completion: 5,
            cached: 0,
            cost_pico: 1_000_000,
        }
    }
}

/// Records usage through the store's usage writer, as the gateway does: a
/// cell becomes `requests` events in its bucket (the first `errors` of them
/// failed), which the writer sums into the roll-ups.
pub(crate) async fn insert_rollups(app: &TestApp, cells: &[Cell]) {
    let events: Vec<UsageEvent> = cells.iter().flat_map(events_of).collect();
    for batch in events.chunks(5000) {
        app.store.insert_usage(batch).await.unwrap();
    }
}

fn events_of(c: &Cell) -> Vec<UsageEvent> {
    (0..c.requests)
        .map(|i| {
            // The first event carries the cell's tokens and cost.
            let share = |v: i64| if i == 0 { v as u64 } else { 0 };
            UsageEvent {
                request_id: Uuid::now_v7(),
                tenant_id: c.key.tenant,
                project_id: c.key.project,
                key_id: c.key.id,
                user_id: c.key.user,
                service_account_id: None,
                endpoint: "/v1/chat/completions".into(),
                model: Some(c.model.to_owned()),
                backend_id: c.backend,
                status: if i < c.errors { 502 } else { 200 },
                attempts: 1,
                streamed: false,
                prompt_tokens: share(c.prompt),
                completion_tokens: share(c.completion),
                cached_tokens: share(c.cached),
                latency_ms: 10,
                ttfb_ms: None,
                error_kind: None,
                cost_pico: if i == 0 { c.cost_pico } else { 0 },
                created_at: c.bucket,
            }
        })
        .collect()
}

fn uuid(v: &Value) -> Uuid {
    v.as_str().unwrap().parse().unwrap()
}

/// A tenant with two projects, a user, a key of the user in the first
/// project and a key nobody owns in the second.
pub(crate) async fn tenant_with_keys(app: &TestApp, slug: &str) -> (Key, Key) {
    let tenant = app.tenant(slug).await;
    let admin = app.admin();
    let base = format!("/api/v1/tenants/{slug}");
    let p1 = admin.project(slug, "one").await;
    let p2 = admin.project(slug, "two").await;
    let user = admin
        .post(
            &format!("{base}/users"),
            json!({"email": "dev@example.com"}),
        )
        .await
        .expect_status(201);
    let key = |project: String, owner: Option<Value>| {
        let admin = admin.clone();
        let base = base.clone();
        async move {
            let mut body = json!({"project_id": project, "name": "k"});
            if let Some(owner) = owner {
                body["owner_user_id"] = owner;
            }
            let key = admin
                .post(&format!("{base}/api-keys"), body)
                .await
                .expect_status(201);
            uuid(&key["key"]["id"])
        }
    };
    let k1 = key(p1.clone(), Some(user["id"].clone())).await;
    let k2 = key(p2.clone(), None).await;
    let tenant = uuid(&tenant["id"]);
    (
        Key {
            tenant,
            id: k1,
            project: p1.parse().unwrap(),
            user: Some(uuid(&user["id"])),
        },
        Key {
            tenant,
            id: k2,
            project: p2.parse().unwrap(),
            user: None,
        },
    )
}

/// Checks that `other`, a member of another tenant whose collection is at
/// `own`, cannot reach the row `id` of the collection at `base`: through
/// `base` the tenant is not found, and through `own` the row is not there.
/// `create` and `patch` are valid bodies of the collection.
pub(crate) async fn unreachable_from_other_tenant(
    other: &Api,
    base: &str,
    own: &str,
    id: &str,
    create: Value,
    patch: Value,
) {
    for resp in [
        other.get(base).await,
        other.get(&format!("{base}/{id}")).await,
        other.patch(&format!("{base}/{id}"), patch.clone()).await,
        other.delete(&format!("{base}/{id}")).await,
        other.post(base, create).await,
    ] {
        assert_eq!(resp.expect_problem(404)["detail"], "tenant not found");
    }
    other.get(&format!("{own}/{id}")).await.expect_problem(404);
    other
        .patch(&format!("{own}/{id}"), patch)
        .await
        .expect_problem(404);
    other
        .delete(&format!("{own}/{id}"))
        .await
        .expect_problem(404);
    let page = other.get(own).await.expect_status(200);
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|row| row["id"] != id),
        "{page}"
    );
}
