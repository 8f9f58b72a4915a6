use ditto_testkit::TestApp;
use serde_json::{Value, json};

use super::support::{tenant_with_keys, unreachable_from_other_tenant};

const BASE: &str = "/api/v1/tenants/acme/rate-limits";

fn ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn rate_limit_lifecycle() {
    let app = TestApp::spawn().await;
    let (key, _) = tenant_with_keys(&app, "acme").await;
    let member = app.tenant_member("acme").await;

    let tenant_wide = member
        .post(BASE, json!({"scope": "tenant", "rpm": 600}))
        .await
        .expect_status(201);
    assert_eq!(tenant_wide["scope"], "tenant");
    assert_eq!(tenant_wide["scope_id"], Value::Null);
    assert_eq!(tenant_wide["model"], Value::Null);
    assert_eq!(tenant_wide["rpm"], 600);
    assert_eq!(tenant_wide["tpm"], Value::Null);

    let project = member
        .post(
            BASE,
            json!({"scope": "project", "scope_id": key.project, "model": "gpt-4o", "tpm": 100000, "max_concurrent": 4}),
        )
        .await
        .expect_status(201);
    assert_eq!(project["scope_id"], key.project.to_string());
    assert_eq!(project["model"], "gpt-4o");
    let user = member
        .post(
            BASE,
            json!({"scope": "user", "scope_id": key.user, "rpm": 60}),
        )
        .await
        .expect_status(201);
    let on_key = member
        .post(BASE, json!({"scope": "key", "scope_id": key.id, "rpm": 6}))
        .await
        .expect_status(201);
    let id = project["id"].as_str().unwrap();

    let got = member.get(&format!("{BASE}/{id}")).await.expect_status(200);
    assert_eq!(got, project);

    let all = member.get(BASE).await.expect_status(200);
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    let projects = member
        .get(&format!("{BASE}?scope=project"))
        .await
        .expect_status(200);
    assert_eq!(ids(&projects), [id]);
    let of_user = member
        .get(&format!("{BASE}?scope_id={}", key.user.unwrap()))
        .await
        .expect_status(200);
    assert_eq!(ids(&of_user), [user["id"].as_str().unwrap()]);
    let pages = member.collect(BASE, 1).await;
    assert_eq!(pages.len(), 4);
    assert_eq!(pages[0]["id"], on_key["id"], "newest first");

    let changed = member
        .patch(
            &format!("{BASE}/{id}"),
            json!({"clear_tpm": true, "rpm": 120, "clear_model": true}),
        )
        .await
        .expect_status(200);
    assert_eq!(changed["tpm"], Value::Null);
    assert_eq!(changed["rpm"], 120);
    assert_eq!(changed["max_concurrent"], 4, "untouched limits stay");
    assert_eq!(changed["model"], Value::Null);
    assert_eq!(changed["scope_id"], project["scope_id"]);

    // The last limit cannot be removed: the rate limit would limit nothing.
    let fields = member
        .patch(
            &format!("{BASE}/{id}"),
            json!({"clear_rpm": true, "clear_max_concurrent": true}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/"]);
    // The scope cannot change.
    let fields = member
        .patch(&format!("{BASE}/{id}"), json!({"scope": "tenant"}))
        .await
        .invalid_fields();
    assert_eq!(fields, ["/scope"]);

    member
        .delete(&format!("{BASE}/{id}"))
        .await
        .expect_status(204);
    member
        .get(&format!("{BASE}/{id}"))
        .await
        .expect_problem(404);
    member
        .delete(&format!("{BASE}/{id}"))
        .await
        .expect_problem(404);
    member
        .get(&format!("{BASE}/not-an-id"))
        .await
        .expect_problem(404);

    // A limit goes with what it limits: deleting the user deletes their
    // keys, and the limits of both.
    app.admin()
        .delete(&format!("/api/v1/tenants/acme/users/{}", key.user.unwrap()))
        .await
        .expect_status(204);
    let left = member.get(BASE).await.expect_status(200);
    assert_eq!(ids(&left), [tenant_wide["id"].as_str().unwrap()]);
}

#[tokio::test]
async fn invalid_rate_limits_are_refused() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let check = |body: Value| {
        let admin = admin.clone();
        async move { admin.post(BASE, body).await.invalid_fields() }
    };
    assert_eq!(
        check(json!({"scope": "project", "model": "has space", "rpm": 0, "tpm": 100_000_000_001u64, "max_concurrent": 1_000_001})).await,
        ["/scope_id", "/model", "/rpm", "/tpm", "/max_concurrent"]
    );
    assert_eq!(check(json!({"scope": "tenant"})).await, ["/"]);
    assert_eq!(
        check(json!({"scope": "tenant", "scope_id": uuid::Uuid::now_v7(), "rpm": 1})).await,
        ["/scope_id"]
    );
    assert_eq!(check(json!({"scope": "team", "rpm": 1})).await, ["/scope"]);
    assert_eq!(check(json!({"scope": "tenant", "rpm": -1})).await, ["/rpm"]);
    assert_eq!(
        check(json!({"scope": "tenant", "model": "gpt-*", "rpm": 1})).await,
        ["/model"],
        "a model name, not a pattern"
    );
    assert_eq!(
        check(json!({"scope": "tenant", "rpm": 1, "burst": 5})).await,
        ["/burst"]
    );
    let limit = admin
        .post(BASE, json!({"scope": "tenant", "rpm": 1}))
        .await
        .expect_status(201);
    let fields = admin
        .patch(
            &format!("{BASE}/{}", limit["id"].as_str().unwrap()),
            json!({"rpm": 5, "clear_rpm": true, "tpm": 0}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/tpm", "/clear_rpm"]);
}

#[tokio::test]
async fn one_rate_limit_per_scope_and_model() {
    let app = TestApp::spawn().await;
    let (key, _) = tenant_with_keys(&app, "acme").await;
    let admin = app.admin();
    for body in [
        json!({"scope": "tenant", "rpm": 1}),
        json!({"scope": "tenant", "model": "gpt-4o", "rpm": 1}),
        json!({"scope": "project", "scope_id": key.project, "rpm": 1}),
    ] {
        admin.post(BASE, body.clone()).await.expect_status(201);
        let conflict = admin.post(BASE, body).await.expect_problem(409);
        assert_eq!(
            conflict["detail"],
            "a rate limit for this scope and model already exists; change it instead"
        );
    }
    // Changing a limit's model onto another limit's is a conflict too.
    let other = admin
        .post(
            BASE,
            json!({"scope": "tenant", "model": "gpt-4o-mini", "rpm": 1}),
        )
        .await
        .expect_status(201);
    admin
        .patch(
            &format!("{BASE}/{}", other["id"].as_str().unwrap()),
            json!({"model": "gpt-4o"}),
        )
        .await
        .expect_problem(409);
}

#[tokio::test]
async fn a_scope_id_must_be_of_its_kind_and_of_this_tenant() {
    let app = TestApp::spawn().await;
    let (key, _) = tenant_with_keys(&app, "acme").await;
    let (foreign, _) = tenant_with_keys(&app, "globex").await;
    let admin = app.admin();
    let refused = |body: Value| {
        let admin = admin.clone();
        async move {
            let problem = admin.post(BASE, body).await.expect_problem(422);
            assert_eq!(problem["errors"][0]["field"], "/scope_id");
            assert_eq!(problem["errors"][0]["code"], "not_found");
            problem["errors"][0]["message"].as_str().unwrap().to_owned()
        }
    };
    // Ids of the wrong kind.
    assert_eq!(
        refused(json!({"scope": "project", "scope_id": key.id, "rpm": 1})).await,
        "no such project in this tenant"
    );
    assert_eq!(
        refused(json!({"scope": "user", "scope_id": key.project, "rpm": 1})).await,
        "no such user in this tenant"
    );
    assert_eq!(
        refused(json!({"scope": "key", "scope_id": key.user, "rpm": 1})).await,
        "no such API key in this tenant"
    );
    // Another tenant's, even for the platform administrator.
    for (scope, id) in [
        ("project", foreign.project),
        ("user", foreign.user.unwrap()),
        ("key", foreign.id),
    ] {
        refused(json!({"scope": scope, "scope_id": id, "rpm": 1})).await;
    }
}

#[tokio::test]
async fn rate_limits_are_invisible_to_other_tenants() {
    let app = TestApp::spawn().await;
    let (a, _) = tenant_with_keys(&app, "acme").await;
    let (b, _) = tenant_with_keys(&app, "globex").await;
    let member_a = app.tenant_member("acme").await;
    let member_b = app.tenant_member("globex").await;
    let limit = member_a
        .post(BASE, json!({"scope": "key", "scope_id": a.id, "rpm": 10}))
        .await
        .expect_status(201);
    let id = limit["id"].as_str().unwrap();

    // Through tenant A's URL, tenant A does not exist for B; through its
    // own URL, A's limit is not there.
    let own = "/api/v1/tenants/globex/rate-limits";
    unreachable_from_other_tenant(
        &member_b,
        BASE,
        own,
        id,
        json!({"scope": "tenant", "rpm": 1}),
        json!({"rpm": 1}),
    )
    .await;
    assert_eq!(
        member_b.get(own).await.expect_status(200)["items"],
        json!([])
    );
    // Nor can B limit A's key from its own tenant.
    member_b
        .post(own, json!({"scope": "key", "scope_id": a.id, "rpm": 1}))
        .await
        .expect_problem(422);
    member_b
        .post(own, json!({"scope": "key", "scope_id": b.id, "rpm": 1}))
        .await
        .expect_status(201);

    let unchanged = member_a
        .get(&format!("{BASE}/{id}"))
        .await
        .expect_status(200);
    assert_eq!(unchanged, limit);
}
