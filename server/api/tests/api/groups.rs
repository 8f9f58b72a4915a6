//! Groups: their resource, roles reaching members through them, and the
//! rules that keep membership from being a way around role grants.

use ditto_testkit::{Api, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn user(admin: &Api, tenant: &str, email: &str) -> String {
    id(&admin
        .post(
            &format!("/api/v1/tenants/{tenant}/users"),
            json!({"email": email}),
        )
        .await
        .expect_status(201))
}

/// A personal access token of `user` (signing in with a password the
/// administrator sets).
async fn token_of(app: &TestApp, tenant: &str, user: &str, email: &str) -> Api {
    let admin = app.admin();
    admin
        .raw(
            Method::PUT,
            &format!("/api/v1/tenants/{tenant}/users/{user}/password"),
            |r| r.json(&json!({"password": PASSWORD, "must_change": false})),
        )
        .await
        .expect_status(204);
    let signed = app
        .anonymous()
        .raw(Method::POST, "/api/v1/auth/sign-in", |r| {
            r.json(&json!({"tenant": tenant, "email": email, "password": PASSWORD}))
        })
        .await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    let cookie = signed
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let csrf = signed.body["csrf_token"].as_str().unwrap().to_owned();
    let expires = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let pat = app
        .anonymous()
        .raw(Method::POST, "/api/v1/me/tokens", |r| {
            r.header("cookie", cookie)
                .header("x-csrf-token", csrf)
                .json(&json!({"name": "t", "expires_at": expires}))
        })
        .await
        .expect_status(201);
    app.with_token(pat["secret"].as_str().unwrap())
}

#[tokio::test]
async fn groups_are_a_paginated_validated_resource() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let base = "/api/v1/tenants/acme/groups";
    for name in ["eng", "ops", "sales"] {
        admin
            .post(
                base,
                json!({"name": name, "external_id": format!("idp-{name}")}),
            )
            .await
            .expect_status(201);
    }
    let p = admin
        .post(base, json!({"name": "ENG"}))
        .await
        .expect_problem(409);
    assert!(p["detail"].as_str().unwrap().contains("exists"), "{p}");
    let p = admin
        .post(base, json!({"name": ""}))
        .await
        .expect_problem(422);
    assert!(p["errors"].to_string().contains("/name"));
    let page1 = admin
        .get(&format!("{base}?limit=2&sort=name"))
        .await
        .expect_status(200);
    assert_eq!(page1["items"][0]["name"], "eng");
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = admin
        .get(&format!("{base}?limit=2&sort=name&cursor={cursor}"))
        .await
        .expect_status(200);
    assert_eq!(page2["items"][0]["name"], "sales");
    assert!(page2.get("next_cursor").is_none());
    let found = admin.get(&format!("{base}?q=op")).await.expect_status(200);
    assert_eq!(found["items"].as_array().unwrap().len(), 1);

    let eng = id(&page1["items"][0]);
    let renamed = admin
        .patch(&format!("{base}/{eng}"), json!({"name": "engineering"}))
        .await
        .expect_status(200);
    assert_eq!(renamed["name"], "engineering");
    assert_eq!(renamed["external_id"], "idp-eng");

    let ada = user(&admin, "acme", "ada@acme.example").await;
    let bob = user(&admin, "acme", "bob@acme.example").await;
    for u in [&ada, &bob, &ada] {
        admin
            .post(&format!("{base}/{eng}/members"), json!({"user_id": u}))
            .await
            .expect_status(204);
    }
    let members = admin
        .get(&format!("{base}/{eng}/members?sort=email"))
        .await
        .expect_status(200);
    let emails: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ada@acme.example", "bob@acme.example"]);
    assert_eq!(
        admin.get(&format!("{base}/{eng}")).await.expect_status(200)["member_count"],
        2
    );
    admin
        .post(
            &format!("{base}/{eng}/members"),
            json!({"user_id": uuid::Uuid::now_v7()}),
        )
        .await
        .expect_problem(404);
    admin
        .delete(&format!("{base}/{eng}/members/{bob}"))
        .await
        .expect_status(204);
    admin
        .delete(&format!("{base}/{eng}/members/{bob}"))
        .await
        .expect_problem(404);
    admin
        .delete(&format!("{base}/{eng}"))
        .await
        .expect_status(204);
    admin
        .get(&format!("{base}/{eng}"))
        .await
        .expect_problem(404);
    let actions: Vec<String> = admin
        .collect("/api/v1/tenants/acme/audit", 200)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for action in [
        "groups.create",
        "groups.update",
        "group_members.add",
        "group_members.remove",
        "groups.delete",
    ] {
        assert!(actions.contains(&action.to_owned()), "{action}");
    }
}

#[tokio::test]
async fn members_hold_the_groups_roles_at_once() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let ada = user(&admin, "acme", "ada@acme.example").await;
    let ada_api = token_of(&app, "acme", &ada, "ada@acme.example").await;
    ada_api
        .get("/api/v1/tenants/acme/audit")
        .await
        .expect_problem(403);
    let auditors = id(&admin
        .post("/api/v1/tenants/acme/groups", json!({"name": "auditors"}))
        .await
        .expect_status(201));
    admin
        .post(
            "/api/v1/tenants/acme/role-bindings",
            json!({"role": "auditor", "subject_type": "group", "subject_id": auditors}),
        )
        .await
        .expect_status(201);
    admin
        .post(
            &format!("/api/v1/tenants/acme/groups/{auditors}/members"),
            json!({"user_id": ada}),
        )
        .await
        .expect_status(204);
    ada_api
        .get("/api/v1/tenants/acme/audit")
        .await
        .expect_status(200);
    let me = ada_api.get("/api/v1/me").await.expect_status(200);
    assert!(me["tenants"][0]["roles"].to_string().contains("auditor"));
    admin
        .delete(&format!(
            "/api/v1/tenants/acme/groups/{auditors}/members/{ada}"
        ))
        .await
        .expect_status(204);
    ada_api
        .get("/api/v1/tenants/acme/audit")
        .await
        .expect_problem(403);
}

#[tokio::test]
async fn membership_is_no_way_around_role_grants() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let platform = app.admin();
    let owners = id(&platform
        .post("/api/v1/tenants/acme/groups", json!({"name": "owners"}))
        .await
        .expect_status(201));
    platform
        .post(
            "/api/v1/tenants/acme/role-bindings",
            json!({"role": "owner", "subject_type": "group", "subject_id": owners}),
        )
        .await
        .expect_status(201);
    let ada = user(&platform, "acme", "ada@acme.example").await;
    let members = format!("/api/v1/tenants/acme/groups/{owners}/members");

    // A tenant admin lacks `owners:write`: it cannot make anyone an owner
    // through the group, nor delete the group.
    let admin = app.tenant_member_as("acme", "admin").await;
    let p = admin
        .post(&members, json!({"user_id": ada}))
        .await
        .expect_problem(403);
    assert!(p["detail"].as_str().unwrap().contains("owners:write"));
    admin
        .delete(&format!("/api/v1/tenants/acme/groups/{owners}"))
        .await
        .expect_problem(403);
    // It can manage a group that carries nothing it lacks.
    let plain = id(&admin
        .post("/api/v1/tenants/acme/groups", json!({"name": "plain"}))
        .await
        .expect_status(201));
    admin
        .post(
            &format!("/api/v1/tenants/acme/groups/{plain}/members"),
            json!({"user_id": ada}),
        )
        .await
        .expect_status(204);

    // Through the group, Ada is the only owner: she cannot be removed from
    // it, nor deleted.
    platform
        .post(&members, json!({"user_id": ada}))
        .await
        .expect_status(204);
    let p = platform
        .delete(&format!("{members}/{ada}"))
        .await
        .expect_problem(409);
    assert!(p["detail"].as_str().unwrap().contains("last owner"), "{p}");
    platform
        .delete(&format!("/api/v1/tenants/acme/users/{ada}"))
        .await
        .expect_problem(409);
    // With a second owner, she can go.
    let bob = user(&platform, "acme", "bob@acme.example").await;
    platform
        .post(&members, json!({"user_id": bob}))
        .await
        .expect_status(204);
    platform
        .delete(&format!("{members}/{ada}"))
        .await
        .expect_status(204);

    // Another tenant's admin sees none of it.
    app.tenant("other").await;
    let outsider = app.tenant_member("other").await;
    outsider
        .get(&format!("/api/v1/tenants/acme/groups/{owners}"))
        .await
        .expect_problem(404);
    outsider
        .get(&format!("/api/v1/tenants/other/groups/{owners}"))
        .await
        .expect_problem(404);
}
