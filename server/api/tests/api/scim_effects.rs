//! What SCIM changes do elsewhere: group members' roles apply at once,
//! deactivation ends sessions, tokens and gateway keys, and owners stay out of
//! its reach.

use std::time::{Duration, Instant};

use ditto_testkit::{Api, Resp, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

use super::scim::*;

/// Signs `email` in; returns a client holding the session cookie.
pub(super) async fn sign_in(app: &TestApp, tenant: &str, email: &str) -> (Api, String) {
    let resp = app
        .anonymous()
        .post(
            "/api/v1/auth/sign-in",
            json!({"tenant": tenant, "email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let cookie = resp
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let csrf = resp.body["csrf_token"].as_str().unwrap().to_owned();
    (app.anonymous(), format!("{cookie}\n{csrf}"))
}

pub(super) async fn with_session(
    api: &Api,
    session: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Resp {
    let (cookie, csrf) = session.split_once('\n').unwrap();
    let (cookie, csrf) = (cookie.to_owned(), csrf.to_owned());
    api.raw(method, path, |r| {
        let r = r.header("cookie", cookie).header("x-csrf-token", csrf);
        match body {
            Some(b) => r.json(&b),
            None => r,
        }
    })
    .await
}

pub(super) async fn set_password(app: &TestApp, tenant: &str, user: &str) {
    app.admin()
        .raw(
            Method::PUT,
            &format!("/api/v1/tenants/{tenant}/users/{user}/password"),
            |r| r.json(&json!({"password": PASSWORD, "must_change": false})),
        )
        .await
        .expect_status(204);
}

#[tokio::test]
async fn group_members_follow_patch_and_their_roles_apply_at_once() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let scim = Scim::new(&app, "acme").await;
    let ada = scim.user("ada@acme.example", json!({})).await;
    let bob = scim.user("bob@acme.example", json!({})).await;
    let (ada_id, bob_id) = (ada["id"].as_str().unwrap(), bob["id"].as_str().unwrap());
    set_password(&app, "acme", ada_id).await;
    let group = scim
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Developers", "externalId": "okta-dev",
                   "members": [{"value": bob_id}]}),
        )
        .await
        .expect_status(201);
    let gid = group["id"].as_str().unwrap();
    assert_eq!(group["members"][0]["value"], bob_id);
    assert_eq!(group["members"][0]["type"], "User");
    app.admin()
        .post(
            "/api/v1/tenants/acme/role-bindings",
            json!({"role": "developer", "subject_type": "group", "subject_id": gid}),
        )
        .await
        .expect_status(201);

    let (browser, session) = sign_in(&app, "acme", "ada@acme.example").await;
    let permissions = |me: Value| me["tenants"][0]["permissions"].clone();
    let me = with_session(&browser, &session, Method::GET, "/api/v1/me", None)
        .await
        .expect_status(200);
    assert_eq!(permissions(me), json!([]));

    // Added through PATCH: the group's role applies on the next request.
    let patched = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": [{"value": ada_id}]}]),
        )
        .await
        .expect_status(200);
    assert_eq!(patched["members"].as_array().unwrap().len(), 2);
    let me = with_session(&browser, &session, Method::GET, "/api/v1/me", None)
        .await
        .expect_status(200);
    assert!(
        permissions(me)
            .as_array()
            .unwrap()
            .contains(&json!("keys:write"))
    );
    let user = scim
        .get(&format!("/Users/{ada_id}"))
        .await
        .expect_status(200);
    assert_eq!(user["groups"][0]["value"], gid);
    assert_eq!(user["groups"][0]["display"], "Developers");

    // Filters over membership.
    let by_member = scim
        .get(&format!(
            "/Groups?filter={}",
            urlencode(&format!(r#"members[value eq "{ada_id}"]"#))
        ))
        .await
        .expect_status(200);
    assert_eq!(by_member["totalResults"], 1);
    let in_group = scim
        .get(&format!(
            "/Users?filter={}",
            urlencode(&format!(r#"groups.value eq "{gid}""#))
        ))
        .await
        .expect_status(200);
    assert_eq!(in_group["totalResults"], 2);
    let slim = scim
        .get("/Groups?excludedAttributes=members")
        .await
        .expect_status(200);
    assert!(slim["Resources"][0].get("members").is_none());

    // Removed by a value filter: the role is gone on the next request.
    scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{ada_id}\"]")},
               {"op": "replace", "path": "displayName", "value": "Devs"}]),
    )
    .await
    .expect_status(200);
    let me = with_session(&browser, &session, Method::GET, "/api/v1/me", None)
        .await
        .expect_status(200);
    assert_eq!(permissions(me), json!([]));
    let group = scim.get(&format!("/Groups/{gid}")).await.expect_status(200);
    assert_eq!(group["displayName"], "Devs");
    assert_eq!(
        group["members"],
        json!([{"value": bob_id, "type": "User", "$ref": group["members"][0]["$ref"]}])
    );
    scim_error(
        scim.patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{ada_id}\"]")}]),
        )
        .await,
        400,
        Some("noTarget"),
    );
    // PUT sets the whole membership.
    let put = scim
        .send(
            Method::PUT,
            &format!("/Groups/{gid}"),
            Some(
                json!({"schemas": [GROUP], "displayName": "Devs", "members": [{"value": ada_id}]}),
            ),
        )
        .await
        .expect_status(200);
    assert_eq!(put["members"][0]["value"], ada_id);
    assert_eq!(put["members"].as_array().unwrap().len(), 1);

    // A group carrying `owner` is out of SCIM's reach.
    let owners = scim
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Owners"}),
        )
        .await
        .expect_status(201);
    let oid = owners["id"].as_str().unwrap();
    app.admin()
        .post(
            "/api/v1/tenants/acme/role-bindings",
            json!({"role": "owner", "subject_type": "group", "subject_id": oid}),
        )
        .await
        .expect_status(201);
    scim_error(
        scim.patch(
            &format!("/Groups/{oid}"),
            json!([{"op": "add", "path": "members", "value": [{"value": ada_id}]}]),
        )
        .await,
        403,
        None,
    );
    scim_error(
        scim.send(Method::DELETE, &format!("/Groups/{oid}"), None)
            .await,
        403,
        None,
    );

    scim.send(Method::DELETE, &format!("/Groups/{gid}"), None)
        .await
        .expect_status(204);
    scim_error(scim.get(&format!("/Groups/{gid}")).await, 404, None);

    // Every change is in the tenant's chain, by the SCIM token.
    let events = app.admin().collect("/api/v1/tenants/acme/audit", 200).await;
    let by_scim: Vec<&str> = events
        .iter()
        .filter(|e| e["actor_type"] == "scim_token")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "users.create",
        "groups.create",
        "group_members.add",
        "group_members.remove",
        "groups.update",
        "groups.delete",
    ] {
        assert!(by_scim.contains(&action), "{action} not in {by_scim:?}");
    }
    let verified = app
        .admin()
        .get("/api/v1/tenants/acme/audit/verification")
        .await
        .expect_status(200);
    assert_eq!(verified["valid"], true, "{verified}");
}

#[tokio::test]
async fn deactivation_ends_sessions_tokens_and_gateway_keys_at_once() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let scim = Scim::new(&app, "acme").await;
    let ada = scim.user("ada@acme.example", json!({})).await;
    let id = ada["id"].as_str().unwrap();
    set_password(&app, "acme", id).await;
    admin
        .post(
            "/api/v1/tenants/acme/role-bindings",
            json!({"role": "developer", "subject_type": "user", "subject_id": id}),
        )
        .await
        .expect_status(201);
    let project = admin.project("acme", "p").await;
    let key = admin
        .post(
            "/api/v1/tenants/acme/api-keys",
            json!({"project_id": project, "name": "ada's", "owner_user_id": id}),
        )
        .await
        .expect_status(201);
    let secret = key["secret"].as_str().unwrap().to_owned();
    let other = admin
        .post(
            "/api/v1/tenants/acme/api-keys",
            json!({"project_id": project, "name": "nobody's"}),
        )
        .await
        .expect_status(201);
    let other_secret = other["secret"].as_str().unwrap().to_owned();
    app.gateway_caught_up("acme").await;
    let gateway = |secret: String| {
        let api = app.with_token(&secret);
        async move { api.get("/t/acme/v1/models").await.status }
    };
    assert_eq!(gateway(secret.clone()).await, 200);

    let (browser, session) = sign_in(&app, "acme", "ada@acme.example").await;
    let expires = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let pat = with_session(
        &browser,
        &session,
        Method::POST,
        "/api/v1/me/tokens",
        Some(json!({"name": "ci", "expires_at": expires})),
    )
    .await
    .expect_status(201);
    let pat = app.with_token(pat["secret"].as_str().unwrap());
    pat.get("/api/v1/me").await.expect_status(200);

    let deactivated = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await
        .expect_status(200);
    assert_eq!(deactivated["active"], false);
    let at = Instant::now();

    // Sessions and personal tokens end with the request.
    with_session(&browser, &session, Method::GET, "/api/v1/me", None)
        .await
        .expect_problem(401);
    pat.get("/api/v1/me").await.expect_problem(401);
    // The key is revoked in the database and stops working at the gateway
    // within a second; other keys are untouched.
    let keys = admin
        .get(&format!("/api/v1/tenants/acme/api-keys?owner_user_id={id}"))
        .await
        .expect_status(200);
    assert_eq!(keys["items"][0]["status"], "revoked");
    loop {
        if gateway(secret.clone()).await == 401 {
            break;
        }
        assert!(
            at.elapsed() < Duration::from_secs(1),
            "the key still works after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gateway(other_secret.clone()).await, 200);
    // A deactivated user cannot sign in.
    let refused = app
        .anonymous()
        .post(
            "/api/v1/auth/sign-in",
            json!({"tenant": "acme", "email": "ada@acme.example", "password": PASSWORD}),
        )
        .await;
    assert_ne!(refused.status, 200);

    let events = admin.collect("/api/v1/tenants/acme/audit", 200).await;
    let deprovision = events
        .iter()
        .find(|e| e["action"] == "users.deprovision")
        .expect("a deprovision event");
    assert_eq!(deprovision["actor_type"], "scim_token");
    assert_eq!(deprovision["after"]["sessions_revoked"], 1);
    assert_eq!(deprovision["after"]["access_tokens_revoked"], 1);

    // Deleting a user takes their keys with them too.
    let bob = scim.user("bob@acme.example", json!({})).await;
    let bob_id = bob["id"].as_str().unwrap();
    let bob_key = admin
        .post(
            "/api/v1/tenants/acme/api-keys",
            json!({"project_id": project, "name": "bob's", "owner_user_id": bob_id}),
        )
        .await
        .expect_status(201);
    let bob_secret = bob_key["secret"].as_str().unwrap().to_owned();
    app.gateway_caught_up("acme").await;
    assert_eq!(gateway(bob_secret.clone()).await, 200);
    scim.send(Method::DELETE, &format!("/Users/{bob_id}"), None)
        .await
        .expect_status(204);
    let at = Instant::now();
    while gateway(bob_secret.clone()).await != 401 {
        assert!(
            at.elapsed() < Duration::from_secs(1),
            "the key still works after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_owner_cannot_be_deprovisioned_through_scim() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let scim = Scim::new(&app, "acme").await;
    let ada = scim.user("ada@acme.example", json!({"active": true})).await;
    let id = ada["id"].as_str().unwrap();
    set_password(&app, "acme", id).await;
    app.admin()
        .post(
            "/api/v1/tenants/acme/role-bindings",
            json!({"role": "owner", "subject_type": "user", "subject_id": id}),
        )
        .await
        .expect_status(201);
    let (browser, session) = sign_in(&app, "acme", "ada@acme.example").await;

    let refused = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    // Owners are beyond a SCIM token's reach (the last one would also be
    // refused with 409 by the store); nothing was revoked.
    scim_error(refused, 403, None);
    with_session(&browser, &session, Method::GET, "/api/v1/me", None)
        .await
        .expect_status(200);
    let ada = scim.get(&format!("/Users/{id}")).await.expect_status(200);
    assert_eq!(ada["active"], true);
    scim_error(
        scim.send(Method::DELETE, &format!("/Users/{id}"), None)
            .await,
        403,
        None,
    );
}

#[tokio::test]
async fn a_scim_token_cannot_change_or_remove_an_owner() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let member = |email: &'static str, role: &'static str| {
        let admin = admin.clone();
        async move {
            let user = admin
                .post("/api/v1/tenants/acme/users", json!({"email": email}))
                .await
                .expect_status(201);
            let id = user["id"].as_str().unwrap().to_owned();
            admin
                .post(
                    "/api/v1/tenants/acme/role-bindings",
                    json!({"role": role, "subject_type": "user", "subject_id": id}),
                )
                .await
                .expect_status(201);
            id
        }
    };
    let owner = member("owner@acme.example", "owner").await;
    let developer = member("dev@acme.example", "developer").await;
    let scim = Scim::new(&app, "acme").await;
    let deactivate = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let rename = |email: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email, "active": true});

    for (method, body) in [
        (Method::PATCH, Some(deactivate.clone())),
        (Method::PUT, Some(rename("someone-else@acme.example"))),
        (Method::DELETE, None),
    ] {
        let resp = scim
            .send(method.clone(), &format!("/Users/{owner}"), body)
            .await;
        assert_eq!(resp.status, 403, "{method}: {}", resp.text);
        assert!(resp.text.contains("owners:write"), "{}", resp.text);
    }
    let still = admin
        .get(&format!("/api/v1/tenants/acme/users/{owner}"))
        .await
        .expect_status(200);
    assert_eq!(still["email"], "owner@acme.example");
    assert_eq!(still["status"], "active");

    // Everyone else stays the identity provider's to manage.
    let resp = scim
        .send(
            Method::PATCH,
            &format!("/Users/{developer}"),
            Some(deactivate),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let resp = scim
        .send(Method::DELETE, &format!("/Users/{developer}"), None)
        .await;
    assert_eq!(resp.status, 204, "{}", resp.text);
}
