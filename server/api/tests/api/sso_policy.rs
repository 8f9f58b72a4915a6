//! The SSO provisioning policy against the real server, database and (where
//! a sign-in goes through one) the real `oidc-provider`: email domains
//! claimed once across tenants and isolated per tenant, home-realm
//! discovery, enforced SSO with break-glass owners, the public URL in
//! redirect URIs and SCIM locations, and the guard against identity
//! providers on private addresses.

use ditto_identity::egress::ProviderAccess;
use ditto_identity::public_url::PublicUrl;
use ditto_testkit::oidc::{OidcProvider, discovery_fixture};
use ditto_testkit::{Api, Options, Resp, TestApp, quick_gateway_config, test_identity};

use super::sso::Browser;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const CALLBACK: &str = "/api/v1/auth/sso/callback";

fn problem_type(body: &Value) -> &str {
    body["type"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

async fn put(api: &Api, path: &str, body: Value) -> Resp {
    api.raw(Method::PUT, path, |r| r.json(&body)).await
}

/// A user of `tenant` with `role` and a password; returns their id.
async fn staff(app: &TestApp, tenant: &str, email: &str, role: &str) -> String {
    let admin = app.admin();
    let base = format!("/api/v1/tenants/{tenant}");
    let user = admin
        .post(&format!("{base}/users"), json!({"email": email}))
        .await
        .expect_status(201);
    let id = user["id"].as_str().unwrap().to_owned();
    admin
        .post(
            &format!("{base}/role-bindings"),
            json!({"role": role, "subject_type": "user", "subject_id": id}),
        )
        .await
        .expect_status(201);
    put(
        &admin,
        &format!("{base}/users/{id}/password"),
        json!({"password": PASSWORD, "must_change": false}),
    )
    .await
    .expect_status(204);
    id
}

async fn sign_in(app: &TestApp, tenant: &str, email: &str, password: &str) -> Resp {
    app.anonymous()
        .raw(Method::POST, "/api/v1/auth/sign-in", |r| {
            r.header("user-agent", "policy-test/1.0")
                .json(&json!({"tenant": tenant, "email": email, "password": password}))
        })
        .await
}

/// Where starting a sign-in through `connection` sends the browser.
async fn start_location(app: &TestApp, connection: &Value) -> reqwest::Url {
    let start = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "{}/api/v1/auth/sso/{}/start",
            app.base,
            connection["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    reqwest::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap()
}

fn redirect_uri(location: &reqwest::Url) -> String {
    location
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

async fn discover(app: &TestApp, email: &str) -> Resp {
    app.anonymous()
        .post("/api/v1/auth/sso/discover", json!({"email": email}))
        .await
}

#[tokio::test]
async fn domains_are_claimed_once_across_tenants_and_seen_only_by_their_tenant() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = app.tenant_member("acme").await;
    let globex = app.tenant_member("globex").await;

    let claimed = acme
        .post(
            "/api/v1/tenants/acme/domains",
            json!({"domain": " Acme.Example "}),
        )
        .await
        .expect_status(201);
    assert_eq!(claimed["domain"], "acme.example");
    assert_eq!(claimed["status"], "pending");
    assert_eq!(
        claimed["verification"]["record_name"],
        "_ditto-verification.acme.example"
    );
    let token = claimed["verification"]["record_value"].as_str().unwrap();
    assert!(token.starts_with("ditto-domain-verification=") && token.len() > 40);

    // Acme cannot claim it twice, in any spelling.
    let body = acme
        .post(
            "/api/v1/tenants/acme/domains",
            json!({"domain": "ACME.example"}),
        )
        .await
        .expect_problem(409);
    assert!(
        body["detail"].as_str().unwrap().contains("already claimed"),
        "{body}"
    );
    // Bad names.
    for bad in [
        "acme",
        "http://acme.example",
        "ada@acme.example",
        "10.0.0.1",
        "acme.example.",
    ] {
        let fields = acme
            .post("/api/v1/tenants/acme/domains", json!({"domain": bad}))
            .await
            .invalid_fields();
        assert_eq!(fields, ["/domain"], "{bad}");
    }

    // Tenant isolation: globex neither lists nor reads nor releases it.
    let listed = globex
        .get("/api/v1/tenants/globex/domains")
        .await
        .expect_status(200);
    assert_eq!(listed["items"], json!([]));
    globex
        .get("/api/v1/tenants/globex/domains/acme.example")
        .await
        .expect_problem(404);
    globex
        .delete("/api/v1/tenants/globex/domains/acme.example")
        .await
        .expect_problem(404);
    globex
        .get("/api/v1/tenants/acme/domains")
        .await
        .expect_problem(404);
    globex
        .delete("/api/v1/tenants/acme/domains/acme.example")
        .await
        .expect_problem(404);
    let mine = acme
        .get("/api/v1/tenants/acme/domains")
        .await
        .expect_status(200);
    assert_eq!(mine["items"][0]["domain"], "acme.example");
    acme.get("/api/v1/tenants/acme/domains/Acme.Example")
        .await
        .expect_status(200);

    // A pending claim blocks nobody, and tells another tenant nothing: globex
    // may claim it too. Only one of them can be verified.
    let rival = globex
        .post(
            "/api/v1/tenants/globex/domains",
            json!({"domain": "ACME.example"}),
        )
        .await
        .expect_status(201);
    assert_eq!(rival["status"], "pending");

    // Verification is the platform operator's: a tenant admin is refused.
    acme.post_empty("/api/v1/tenants/acme/domains/acme.example/verify")
        .await
        .expect_problem(403);
    let verified = app
        .admin()
        .post_empty("/api/v1/tenants/acme/domains/acme.example/verify")
        .await
        .expect_status(200);
    assert_eq!(verified["status"], "verified");
    assert!(verified["verified_at"].is_string());
    // Verified for acme, it cannot be verified for globex too.
    let p = app
        .admin()
        .post_empty("/api/v1/tenants/globex/domains/acme.example/verify")
        .await
        .expect_problem(409);
    assert!(
        p["detail"].as_str().unwrap().contains("another tenant"),
        "{p}"
    );
    globex
        .delete("/api/v1/tenants/globex/domains/acme.example")
        .await
        .expect_status(204);
    let audit = acme
        .get("/api/v1/tenants/acme/audit?action=tenant_domains.verify")
        .await
        .expect_status(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    let created = acme
        .get("/api/v1/tenants/acme/audit?action=tenant_domains.create")
        .await
        .expect_status(200);
    assert_eq!(created["items"].as_array().unwrap().len(), 1, "{created}");

    // Released, it may be claimed by another tenant (pending again).
    acme.delete("/api/v1/tenants/acme/domains/acme.example")
        .await
        .expect_status(204);
    let moved = globex
        .post(
            "/api/v1/tenants/globex/domains",
            json!({"domain": "acme.example"}),
        )
        .await
        .expect_status(201);
    assert_eq!(moved["status"], "pending");
}

#[tokio::test]
async fn discovery_sends_verified_domains_to_their_tenants_sso_and_nothing_else() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let acme = app.tenant_member("acme").await;
    staff(&app, "acme", "ada@acme.example", "developer").await;
    let connection = acme
        .post(
            "/api/v1/tenants/acme/sso-connections",
            json!({"name": "Okta", "issuer": discovery_fixture(), "client_id": "ditto",
                   "client_secret": "s"}),
        )
        .await
        .expect_status(201);
    let off = acme
        .post(
            "/api/v1/tenants/acme/sso-connections",
            json!({"name": "Old", "issuer": discovery_fixture(), "client_id": "old",
                   "enabled": false}),
        )
        .await
        .expect_status(201);

    let password = json!({"method": "password", "sso_enforced": false, "connections": []});
    // Unknown domain.
    let answer = discover(&app, "ada@unknown.example")
        .await
        .expect_status(200);
    assert_eq!(answer, password);
    // Claimed but pending: routes nothing.
    acme.post(
        "/api/v1/tenants/acme/domains",
        json!({"domain": "acme.example"}),
    )
    .await
    .expect_status(201);
    let answer = discover(&app, "ada@acme.example").await.expect_status(200);
    assert_eq!(answer, password);

    // Verified: to acme's enabled connections only.
    app.admin()
        .post_empty("/api/v1/tenants/acme/domains/acme.example/verify")
        .await
        .expect_status(200);
    let resp = discover(&app, "Ada@ACME.example").await;
    assert_eq!(resp.headers["cache-control"], "no-store");
    let answer = resp.expect_status(200);
    assert_eq!(answer["method"], "sso", "{answer}");
    assert_eq!(answer["tenant"], "acme");
    assert_eq!(
        answer["connections"],
        json!([{
            "id": connection["id"],
            "name": "Okta",
            "protocol": "oidc",
            "login_url": connection["login_url"],
        }])
    );
    assert!(!answer.to_string().contains(off["id"].as_str().unwrap()));
    // The answer is the domain's, whoever the address is.
    let nobody = discover(&app, "nobody-at-all@acme.example")
        .await
        .expect_status(200);
    assert_eq!(nobody, answer);
    // A subdomain is another domain.
    let sub = discover(&app, "ada@eu.acme.example")
        .await
        .expect_status(200);
    assert_eq!(sub, password);

    // Not an address.
    for bad in ["acme.example", "@acme.example", "ada@", ""] {
        let fields = discover(&app, bad).await.invalid_fields();
        assert_eq!(fields, ["/email"], "{bad}");
    }
}

#[tokio::test]
async fn discovery_is_throttled_per_client_across_replicas_through_redis() {
    // Two servers sharing Redis count together, as replicas do. The key is
    // per client address and minute, so start early in a fresh minute.
    let now = chrono::Utc::now().timestamp() % 60;
    if now > 45 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - now) as u64)).await;
    }
    let options = Options {
        redis_url: Some(ditto_testkit::redis_url()),
        gateway: quick_gateway_config(),
        ..Options::default()
    };
    let one = TestApp::spawn_with(options.clone()).await;
    let two = TestApp::spawn_with(options).await;
    let mut throttled = None;
    for i in 0..31 {
        let app = if i % 2 == 0 { &one } else { &two };
        let resp = discover(app, "ada@throttle.example").await;
        if resp.status == 429 {
            throttled = Some((i, resp));
            break;
        }
        assert_eq!(resp.status, 200, "{}", resp.text);
    }
    let (at, resp) = throttled.expect("throttled within 31 lookups");
    // Other tests on this machine may share the counter, never lift it.
    assert!(at <= 30, "{at}");
    assert!(resp.headers.contains_key("retry-after"));
    assert_eq!(problem_type(&resp.expect_problem(429)), "too-many-requests");

    // Without Redis, each server counts on its own.
    let alone = TestApp::spawn().await;
    for _ in 0..30 {
        discover(&alone, "ada@throttle.example")
            .await
            .expect_status(200);
    }
    discover(&alone, "ada@throttle.example")
        .await
        .expect_problem(429);
}

#[tokio::test]
async fn enforced_sso_refuses_member_passwords_but_admits_audited_break_glass_owners() {
    let app = TestApp::spawn().await;
    let idp = OidcProvider::start(&format!("{}{CALLBACK}", app.base)).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.tenant_member("acme").await;
    let owner_account = app.tenant_member_as("acme", "owner").await;
    let olga = staff(&app, "acme", "olga@acme.example", "owner").await;
    let max = staff(&app, "acme", "max@acme.example", "developer").await;
    // The same person also works for globex, which does not enforce SSO.
    staff(&app, "globex", "max@acme.example", "developer").await;

    // A personal access token made before enforcement keeps working.
    let signed_in = sign_in(&app, "acme", "max@acme.example", PASSWORD).await;
    let cookies: Vec<String> = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let cookie = |name: &str| {
        cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c[name.len() + 1..].split(';').next().unwrap().to_owned())
            .unwrap()
    };
    let (session, csrf) = (cookie("ditto_session"), cookie("ditto_csrf"));
    let expires = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let pat = app
        .anonymous()
        .raw(Method::POST, "/api/v1/me/tokens", |r| {
            r.header("cookie", format!("ditto_session={session}"))
                .header("x-csrf-token", csrf)
                .json(&json!({"name": "cli", "expires_at": expires}))
        })
        .await
        .expect_status(201);
    let pat = app.with_token(pat["secret"].as_str().unwrap());

    // No connection yet: enforcement cannot be turned on.
    let policy = "/api/v1/tenants/acme/sso-policy";
    let fields = put(&admin, policy, json!({"enforced": true}))
        .await
        .invalid_fields();
    assert_eq!(fields, ["/enforced"]);
    let connection = admin
        .post(
            "/api/v1/tenants/acme/sso-connections",
            json!({"name": "Okta", "issuer": idp.issuer, "client_id": "ditto",
                   "client_secret": "ditto-secret", "scopes": ["openid", "email", "profile"]}),
        )
        .await
        .expect_status(201);
    let conn_path = format!(
        "/api/v1/tenants/acme/sso-connections/{}",
        connection["id"].as_str().unwrap()
    );
    let on = put(&admin, policy, json!({"enforced": true}))
        .await
        .expect_status(200);
    assert_eq!(on["enforced"], true);
    let audit = admin
        .get("/api/v1/tenants/acme/audit?action=sso_policy.update")
        .await
        .expect_status(200);
    assert_eq!(audit["items"][0]["after"]["enforced"], true, "{audit}");

    // A member's right password: refused, naming where to go.
    let refused = sign_in(&app, "acme", "max@acme.example", PASSWORD)
        .await
        .expect_problem(403);
    assert_eq!(problem_type(&refused), "sso-required");
    let detail = refused["detail"].as_str().unwrap();
    assert!(detail.contains("/api/v1/auth/sso/discover"), "{detail}");
    let login_url = connection["login_url"].as_str().unwrap();
    assert!(detail.contains(&format!("Okta ({login_url})")), "{detail}");
    // A wrong one reads as any wrong password: nothing told without it.
    let wrong = sign_in(&app, "acme", "max@acme.example", "not the password")
        .await
        .expect_problem(401);
    assert_eq!(problem_type(&wrong), "invalid-credentials");
    // An owner not designated break-glass is a member like any other.
    sign_in(&app, "acme", "olga@acme.example", PASSWORD)
        .await
        .expect_problem(403);
    // The same person in a tenant that does not enforce SSO signs in.
    sign_in(&app, "globex", "max@acme.example", PASSWORD)
        .await
        .expect_status(200);
    // Tokens are not password sign-ins.
    pat.get("/api/v1/me").await.expect_status(200);

    // Only owners designate break-glass accounts, and only owners can be.
    let break_glass = |user: &str| format!("/api/v1/tenants/acme/users/{user}/sso-break-glass");
    put(&admin, &break_glass(&olga), json!({"enabled": true}))
        .await
        .expect_problem(403);
    let fields = put(&owner_account, &break_glass(&max), json!({"enabled": true}))
        .await
        .invalid_fields();
    assert_eq!(fields, ["/enabled"]);
    let set = put(
        &owner_account,
        &break_glass(&olga),
        json!({"enabled": true}),
    )
    .await
    .expect_status(200);
    assert_eq!(set["enabled"], true);
    let read = admin.get(policy).await.expect_status(200);
    assert_eq!(read["break_glass_user_ids"], json!([olga]));
    let granted = admin
        .get("/api/v1/tenants/acme/audit?action=sso_break_glass.grant")
        .await
        .expect_status(200);
    assert_eq!(granted["items"][0]["target_id"], olga.as_str(), "{granted}");
    // Not another tenant's user.
    let globex_owner = app.tenant_member_as("globex", "owner").await;
    put(
        &globex_owner,
        &format!("/api/v1/tenants/globex/users/{olga}/sso-break-glass"),
        json!({"enabled": true}),
    )
    .await
    .expect_problem(404);

    // The break-glass owner signs in with a password, audited.
    let admitted = sign_in(&app, "acme", "olga@acme.example", PASSWORD)
        .await
        .expect_status(200);
    let audit = admin
        .get("/api/v1/tenants/acme/audit?action=auth.break_glass_sign_in")
        .await
        .expect_status(200);
    let event = &audit["items"][0];
    assert_eq!(event["actor_id"], olga.as_str(), "{event}");
    assert_eq!(event["target_id"], olga.as_str());
    assert_eq!(event["after"]["session_id"], admitted["session"]["id"]);
    assert_eq!(event["after"]["source_ip"], "127.0.0.1");
    assert_eq!(event["after"]["user_agent"], "policy-test/1.0");
    let logs = ditto_testkit::logs::captured();
    assert!(
        logs.contains("break-glass password sign-in"),
        "a warning is logged"
    );

    // Members still sign in through the identity provider (linked to their
    // account by the verified email, in the tenant's verified domain).
    super::sso::verify_domain(&app, "acme", "acme.example").await;
    let location = start_location(&app, &connection).await;
    assert!(location.as_str().starts_with(&idp.issuer), "{location}");
    idp.set_account(
        "max",
        json!({"email": "max@acme.example", "email_verified": true, "name": "Max"}),
    )
    .await;
    let mut browser = Browser::new();
    let done = browser
        .sign_in(&app, connection["id"].as_str().unwrap(), "max")
        .await;
    assert_eq!(done.status, 302);
    let (status, me) = browser.api(&app).get("/api/v1/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["subject_id"], max.as_str(), "{me}");

    // The last enabled connection stays while SSO is enforced.
    let conflict = admin
        .patch(&conn_path, json!({"enabled": false}))
        .await
        .expect_problem(409);
    assert!(
        conflict["detail"]
            .as_str()
            .unwrap()
            .contains("enforced SSO"),
        "{conflict}"
    );
    admin.delete(&conn_path).await.expect_problem(409);
    // An owner who loses the role loses the way around SSO.
    let bindings = admin
        .get(&format!(
            "/api/v1/tenants/acme/role-bindings?subject_id={olga}"
        ))
        .await
        .expect_status(200);
    let binding = bindings["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["role"] == "owner" && b["subject_id"] == olga.as_str())
        .unwrap_or_else(|| panic!("{bindings}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    owner_account
        .delete(&format!("/api/v1/tenants/acme/role-bindings/{binding}"))
        .await
        .expect_status(204);
    sign_in(&app, "acme", "olga@acme.example", PASSWORD)
        .await
        .expect_problem(403);

    // Off again: passwords work, and the connection may go.
    put(&admin, policy, json!({"enforced": false}))
        .await
        .expect_status(200);
    sign_in(&app, "acme", "max@acme.example", PASSWORD)
        .await
        .expect_status(200);
    admin
        .patch(&conn_path, json!({"enabled": false}))
        .await
        .expect_status(200);

    // A tenant enforcing SSO can still be deleted with its connections.
    admin
        .patch(&conn_path, json!({"enabled": true}))
        .await
        .expect_status(200);
    put(&admin, policy, json!({"enforced": true}))
        .await
        .expect_status(200);
    app.admin()
        .delete("/api/v1/tenants/acme")
        .await
        .expect_status(204);
}

#[tokio::test]
async fn the_public_url_builds_redirect_uris_and_scim_locations() {
    let app = TestApp::spawn_with(Options {
        gateway: quick_gateway_config(),
        identity: Some(ditto_identity::Identity {
            public_url: Some(PublicUrl::parse("https://ditto.example.com/").unwrap()),
            ..test_identity()
        }),
        ..Options::default()
    })
    .await;
    app.tenant("acme").await;
    let admin = app.tenant_member("acme").await;
    let connection = admin
        .post(
            "/api/v1/tenants/acme/sso-connections",
            json!({"name": "Okta", "issuer": discovery_fixture(), "client_id": "ditto"}),
        )
        .await
        .expect_status(201);
    // Not the request's Host (127.0.0.1:<port>).
    assert_eq!(
        redirect_uri(&start_location(&app, &connection).await),
        "https://ditto.example.com/api/v1/auth/sso/callback"
    );

    let token = admin
        .post("/api/v1/tenants/acme/scim-tokens", json!({"name": "idp"}))
        .await
        .expect_status(201);
    let created = app
        .with_token(token["secret"].as_str().unwrap())
        .raw(Method::POST, "/t/acme/scim/v2/Users", |r| {
            r.header("content-type", "application/scim+json").body(
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "ada@acme.example",
                })
                .to_string(),
            )
        })
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let location = created.body["meta"]["location"].as_str().unwrap();
    assert!(
        location.starts_with("https://ditto.example.com/t/acme/scim/v2/Users/"),
        "{location}"
    );
    assert_eq!(created.headers["location"].to_str().unwrap(), location);

    // Without it, the request's Host (today's behaviour).
    let plain = TestApp::spawn().await;
    plain.tenant("acme").await;
    let admin = plain.tenant_member("acme").await;
    let connection = admin
        .post(
            "/api/v1/tenants/acme/sso-connections",
            json!({"name": "Okta", "issuer": discovery_fixture(), "client_id": "ditto"}),
        )
        .await
        .expect_status(201);
    assert_eq!(
        redirect_uri(&start_location(&plain, &connection).await),
        format!("{}/api/v1/auth/sso/callback", plain.base)
    );
}

#[tokio::test]
async fn identity_providers_on_private_addresses_are_refused_unless_allowed() {
    let strict = |allow: &str| Options {
        gateway: quick_gateway_config(),
        identity: Some(ditto_identity::Identity {
            providers: ProviderAccess::new(ditto_egress::EgressPolicy::parse(allow).unwrap()),
            ..test_identity()
        }),
        ..Options::default()
    };
    let app = TestApp::spawn_with(strict("")).await;
    app.tenant("acme").await;
    let admin = app.tenant_member("acme").await;
    for issuer in [
        discovery_fixture(),
        "https://10.0.0.7/realms/a".into(),
        "https://169.254.169.254".into(),
        "https://[fd00::1]".into(),
    ] {
        let body = admin
            .post(
                "/api/v1/tenants/acme/sso-connections",
                json!({"name": "internal", "issuer": issuer, "client_id": "ditto"}),
            )
            .await
            .expect_problem(422);
        assert_eq!(body["errors"][0]["field"], "/issuer", "{body}");
        assert_eq!(body["errors"][0]["code"], "issuer_not_allowed", "{body}");
    }

    // A host the operator lists is reachable; a real sign-in starts.
    let listed = TestApp::spawn_with(strict("127.0.0.1")).await;
    let idp = OidcProvider::start(&format!("{}{CALLBACK}", listed.base)).await;
    listed.tenant("acme").await;
    let admin = listed.tenant_member("acme").await;
    let connection = admin
        .post(
            "/api/v1/tenants/acme/sso-connections",
            json!({"name": "internal", "issuer": idp.issuer, "client_id": "ditto",
                   "client_secret": "ditto-secret"}),
        )
        .await
        .expect_status(201);
    let location = start_location(&listed, &connection).await;
    assert!(location.as_str().starts_with(&idp.issuer), "{location}");
}

#[tokio::test]
async fn a_pending_domain_claim_lapses_after_a_week() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let acme = app.tenant_member("acme").await;
    let claim = json!({"domain": "acme.example"});
    acme.post("/api/v1/tenants/acme/domains", claim.clone())
        .await
        .expect_status(201);
    sqlx::query("UPDATE tenant_domains SET created_at = now() - interval '8 days'")
        .execute(app.store.pool())
        .await
        .unwrap();
    let p = app
        .admin()
        .post_empty("/api/v1/tenants/acme/domains/acme.example/verify")
        .await
        .expect_problem(409);
    assert!(p["detail"].as_str().unwrap().contains("lapsed"), "{p}");
    // Claimed again, it is a fresh claim that can be verified.
    acme.post("/api/v1/tenants/acme/domains", claim)
        .await
        .expect_status(201);
    app.admin()
        .post_empty("/api/v1/tenants/acme/domains/acme.example/verify")
        .await
        .expect_status(200);
}
