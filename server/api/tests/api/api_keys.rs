use ditto_testkit::TestApp;
use serde_json::{Value, json};

fn digest_of(secret: &str) -> Vec<u8> {
    let (_, rest) = secret.split_at("dk-".len());
    let (_, secret_part) = rest.split_once('-').unwrap();
    ditto_core::secrets::sha256(secret_part.as_bytes()).to_vec()
}

#[tokio::test]
async fn keys_are_shown_once_and_stored_as_digests() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let member = app.tenant_member("acme").await;
    let project = member.project("acme", "chat").await;
    let created = member
        .post(
            "/api/v1/tenants/acme/api-keys",
            json!({"project_id": project, "name": "backend"}),
        )
        .await
        .expect_status(201);
    let secret = created["secret"].as_str().unwrap();
    let key = &created["key"];
    assert!(secret.starts_with(&format!("{}-", key["prefix"].as_str().unwrap())));
    assert!(key["prefix"].as_str().unwrap().starts_with("dk-"));
    assert_eq!(key["status"], "active");
    assert!(ditto_core::secrets::split("dk", secret).is_some());

    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_hash FROM api_keys")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(stored, digest_of(secret));
    let dump: String = sqlx::query_scalar("SELECT row_to_json(k)::text FROM api_keys k")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    let secret_part = secret.rsplit('-').next().unwrap();
    assert!(!dump.contains(secret_part), "the secret is not stored");

    let id = key["id"].as_str().unwrap();
    let got = member
        .get(&format!("/api/v1/tenants/acme/api-keys/{id}"))
        .await;
    assert!(!got.text.contains(secret_part));
    assert_eq!(got.expect_status(200), *key);
    let list = member.get("/api/v1/tenants/acme/api-keys").await;
    assert!(!list.text.contains(secret_part));
    assert!(list.body["items"][0].get("secret").is_none());
}

#[tokio::test]
async fn revoke_rotate_and_rename() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let project = admin.project("acme", "chat").await;
    let created = admin
        .post(
            "/api/v1/tenants/acme/api-keys",
            json!({"project_id": project, "name": "k"}),
        )
        .await
        .expect_status(201);
    let id = created["key"]["id"].as_str().unwrap();
    let base = format!("/api/v1/tenants/acme/api-keys/{id}");

    let rotated = admin
        .post_empty(&format!("{base}/rotate"))
        .await
        .expect_status(200);
    assert_eq!(rotated["key"]["id"], id);
    assert_ne!(rotated["secret"], created["secret"]);
    assert_ne!(rotated["key"]["prefix"], created["key"]["prefix"]);
    assert!(rotated["key"]["rotated_at"].is_string());
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_hash FROM api_keys")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(stored, digest_of(rotated["secret"].as_str().unwrap()));

    let renamed = admin
        .patch(&base, json!({"name": "renamed"}))
        .await
        .expect_status(200);
    assert_eq!(renamed["name"], "renamed");

    let revoked = admin
        .post_empty(&format!("{base}/revoke"))
        .await
        .expect_status(200);
    assert_eq!(revoked["status"], "revoked");
    let again = admin
        .post_empty(&format!("{base}/revoke"))
        .await
        .expect_status(200);
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    let body = admin
        .post_empty(&format!("{base}/rotate"))
        .await
        .expect_problem(409);
    assert_eq!(body["detail"], "a revoked key cannot be rotated");
}

#[tokio::test]
async fn keys_filter_by_status_project_and_owner() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let chat = admin.project("acme", "chat").await;
    let search = admin.project("acme", "search").await;
    let user = admin
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "ada@acme.example"}),
        )
        .await
        .expect_status(201)["id"]
        .clone();
    let mut ids = Vec::new();
    for (project, name, owner) in [
        (&chat, "a", Value::Null),
        (&chat, "b", user.clone()),
        (&search, "c", Value::Null),
    ] {
        let created = admin
            .post(
                "/api/v1/tenants/acme/api-keys",
                json!({"project_id": project, "name": name, "owner_user_id": owner, "expires_at": "2999-01-01T00:00:00Z"}),
            )
            .await
            .expect_status(201);
        ids.push(created["key"]["id"].as_str().unwrap().to_owned());
    }
    admin
        .post_empty(&format!("/api/v1/tenants/acme/api-keys/{}/revoke", ids[0]))
        .await
        .expect_status(200);
    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&ids[2]).unwrap())
        .execute(app.store.pool())
        .await
        .unwrap();

    let names = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let base = "/api/v1/tenants/acme/api-keys";
    assert_eq!(
        names(
            admin
                .get(&format!("{base}?status=active"))
                .await
                .expect_status(200)
        ),
        ["b"]
    );
    assert_eq!(
        names(
            admin
                .get(&format!("{base}?status=revoked"))
                .await
                .expect_status(200)
        ),
        ["a"]
    );
    assert_eq!(
        names(
            admin
                .get(&format!("{base}?status=expired"))
                .await
                .expect_status(200)
        ),
        ["c"]
    );
    assert_eq!(
        names(
            admin
                .get(&format!("{base}?project_id={chat}&sort=name"))
                .await
                .expect_status(200)
        ),
        ["a", "b"]
    );
    let owned = admin
        .get(&format!("{base}?owner_user_id={}", user.as_str().unwrap()))
        .await
        .expect_status(200);
    assert_eq!(names(owned), ["b"]);
    assert_eq!(admin.collect(base, 1).await.len(), 3);

    // Deleting the owner removes their keys.
    admin
        .delete(&format!(
            "/api/v1/tenants/acme/users/{}",
            user.as_str().unwrap()
        ))
        .await
        .expect_status(204);
    assert_eq!(admin.collect(base, 10).await.len(), 2);
}

#[tokio::test]
async fn keys_cannot_point_into_another_tenant() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.admin();
    let foreign_project = admin.project("globex", "theirs").await;
    let foreign_user = admin
        .post(
            "/api/v1/tenants/globex/users",
            json!({"email": "x@globex.example"}),
        )
        .await
        .expect_status(201)["id"]
        .clone();
    let own_project = admin.project("acme", "ours").await;

    let member = app.tenant_member("acme").await;
    let fields = member
        .post(
            "/api/v1/tenants/acme/api-keys",
            json!({"project_id": foreign_project, "name": "k"}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/project_id"]);
    let fields = member
        .post(
            "/api/v1/tenants/acme/api-keys",
            json!({"project_id": own_project, "name": "k", "owner_user_id": foreign_user}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/owner_user_id"]);
}

#[tokio::test]
async fn invalid_keys_are_refused() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin();
    let project = admin.project("acme", "chat").await;
    let fields = admin
        .post(
            "/api/v1/tenants/acme/api-keys",
            json!({
                "project_id": project, "name": "",
                "owner_user_id": uuid::Uuid::now_v7(), "owner_service_account_id": uuid::Uuid::now_v7(),
                "expires_at": "2000-01-01T00:00:00Z"
            }),
        )
        .await
        .invalid_fields();
    assert_eq!(
        fields,
        ["/name", "/expires_at", "/owner_service_account_id"]
    );
    let fields = admin
        .post(
            "/api/v1/tenants/acme/api-keys",
            json!({"project_id": "nope", "name": "k"}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/project_id"]);
    let fields = admin
        .get("/api/v1/tenants/acme/api-keys?status=lost")
        .await
        .invalid_fields();
    assert_eq!(fields, ["query"]);
}
