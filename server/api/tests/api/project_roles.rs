//! Roles bound on one project act on that project only: its keys and the
//! project itself, and lists show just what those bindings reach.

use ditto_testkit::{Api, TestApp};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// A service account of `tenant` bound to `role` on `project` only.
async fn bound_on_project(app: &TestApp, tenant: &str, project: &str, role: &str) -> Api {
    let admin = app.admin();
    let base = format!("/api/v1/tenants/{tenant}");
    let account = admin
        .post(
            &format!("{base}/service-accounts"),
            json!({"name": format!("{role}-{project}")}),
        )
        .await
        .expect_status(201);
    admin
        .post(
            &format!("{base}/role-bindings"),
            json!({"role": role, "subject_type": "service_account", "subject_id": id(&account),
                   "project_id": project}),
        )
        .await
        .expect_status(201);
    let token = admin
        .post(
            &format!("{base}/service-accounts/{}/tokens", id(&account)),
            json!({"name": "t"}),
        )
        .await
        .expect_status(201);
    app.with_token(token["secret"].as_str().unwrap())
}

#[tokio::test]
async fn a_project_developer_manages_that_projects_keys_only() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let base = "/api/v1/tenants/acme";
    let mine = admin.project("acme", "mine").await;
    let theirs = admin.project("acme", "theirs").await;
    let their_key = admin
        .post(
            &format!("{base}/api-keys"),
            json!({"project_id": theirs, "name": "k"}),
        )
        .await
        .expect_status(201);
    let their_key = id(&their_key["key"]);
    let dev = bound_on_project(&app, "acme", &mine, "developer").await;

    // Keys in its project: create, read, rename, rotate, revoke.
    let created = dev
        .post(
            &format!("{base}/api-keys"),
            json!({"project_id": mine, "name": "svc"}),
        )
        .await
        .expect_status(201);
    let key = id(&created["key"]);
    dev.get(&format!("{base}/api-keys/{key}"))
        .await
        .expect_status(200);
    dev.patch(&format!("{base}/api-keys/{key}"), json!({"name": "svc2"}))
        .await
        .expect_status(200);
    dev.post_empty(&format!("{base}/api-keys/{key}/rotate"))
        .await
        .expect_status(200);
    let listed = dev.collect(&format!("{base}/api-keys"), 50).await;
    assert_eq!(listed.len(), 1, "only its project's keys: {listed:?}");
    assert_eq!(listed[0]["id"], key.as_str());
    dev.post_empty(&format!("{base}/api-keys/{key}/revoke"))
        .await
        .expect_status(200);

    // Another project's keys: refused, whichever way asked.
    let p = dev
        .post(
            &format!("{base}/api-keys"),
            json!({"project_id": theirs, "name": "x"}),
        )
        .await
        .expect_problem(403);
    assert!(p["detail"].as_str().unwrap().contains("keys:write"));
    dev.get(&format!("{base}/api-keys/{their_key}"))
        .await
        .expect_problem(403);
    dev.post_empty(&format!("{base}/api-keys/{their_key}/revoke"))
        .await
        .expect_problem(403);
    let filtered = dev
        .get(&format!("{base}/api-keys?project_id={theirs}"))
        .await
        .expect_status(200);
    assert_eq!(filtered["items"].as_array().unwrap().len(), 0);
    // A key id that does not exist reads as forbidden, not as missing.
    dev.get(&format!("{base}/api-keys/{}", uuid::Uuid::now_v7()))
        .await
        .expect_problem(403);

    // Projects: it sees its own, not the other, and changes neither.
    let projects = dev.collect(&format!("{base}/projects"), 50).await;
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0]["id"], mine.as_str());
    dev.get(&format!("{base}/projects/{mine}"))
        .await
        .expect_status(200);
    dev.get(&format!("{base}/projects/{theirs}"))
        .await
        .expect_problem(403);
    dev.patch(
        &format!("{base}/projects/{mine}"),
        json!({"description": "x"}),
    )
    .await
    .expect_problem(403);
    // Nothing tenant-wide comes with it.
    dev.get(&format!("{base}/users")).await.expect_problem(403);
    dev.get(&format!("{base}/audit")).await.expect_problem(403);

    // The key it made was checked and recorded like any other.
    let events = admin
        .collect(&format!("{base}/audit?action=api_keys.create"), 10)
        .await;
    assert!(events.iter().any(|e| e["target_id"] == key.as_str()));
}

#[tokio::test]
async fn project_roles_reach_no_other_tenant_and_end_with_their_binding() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("other").await;
    let admin = app.admin();
    let mine = admin.project("acme", "mine").await;
    let elsewhere = admin.project("other", "p").await;
    let dev = bound_on_project(&app, "acme", &mine, "developer").await;
    dev.post(
        "/api/v1/tenants/other/api-keys",
        json!({"project_id": elsewhere, "name": "x"}),
    )
    .await
    .expect_problem(404);
    dev.get("/api/v1/tenants/other/projects")
        .await
        .expect_problem(404);

    // Unbinding takes the project away at once.
    let bindings = admin
        .get("/api/v1/tenants/acme/role-bindings?role=developer")
        .await
        .expect_status(200);
    let binding = id(&bindings["items"][0]);
    admin
        .delete(&format!("/api/v1/tenants/acme/role-bindings/{binding}"))
        .await
        .expect_status(204);
    dev.post(
        "/api/v1/tenants/acme/api-keys",
        json!({"project_id": mine, "name": "late"}),
    )
    .await
    .expect_problem(403);
    dev.get("/api/v1/tenants/acme/projects")
        .await
        .expect_problem(403);
}
