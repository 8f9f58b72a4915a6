//! OIDC connections: kept to their tenant, checked when saved, their secret
//! needed again to move them, and the ceiling of who they can sign in.

use ditto_testkit::oidc::{OidcProvider, discovery_fixture};
use serde_json::json;

use super::sso::*;

#[tokio::test]
async fn connections_belong_to_their_tenant() {
    let s = setup("tenant-a").await;
    s.app.tenant("tenant-b").await;
    let admin_b = s.app.tenant_member("tenant-b").await;
    let conn = connection(&s, "tenant-a", "ditto", json!({})).await;
    let conn_id = id(&conn);

    // B's administrators do not see A's connection, under either tenant.
    for tenant in ["tenant-a", "tenant-b"] {
        let path = format!("/api/v1/tenants/{tenant}/sso-connections/{conn_id}");
        admin_b.get(&path).await.expect_problem(404);
        admin_b
            .patch(&path, json!({"name": "mine"}))
            .await
            .expect_problem(404);
        admin_b.delete(&path).await.expect_problem(404);
    }
    let list = admin_b
        .get("/api/v1/tenants/tenant-b/sso-connections")
        .await
        .expect_status(200);
    assert_eq!(list["items"], json!([]));
    let list = s
        .admin
        .get("/api/v1/tenants/tenant-a/sso-connections")
        .await
        .expect_status(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Signing in through A's connection makes a member of A only.
    let mut browser = Browser::new();
    let answer = browser.sign_in(&s.app, &conn_id, "lin").await;
    assert_eq!(answer.status, 302, "{}", answer.body);
    let (_, me) = browser.api(&s.app).get("/api/v1/me").await;
    assert_eq!(me["tenants"].as_array().unwrap().len(), 1);
    assert_eq!(me["tenants"][0]["slug"], "tenant-a");
    let (status, _) = browser
        .api(&s.app)
        .get("/api/v1/tenants/tenant-b/projects")
        .await;
    assert_eq!(status, 404);
    let b_users = admin_b
        .get("/api/v1/tenants/tenant-b/users?q=lin")
        .await
        .expect_status(200);
    assert_eq!(b_users["items"], json!([]));
}

#[tokio::test]
async fn connections_are_checked_when_saved() {
    let s = setup("acme").await;
    let base = "/api/v1/tenants/acme/sso-connections";

    // An issuer with no discovery document, and one that is not https.
    let answer = s
        .admin
        .post(
            base,
            json!({"name": "x", "issuer": "http://127.0.0.1:9", "client_id": "c"}),
        )
        .await;
    let problem = answer.expect_problem(422);
    assert_eq!(problem["errors"][0]["field"], "/issuer", "{problem}");
    assert_eq!(
        problem["errors"][0]["code"], "discovery_failed",
        "{problem}"
    );
    let problem = s
        .admin
        .post(
            base,
            json!({"name": "x", "issuer": "ftp://idp.example", "client_id": "c"}),
        )
        .await
        .expect_problem(422);
    assert_eq!(problem["errors"][0]["field"], "/issuer", "{problem}");

    // Roles that do not exist, or that the caller may not grant.
    let problem = s
        .admin
        .post(
            base,
            json!({"name": "x", "issuer": s.idp.issuer, "client_id": "ditto",
                   "group_role_mappings": [{"group": "g", "role": "no-such-role"}]}),
        )
        .await
        .expect_problem(422);
    assert_eq!(problem["errors"][0]["code"], "unknown_role", "{problem}");
    s.admin
        .post(
            base,
            json!({"name": "x", "issuer": s.idp.issuer, "client_id": "ditto",
                   "group_role_mappings": [{"group": "g", "role": "owner"}]}),
        )
        .await
        .expect_problem(403);

    // Defaults; the secret is write-only.
    let conn = s
        .admin
        .post(
            base,
            json!({"name": "Okta", "issuer": s.idp.issuer, "client_id": "ditto",
                   "client_secret": "ditto-secret"}),
        )
        .await
        .expect_status(201);
    assert_eq!(conn["scopes"], json!(["openid", "email", "profile"]));
    assert_eq!(
        conn["claims"],
        json!({"email": "email", "name": "name", "groups": "groups"})
    );
    assert_eq!(conn["enabled"], true);
    assert_eq!(conn["jit_provisioning"], false);
    assert_eq!(
        conn["login_url"],
        format!("/api/v1/auth/sso/{}/start", id(&conn))
    );
    s.admin
        .post(
            base,
            json!({"name": "okta", "issuer": s.idp.issuer, "client_id": "ditto"}),
        )
        .await
        .expect_problem(409);
    let path = format!("{base}/{}", id(&conn));
    let updated = s
        .admin
        .patch(
            &path,
            json!({"clear_client_secret": true, "scopes": ["email"]}),
        )
        .await
        .expect_status(200);
    assert_eq!(updated["has_client_secret"], false);
    assert_eq!(updated["scopes"], json!(["openid", "email"]));
    let problem = s
        .admin
        .patch(&path, json!({"issuer": "http://127.0.0.1:9"}))
        .await
        .expect_problem(422);
    assert_eq!(
        problem["errors"][0]["code"], "discovery_failed",
        "{problem}"
    );
    s.admin.delete(&path).await.expect_status(204);
    s.admin.get(&path).await.expect_problem(404);

    // The static fixture other tests use is a valid provider too.
    s.admin
        .post(
            base,
            json!({"name": "fixture", "issuer": discovery_fixture(), "client_id": "c"}),
        )
        .await
        .expect_status(201);
}

#[tokio::test]
async fn moving_a_connection_to_another_issuer_needs_its_client_secret_again() {
    let s = setup("acme").await;
    let created = connection(&s, "acme", "console", json!({})).await;
    let one = format!("/api/v1/tenants/acme/sso-connections/{}", id(&created));
    let elsewhere = OidcProvider::start(&format!("{}{CALLBACK}", s.app.base)).await;
    let p = s
        .admin
        .patch(&one, json!({"issuer": elsewhere.issuer}))
        .await
        .expect_problem(422);
    assert_eq!(p["errors"][0]["field"], "/client_secret", "{p}");
    assert_eq!(p["errors"][0]["code"], "secret_required", "{p}");
    let kept = s.admin.get(&one).await.expect_status(200);
    assert_eq!(kept["issuer"], s.idp.issuer.as_str());
    // The same issuer sent again is no move; with the secret given again it may move.
    s.admin
        .patch(&one, json!({"issuer": s.idp.issuer}))
        .await
        .expect_status(200);
    let moved = s
        .admin
        .patch(
            &one,
            json!({"issuer": elsewhere.issuer, "client_secret": "console-secret"}),
        )
        .await
        .expect_status(200);
    assert_eq!(moved["issuer"], elsewhere.issuer.as_str());
}

#[tokio::test]
async fn an_admins_connection_cannot_sign_anyone_in_as_an_owner() {
    let s = setup("acme").await;
    verify_domain(&s.app, "acme", "acme.example").await;
    let owner = owner(&s.app, "acme", "olivia@acme.example").await;
    // An admin adds a provider it controls, which asserts the owner's
    // verified email (s.admin holds `admin`, not `owner`).
    let conn = id(&connection(&s, "acme", "ditto", json!({"jit_provisioning": false})).await);
    s.idp
        .set_account(
            "mallory",
            json!({"email": "olivia@acme.example", "email_verified": true}),
        )
        .await;
    let mut browser = Browser::new();
    let answer = browser.sign_in(&s.app, &conn, "mallory").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("holds more"), "{}", answer.body);
    let (status, _) = browser.api(&s.app).get("/api/v1/me").await;
    assert_eq!(status, 401, "no session was opened");
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM sso_identities")
        .fetch_one(s.app.store.pool())
        .await
        .unwrap();
    assert_eq!(links, 0, "the owner was not linked to the provider");

    // Nor can the admin map the provider's groups to `owner`, or move a
    // connection an owner made that maps to it.
    s.admin
        .patch(
            &format!("/api/v1/tenants/acme/sso-connections/{conn}"),
            json!({"group_role_mappings": [{"group": "staff", "role": "owner"}]}),
        )
        .await
        .expect_problem(403);
    let owners = s
        .app
        .admin()
        .post(
            "/api/v1/tenants/acme/sso-connections",
            json!({"name": "owners", "issuer": s.idp.issuer, "client_id": "ditto",
                   "client_secret": "ditto-secret", "jit_provisioning": true,
                   "group_role_mappings": [{"group": "founders", "role": "owner"}]}),
        )
        .await
        .expect_status(201);
    let elsewhere = OidcProvider::start(&format!("{}{CALLBACK}", s.app.base)).await;
    s.admin
        .patch(
            &format!("/api/v1/tenants/acme/sso-connections/{}", id(&owners)),
            json!({"issuer": elsewhere.issuer, "client_secret": "ditto-secret"}),
        )
        .await
        .expect_problem(403);

    // Saved by someone who could make an owner, the same provider may sign
    // the owner in (the owner's own identity provider).
    s.app
        .admin()
        .patch(
            &format!("/api/v1/tenants/acme/sso-connections/{conn}"),
            json!({"name": "acme-idp"}),
        )
        .await
        .expect_status(200);
    let mut browser = Browser::new();
    let answer = browser.sign_in(&s.app, &conn, "mallory").await;
    assert_eq!(answer.status, 302, "{}", answer.body);
    let (_, me) = browser.api(&s.app).get("/api/v1/me").await;
    assert_eq!(me["subject_id"], owner["id"]);
}
