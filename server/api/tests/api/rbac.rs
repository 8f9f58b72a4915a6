//! Roles, bindings and `me`: nobody grants what they do not hold, the last
//! owner stays, and no one reaches another tenant.

use ditto_testkit::{Api, TestApp};
use serde_json::{Value, json};

async fn account(admin: &Api, tenant: &str, name: &str) -> String {
    admin
        .post(
            &format!("/api/v1/tenants/{tenant}/service-accounts"),
            json!({"name": name}),
        )
        .await
        .expect_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn binding(role: &str, subject: &str) -> Value {
    json!({"role": role, "subject_type": "service_account", "subject_id": subject})
}

#[tokio::test]
async fn builtin_roles_are_listed_with_their_permissions() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let viewer = app.tenant_member_as("acme", "viewer").await;
    let roles = viewer
        .get("/api/v1/tenants/acme/roles")
        .await
        .expect_status(200);
    let names: Vec<&str> = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "owner",
            "admin",
            "developer",
            "viewer",
            "auditor",
            "operator",
            "billing"
        ]
    );
    let developer = viewer
        .get("/api/v1/tenants/acme/roles/developer")
        .await
        .expect_status(200);
    assert_eq!(developer["builtin"], true);
    assert!(
        developer["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("keys:write"))
    );
    viewer
        .get("/api/v1/tenants/acme/roles/nope")
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn a_developer_cannot_grant_admin_nor_anything_else() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let target = account(&app.admin(), "acme", "target").await;
    // A developer holding role_bindings:write through a custom role still
    // cannot grant a role carrying permissions it lacks.
    app.admin()
        .post(
            "/api/v1/tenants/acme/roles",
            json!({"name": "granter", "permissions": ["role_bindings:write", "role_bindings:read"]}),
        )
        .await
        .expect_status(201);
    let developer = app.tenant_member_as("acme", "developer").await;
    let me = developer.get("/api/v1/me").await.expect_status(200);
    let dev_id = me["subject_id"].as_str().unwrap().to_owned();
    app.admin()
        .post(
            "/api/v1/tenants/acme/role-bindings",
            binding("granter", &dev_id),
        )
        .await
        .expect_status(201);
    let body = developer
        .post(
            "/api/v1/tenants/acme/role-bindings",
            binding("admin", &target),
        )
        .await
        .expect_problem(403);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("cannot delegate permissions you do not hold"),
        "{body}"
    );
    // Nor make a service account an admin at creation, nor define a role
    // with more than it holds.
    developer
        .post(
            "/api/v1/tenants/acme/service-accounts",
            json!({"name": "sneaky", "role": "admin"}),
        )
        .await
        .expect_problem(403);
    developer
        .post(
            "/api/v1/tenants/acme/roles",
            json!({"name": "mine", "permissions": ["backends:write"]}),
        )
        .await
        .expect_problem(403);
    // What it holds, it may pass on.
    developer
        .post(
            "/api/v1/tenants/acme/role-bindings",
            binding("granter", &target),
        )
        .await
        .expect_status(201);
}

#[tokio::test]
async fn an_admin_cannot_touch_owners_and_the_last_owner_stays() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let platform = app.admin();
    let first = account(&platform, "acme", "first-owner").await;
    let owner_binding = platform
        .post(
            "/api/v1/tenants/acme/role-bindings",
            binding("owner", &first),
        )
        .await
        .expect_status(201);
    let owner_binding = owner_binding["id"].as_str().unwrap().to_owned();
    let admin = app.tenant_member_as("acme", "admin").await;
    let other = account(&admin, "acme", "would-be-owner").await;

    // An admin lacks owners:write: it can neither make nor remove an owner.
    admin
        .post(
            "/api/v1/tenants/acme/role-bindings",
            binding("owner", &other),
        )
        .await
        .expect_problem(403);
    admin
        .delete(&format!(
            "/api/v1/tenants/acme/role-bindings/{owner_binding}"
        ))
        .await
        .expect_problem(403);

    // An owner cannot remove the last owner either (itself included).
    let owner = app.tenant_member_as("acme", "owner").await;
    let bindings = platform
        .get("/api/v1/tenants/acme/role-bindings?role=owner&sort=created_at")
        .await
        .expect_status(200);
    let ids: Vec<String> = bindings["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    owner
        .delete(&format!("/api/v1/tenants/acme/role-bindings/{}", ids[0]))
        .await
        .expect_status(204);
    let body = owner
        .delete(&format!("/api/v1/tenants/acme/role-bindings/{}", ids[1]))
        .await
        .expect_problem(409);
    assert!(body["detail"].as_str().unwrap().contains("last owner"));
}

#[tokio::test]
async fn a_tenant_admin_cannot_touch_another_tenant() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let globex_account = account(&app.admin(), "globex", "theirs").await;
    let globex_binding = app
        .admin()
        .post(
            "/api/v1/tenants/globex/role-bindings",
            binding("viewer", &globex_account),
        )
        .await
        .expect_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = app.tenant_member_as("acme", "admin").await;
    for resp in [
        admin.get("/api/v1/tenants/globex/roles").await,
        admin.get("/api/v1/tenants/globex/role-bindings").await,
        admin
            .post(
                "/api/v1/tenants/globex/role-bindings",
                binding("admin", &globex_account),
            )
            .await,
        admin
            .delete(&format!(
                "/api/v1/tenants/globex/role-bindings/{globex_binding}"
            ))
            .await,
    ] {
        assert_eq!(resp.expect_problem(404)["detail"], "tenant not found");
    }
    // Naming its own tenant with the other tenant's ids finds nothing.
    admin
        .delete(&format!(
            "/api/v1/tenants/acme/role-bindings/{globex_binding}"
        ))
        .await
        .expect_problem(404);
    let fields = admin
        .post(
            "/api/v1/tenants/acme/role-bindings",
            binding("viewer", &globex_account),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/subject_id"]);
}

#[tokio::test]
async fn bindings_take_effect_at_once_and_me_shows_them() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("acme").await;
    let platform = app.admin();
    let account_id = account(&platform, "acme", "ci").await;
    let token = platform
        .post(
            &format!("/api/v1/tenants/acme/service-accounts/{account_id}/tokens"),
            json!({"name": "t"}),
        )
        .await
        .expect_status(201);
    let holder = app.with_token(token["secret"].as_str().unwrap());

    // No role yet: it can see itself, and nothing else.
    let me = holder.get("/api/v1/me").await.expect_status(200);
    assert_eq!(me["subject_type"], "service_account");
    assert_eq!(me["subject_id"], account_id.as_str());
    assert_eq!(me["tenants"][0]["id"], tenant["id"]);
    assert_eq!(me["tenants"][0]["roles"], json!([]));
    assert_eq!(me["tenants"][0]["permissions"], json!([]));
    holder
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_problem(403);

    // A custom role, bound: the next request has it.
    platform
        .post(
            "/api/v1/tenants/acme/roles",
            json!({"name": "project-reader", "permissions": ["projects:read", "tenants:read"]}),
        )
        .await
        .expect_status(201);
    let bound = platform
        .post(
            "/api/v1/tenants/acme/role-bindings",
            binding("project-reader", &account_id),
        )
        .await
        .expect_status(201);
    holder
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_status(200);
    let me = holder.get("/api/v1/me").await.expect_status(200);
    assert_eq!(me["tenants"][0]["roles"], json!(["project-reader"]));
    assert_eq!(
        me["tenants"][0]["permissions"],
        json!(["tenants:read", "projects:read"])
    );

    // Changing the role changes what it grants; a bound role cannot go.
    platform
        .patch(
            "/api/v1/tenants/acme/roles/project-reader",
            json!({"permissions": ["tenants:read"]}),
        )
        .await
        .expect_status(200);
    holder
        .get("/api/v1/tenants/acme/projects")
        .await
        .expect_problem(403);
    platform
        .delete("/api/v1/tenants/acme/roles/project-reader")
        .await
        .expect_problem(409);
    platform
        .delete(&format!(
            "/api/v1/tenants/acme/role-bindings/{}",
            bound["id"].as_str().unwrap()
        ))
        .await
        .expect_status(204);
    holder.get("/api/v1/tenants/acme").await.expect_problem(403);
    platform
        .delete("/api/v1/tenants/acme/roles/project-reader")
        .await
        .expect_status(204);

    // The platform administrator's own view.
    let me = platform.get("/api/v1/me").await.expect_status(200);
    assert_eq!(me["platform_role"], "platform_admin");
    assert_eq!(me["tenants"], json!([]));
}

#[tokio::test]
async fn custom_roles_are_checked() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let base = "/api/v1/tenants/acme/roles";
    let fields = admin
        .post(
            base,
            json!({"name": "Admin!", "permissions": ["keys:fly", "tenants:write"]}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/name", "/permissions/0", "/permissions/1"]);
    let fields = admin
        .post(base, json!({"name": "viewer", "permissions": []}))
        .await
        .invalid_fields();
    assert_eq!(fields, ["/name", "/permissions"]);
    admin
        .post(base, json!({"name": "ops", "permissions": ["routes:read"]}))
        .await
        .expect_status(201);
    admin
        .post(base, json!({"name": "ops", "permissions": ["routes:read"]}))
        .await
        .expect_problem(409);
    admin
        .patch(&format!("{base}/owner"), json!({"description": "x"}))
        .await
        .expect_problem(403);
    let fields = admin
        .post(
            "/api/v1/tenants/acme/role-bindings",
            json!({"role": "ghost", "subject_type": "user", "subject_id": uuid::Uuid::now_v7()}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/role"]);
}

#[tokio::test]
async fn managing_an_account_needs_what_it_holds() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let platform = app.admin();
    let owner_account = account(&platform, "acme", "the-owner").await;
    platform
        .post(
            "/api/v1/tenants/acme/role-bindings",
            binding("owner", &owner_account),
        )
        .await
        .expect_status(201);
    let developer_account = account(&platform, "acme", "a-developer").await;
    platform
        .post(
            "/api/v1/tenants/acme/role-bindings",
            binding("developer", &developer_account),
        )
        .await
        .expect_status(201);
    let admin = app.tenant_member_as("acme", "admin").await;
    let base = "/api/v1/tenants/acme/service-accounts";

    // A token of the owner's account would make the admin an owner.
    admin
        .post(
            &format!("{base}/{owner_account}/tokens"),
            json!({"name": "mine"}),
        )
        .await
        .expect_problem(403);
    admin
        .patch(
            &format!("{base}/{owner_account}"),
            json!({"disabled": true}),
        )
        .await
        .expect_problem(403);
    admin
        .delete(&format!("{base}/{owner_account}"))
        .await
        .expect_problem(403);
    // An account it outranks, it manages.
    admin
        .post(
            &format!("{base}/{developer_account}/tokens"),
            json!({"name": "ci"}),
        )
        .await
        .expect_status(201);
    admin
        .delete(&format!("{base}/{developer_account}"))
        .await
        .expect_status(204);
}

#[tokio::test]
async fn the_last_owner_does_not_go_with_its_account_or_user() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let platform = app.admin();
    let first = account(&platform, "acme", "first").await;
    platform
        .post(
            "/api/v1/tenants/acme/role-bindings",
            binding("owner", &first),
        )
        .await
        .expect_status(201);
    let body = platform
        .delete(&format!("/api/v1/tenants/acme/service-accounts/{first}"))
        .await
        .expect_problem(409);
    assert!(body["detail"].as_str().unwrap().contains("last owner"));

    // A user takes over; then the account may go, and the user may not.
    let user = platform
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "boss@acme.example"}),
        )
        .await
        .expect_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    platform
        .post(
            "/api/v1/tenants/acme/role-bindings",
            json!({"role": "owner", "subject_type": "user", "subject_id": user}),
        )
        .await
        .expect_status(201);
    platform
        .delete(&format!("/api/v1/tenants/acme/service-accounts/{first}"))
        .await
        .expect_status(204);
    platform
        .delete(&format!("/api/v1/tenants/acme/users/{user}"))
        .await
        .expect_problem(409);

    // The tenant itself can still be deleted, owners and all.
    platform
        .delete("/api/v1/tenants/acme")
        .await
        .expect_status(204);
}

#[tokio::test]
async fn role_bindings_are_listed_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let mut made = Vec::new();
    for i in 0..5 {
        let sa = account(&admin, "acme", &format!("sa{i}")).await;
        let role = if i % 2 == 0 { "viewer" } else { "auditor" };
        let binding = admin
            .post(
                "/api/v1/tenants/acme/role-bindings",
                json!({"role": role, "subject_type": "service_account", "subject_id": sa}),
            )
            .await
            .expect_status(201);
        made.push(binding["id"].as_str().unwrap().to_owned());
    }
    let first = admin
        .get("/api/v1/tenants/acme/role-bindings?limit=2&sort=created_at")
        .await
        .expect_status(200);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert!(first["next_cursor"].is_string());
    let all = admin
        .collect("/api/v1/tenants/acme/role-bindings?sort=created_at", 2)
        .await;
    let ids: Vec<&str> = all.iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(ids, made, "every binding once, in creation order");
    let viewers = admin
        .collect("/api/v1/tenants/acme/role-bindings?role=viewer", 1)
        .await;
    assert_eq!(viewers.len(), 3);
    admin
        .get("/api/v1/tenants/acme/role-bindings?limit=0")
        .await
        .expect_problem(422);
}

#[tokio::test]
async fn the_last_active_owner_cannot_be_disabled() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let platform = app.admin();
    let sa = account(&platform, "acme", "robot").await;
    platform
        .post("/api/v1/tenants/acme/role-bindings", binding("owner", &sa))
        .await
        .expect_status(201);
    let user = platform
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "boss@acme.example"}),
        )
        .await
        .expect_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = platform
        .post("/api/v1/tenants/acme/groups", json!({"name": "owners"}))
        .await
        .expect_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    platform
        .post(
            "/api/v1/tenants/acme/role-bindings",
            json!({"role": "owner", "subject_type": "group", "subject_id": group}),
        )
        .await
        .expect_status(201);
    platform
        .post(
            &format!("/api/v1/tenants/acme/groups/{group}/members"),
            json!({"user_id": user}),
        )
        .await
        .expect_status(204);

    // Two active owners (the account, and the user through the group):
    // one may be disabled, not the other.
    platform
        .patch(
            &format!("/api/v1/tenants/acme/service-accounts/{sa}"),
            json!({"disabled": true}),
        )
        .await
        .expect_status(200);
    let body = platform
        .patch(
            &format!("/api/v1/tenants/acme/users/{user}"),
            json!({"status": "disabled"}),
        )
        .await
        .expect_problem(409);
    assert!(body["detail"].as_str().unwrap().contains("last owner"));
    // Re-enabling the account makes room.
    platform
        .patch(
            &format!("/api/v1/tenants/acme/service-accounts/{sa}"),
            json!({"disabled": false}),
        )
        .await
        .expect_status(200);
    platform
        .patch(
            &format!("/api/v1/tenants/acme/users/{user}"),
            json!({"status": "disabled"}),
        )
        .await
        .expect_status(200);
    platform
        .patch(
            &format!("/api/v1/tenants/acme/service-accounts/{sa}"),
            json!({"disabled": true}),
        )
        .await
        .expect_problem(409);
}
