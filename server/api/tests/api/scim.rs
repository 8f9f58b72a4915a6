//! The SCIM 2.0 server against the real application and database: tokens
//! and tenant isolation, filters, sorting and pagination, PATCH of group
//! members and what memberships give, deprovisioning (sessions, personal
//! tokens and gateway keys end at once) and the audit trail.

use ditto_testkit::{Api, Resp, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

pub(super) const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(super) const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(super) const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub(super) const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub(super) const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub(super) const PASSWORD: &str = "correct horse battery staple";

/// A SCIM client of one tenant.
pub(super) struct Scim {
    pub(super) api: Api,
    pub(super) base: String,
}

impl Scim {
    pub(super) async fn new(app: &TestApp, tenant: &str) -> Self {
        let token = app
            .admin()
            .post(
                &format!("/api/v1/tenants/{tenant}/scim-tokens"),
                json!({"name": "idp"}),
            )
            .await
            .expect_status(201);
        let secret = token["secret"].as_str().unwrap();
        assert!(secret.starts_with("dst-"));
        Self::with_token(app, tenant, secret)
    }

    pub(super) fn with_token(app: &TestApp, tenant: &str, token: &str) -> Self {
        Self {
            api: app.with_token(token),
            base: format!("/t/{tenant}/scim/v2"),
        }
    }

    pub(super) async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let url = format!("{}{path}", self.base);
        let resp = self
            .api
            .raw(method, &url, |r| match body {
                Some(b) => r
                    .header("content-type", "application/scim+json")
                    .body(b.to_string()),
                None => r,
            })
            .await;
        if resp.status != 204 && resp.status != 304 {
            assert_eq!(
                resp.headers["content-type"], "application/scim+json",
                "{path}: {}",
                resp.text
            );
        }
        resp
    }

    pub(super) async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None).await
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(body)).await
    }

    pub(super) async fn patch(&self, path: &str, ops: Value) -> Resp {
        self.send(
            Method::PATCH,
            path,
            Some(json!({"schemas": [PATCH], "Operations": ops})),
        )
        .await
    }

    pub(super) async fn user(&self, user_name: &str, extra: Value) -> Value {
        let mut body = json!({"schemas": [USER], "userName": user_name});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.post("/Users", body).await.expect_status(201)
    }

    /// The `userName`s a filtered, sorted list answers.
    pub(super) async fn names(&self, query: &str) -> Vec<String> {
        let list = self
            .get(&format!("/Users?{query}"))
            .await
            .expect_status(200);
        list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect()
    }
}

pub(super) fn q(filter: &str) -> String {
    format!("filter={}&sortBy=userName", urlencode(filter))
}

pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[track_caller]
pub(super) fn scim_error(resp: Resp, status: u16, scim_type: Option<&str>) {
    assert_eq!(resp.status, status, "{}", resp.text);
    assert_eq!(resp.body["schemas"], json!([ERROR]), "{}", resp.text);
    assert_eq!(resp.body["status"], status.to_string());
    assert_eq!(resp.body["scimType"].as_str(), scim_type, "{}", resp.text);
}

#[tokio::test]
async fn scim_tokens_work_only_on_their_tenant() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = Scim::new(&app, "acme").await;
    let globex = Scim::new(&app, "globex").await;
    let ada = acme.user("ada@acme.example", json!({})).await;
    let id = ada["id"].as_str().unwrap();
    let bob = globex.user("bob@globex.example", json!({})).await;
    let bob_id = bob["id"].as_str().unwrap();

    // Acme's token on globex's endpoint: not authenticated.
    let crossed = Scim {
        api: acme.api.clone(),
        base: "/t/globex/scim/v2".into(),
    };
    for path in ["/Users", &format!("/Users/{bob_id}"), "/Schemas"] {
        let resp = crossed.get(path).await;
        assert_eq!(resp.headers["www-authenticate"], "Bearer");
        scim_error(resp, 401, None);
    }
    scim_error(
        crossed
            .patch(
                &format!("/Users/{bob_id}"),
                json!([{"op": "replace", "path": "active", "value": false}]),
            )
            .await,
        401,
        None,
    );
    // Globex's token on its own endpoint never sees acme's user.
    scim_error(globex.get(&format!("/Users/{id}")).await, 404, None);
    scim_error(
        globex
            .patch(
                &format!("/Users/{id}"),
                json!([{"op": "replace", "path": "active", "value": false}]),
            )
            .await,
        404,
        None,
    );
    scim_error(
        globex
            .send(Method::DELETE, &format!("/Users/{id}"), None)
            .await,
        404,
        None,
    );
    let list = globex.get("/Users").await.expect_status(200);
    assert_eq!(list["totalResults"], 1);
    // Nor can it make acme's user a member of its group: the id names no
    // user of globex, so it is left out.
    let group = globex
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "g", "members": [{"value": id}]}),
        )
        .await
        .expect_status(201);
    assert!(
        group.get("members").is_none_or(|m| m == &json!([])),
        "{group}"
    );
    // The user is intact, and in no group.
    let ada = acme.get(&format!("/Users/{id}")).await.expect_status(200);
    assert_eq!(ada["userName"], "ada@acme.example");
    assert!(ada.get("groups").is_none(), "{ada}");
    let status = app
        .admin()
        .get(&format!("/api/v1/tenants/acme/users/{id}"))
        .await
        .expect_status(200);
    assert_eq!(status["status"], "active");

    // No token, a malformed one, an admin token, a revoked one: 401.
    let anonymous = Scim {
        api: app.anonymous(),
        base: "/t/acme/scim/v2".into(),
    };
    scim_error(anonymous.get("/Users").await, 401, None);
    scim_error(
        Scim::with_token(&app, "acme", "dst-nope")
            .get("/Users")
            .await,
        401,
        None,
    );
    let admin = Scim {
        api: app.admin(),
        base: "/t/acme/scim/v2".into(),
    };
    scim_error(admin.get("/Users").await, 401, None);
    scim_error(
        Scim::with_token(&app, "nowhere", "dst-nope")
            .get("/Users")
            .await,
        401,
        None,
    );
    let tokens = app
        .admin()
        .get("/api/v1/tenants/acme/scim-tokens")
        .await
        .expect_status(200);
    let token_id = tokens["items"][0]["id"].as_str().unwrap();
    assert!(tokens["items"][0].get("secret").is_none());
    assert!(tokens["items"][0]["last_used_at"].is_string());
    app.admin()
        .post_empty(&format!(
            "/api/v1/tenants/acme/scim-tokens/{token_id}/revoke"
        ))
        .await
        .expect_status(200);
    scim_error(acme.get("/Users").await, 401, None);
    // SCIM tokens are not admin API tokens.
    let fresh = app
        .admin()
        .post("/api/v1/tenants/acme/scim-tokens", json!({"name": "again"}))
        .await
        .expect_status(201);
    let fresh_secret = fresh["secret"].as_str().unwrap();
    app.with_token(fresh_secret)
        .get("/api/v1/tenants/acme/users")
        .await
        .expect_problem(401);
    // Neither the secret nor its hash reaches the audit trail.
    let events = app.admin().collect("/api/v1/tenants/acme/audit", 200).await;
    let minted: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "scim_tokens.create")
        .collect();
    assert!(!minted.is_empty());
    for event in minted {
        assert!(!event.to_string().contains(fresh_secret), "{event}");
        assert_eq!(event["after"]["token_hash"], "[redacted]", "{event}");
    }
}

#[tokio::test]
async fn users_filter_sort_and_paginate() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let scim = Scim::new(&app, "acme").await;
    scim.user(
        "ada@acme.example",
        json!({
            "externalId": "okta-ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "title": "Engineer",
            "emails": [{"type": "work", "value": "ada@acme.example", "primary": true},
                       {"type": "home", "value": "ada@home.example"}],
            ENTERPRISE: {"employeeNumber": "1", "department": "R&D"}
        }),
    )
    .await;
    scim.user(
        "bob@acme.example",
        json!({
            "name": {"givenName": "Bob", "familyName": "Builder"},
            "emails": [{"type": "work", "value": "bob@acme.example"}],
            "active": false,
            ENTERPRISE: {"employeeNumber": "2", "department": "Sales"}
        }),
    )
    .await;
    scim.user(
        "carol@globex.example",
        json!({"title": "Engineer", "displayName": "Carol C"}),
    )
    .await;
    scim.user("dan_100%@acme.example", json!({})).await;

    let cases: &[(&str, &[&str])] = &[
        (r#"userName eq "ADA@acme.example""#, &["ada@acme.example"]),
        (
            r#"userName ne "ada@acme.example""#,
            &[
                "bob@acme.example",
                "carol@globex.example",
                "dan_100%@acme.example",
            ],
        ),
        (r#"userName sw "b""#, &["bob@acme.example"]),
        (
            r#"userName ew "@globex.example""#,
            &["carol@globex.example"],
        ),
        (r#"userName co "100%""#, &["dan_100%@acme.example"]),
        (r#"userName co "_""#, &["dan_100%@acme.example"]),
        (r#"title pr"#, &["ada@acme.example", "carol@globex.example"]),
        (
            r#"not (title pr)"#,
            &["bob@acme.example", "dan_100%@acme.example"],
        ),
        (r#"name.givenName eq "bob""#, &["bob@acme.example"]),
        (r#"name.familyName co "love""#, &["ada@acme.example"]),
        (
            r#"emails[type eq "work"].value ew "acme.example""#,
            &["ada@acme.example", "bob@acme.example"],
        ),
        (r#"emails[type eq "home"]"#, &["ada@acme.example"]),
        (r#"emails co "home.example""#, &["ada@acme.example"]),
        (
            r#"emails.type eq "work" and active eq false"#,
            &["bob@acme.example"],
        ),
        (
            r#"active eq true and (title eq "engineer" or userName sw "dan")"#,
            &[
                "ada@acme.example",
                "carol@globex.example",
                "dan_100%@acme.example",
            ],
        ),
        (r#"externalId eq "okta-ada""#, &["ada@acme.example"]),
        (r#"externalId eq "OKTA-ADA""#, &[]),
        (r#"displayName eq "carol c""#, &["carol@globex.example"]),
        (
            &format!(r#"{ENTERPRISE}:department eq "sales""#),
            &["bob@acme.example"],
        ),
        (
            &format!(r#"{ENTERPRISE}:employeeNumber gt "1""#),
            &["bob@acme.example"],
        ),
        (
            r#"meta.created gt "2000-01-01T00:00:00Z" and meta.lastModified le "2999-01-01T00:00:00Z""#,
            &[
                "ada@acme.example",
                "bob@acme.example",
                "carol@globex.example",
                "dan_100%@acme.example",
            ],
        ),
        (r#"meta.created lt "2000-01-01T00:00:00Z""#, &[]),
        (r#"userName eq "nobody\" or \"1\" eq \"1""#, &[]),
    ];
    for (filter, want) in cases {
        assert_eq!(scim.names(&q(filter)).await, *want, "{filter}");
    }
    for bad in [
        r#"userName eq"#,
        r#"nonsense eq "x""#.replace("nonsense", "meta.version").as_str(),
        r#"active gt true"#,
        r#"meta.created gt "yesterday""#,
        r#"userName[value eq "x"]"#,
    ] {
        scim_error(
            scim.get(&format!("/Users?filter={}", urlencode(bad))).await,
            400,
            Some("invalidFilter"),
        );
    }

    // Sorting and pagination.
    assert_eq!(
        scim.names("sortBy=userName&sortOrder=descending").await,
        [
            "dan_100%@acme.example",
            "carol@globex.example",
            "bob@acme.example",
            "ada@acme.example"
        ]
    );
    assert_eq!(
        scim.names("sortBy=name.givenName&sortOrder=ascending&filter=name%20pr")
            .await,
        ["ada@acme.example", "bob@acme.example"]
    );
    let page = scim
        .get("/Users?sortBy=userName&startIndex=2&count=2")
        .await
        .expect_status(200);
    assert_eq!(page["totalResults"], 4);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    let names: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob@acme.example", "carol@globex.example"]);
    let counted = scim.get("/Users?count=0").await.expect_status(200);
    assert_eq!(
        (
            counted["totalResults"].as_i64(),
            counted["Resources"].as_array().map(Vec::len)
        ),
        (Some(4), Some(0))
    );
    let past = scim.get("/Users?startIndex=10").await.expect_status(200);
    assert_eq!(past["totalResults"], 4);
    assert_eq!(past["Resources"], json!([]));
    let capped = scim
        .get("/Users?count=100000&startIndex=-3")
        .await
        .expect_status(200);
    assert_eq!(capped["startIndex"], 1);
    assert_eq!(capped["itemsPerPage"], 4);
    scim_error(
        scim.get("/Users?count=many").await,
        400,
        Some("invalidValue"),
    );
    // The same through POST /.search, for users and across resource types.
    let searched = scim
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter": "title pr", "sortBy": "userName", "attributes": ["userName"],
                   "startIndex": 2, "count": 5}),
        )
        .await
        .expect_status(200);
    assert_eq!(searched["totalResults"], 2);
    assert_eq!(searched["Resources"][0]["userName"], "carol@globex.example");
    assert!(searched["Resources"][0].get("title").is_none());
    scim.post("/Groups", json!({"schemas": [GROUP], "displayName": "eng"}))
        .await
        .expect_status(201);
    let everything = scim
        .post(
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}),
        )
        .await
        .expect_status(200);
    assert_eq!(everything["totalResults"], 5);
    assert_eq!(everything["Resources"][4]["displayName"], "eng");
    scim_error(
        scim.post("/Users/.search", json!({"filter": "title pr"}))
            .await,
        400,
        Some("invalidSyntax"),
    );
    // Projection.
    let slim = scim
        .get("/Users?attributes=userName&filter=userName%20sw%20%22ada%22")
        .await
        .expect_status(200);
    let ada = &slim["Resources"][0];
    assert!(ada.get("name").is_none() && ada["userName"].is_string() && ada["id"].is_string());
}

#[tokio::test]
async fn users_round_trip_with_etags_put_and_conflicts() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let scim = Scim::new(&app, "acme").await;
    let created = scim
        .post(
            "/Users",
            json!({
                "schemas": [USER, ENTERPRISE],
                "userName": "ada@acme.example",
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "emails": [{"type": "work", "value": "ada@acme.example"}],
                ENTERPRISE: {"manager": {"value": "boss"}}
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let location = created.headers["location"].to_str().unwrap().to_owned();
    let etag = created.headers["etag"].to_str().unwrap().to_owned();
    let user = created.body;
    let id = user["id"].as_str().unwrap();
    assert!(location.ends_with(&format!("/t/acme/scim/v2/Users/{id}")));
    assert_eq!(user["meta"]["location"], location.as_str());
    assert_eq!(user["meta"]["version"], etag.as_str());
    assert_eq!(user["meta"]["resourceType"], "User");
    assert_eq!(user["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(user[ENTERPRISE]["manager"]["value"], "boss");
    // The admin API sees the same user.
    let admin_view = app
        .admin()
        .get(&format!("/api/v1/tenants/acme/users/{id}"))
        .await
        .expect_status(200);
    assert_eq!(admin_view["email"], "ada@acme.example");
    assert_eq!(admin_view["display_name"], "Ada Lovelace");

    // If-None-Match and If-Match.
    let same = scim
        .api
        .raw(Method::GET, &format!("{}/Users/{id}", scim.base), |r| {
            r.header("if-none-match", &etag)
        })
        .await;
    assert_eq!(same.status, 304);
    let stale = scim
        .api
        .raw(Method::PUT, &format!("{}/Users/{id}", scim.base), |r| {
            r.header("if-match", "W/\"1\"")
                .header("content-type", "application/scim+json")
                .body(json!({"schemas": [USER], "userName": "x@acme.example"}).to_string())
        })
        .await;
    scim_error(stale, 412, None);

    // PUT replaces: what is not sent is gone.
    let put = scim
        .send(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [USER], "userName": "ada.l@acme.example", "displayName": "Countess"})),
        )
        .await
        .expect_status(200);
    assert_eq!(put["userName"], "ada.l@acme.example");
    assert_eq!(put["displayName"], "Countess");
    assert!(put.get("name").is_none() && put.get(ENTERPRISE).is_none());
    assert_ne!(put["meta"]["version"], etag.as_str());

    // Uniqueness, and bad bodies.
    scim.user("bob@acme.example", json!({})).await;
    scim_error(
        scim.post(
            "/Users",
            json!({"schemas": [USER], "userName": "BOB@acme.example"}),
        )
        .await,
        409,
        Some("uniqueness"),
    );
    scim_error(
        scim.post("/Users", json!({"userName": "x@y.z"})).await,
        400,
        Some("invalidSyntax"),
    );
    scim_error(
        scim.post("/Users", json!({"schemas": [USER]})).await,
        400,
        Some("invalidValue"),
    );
    let not_json = scim
        .api
        .raw(Method::POST, &format!("{}/Users", scim.base), |r| {
            r.header("content-type", "application/scim+json").body("{")
        })
        .await;
    scim_error(not_json, 400, Some("invalidSyntax"));
    scim_error(
        scim.patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "groups", "value": []}]),
        )
        .await,
        400,
        Some("mutability"),
    );
    scim_error(scim.get("/Users/not-a-uuid").await, 404, None);
    scim_error(scim.get("/Nothing").await, 404, None);
    scim.send(Method::DELETE, &format!("/Users/{id}"), None)
        .await
        .expect_status(204);
    scim_error(scim.get(&format!("/Users/{id}")).await, 404, None);

    // Discovery.
    let config = scim.get("/ServiceProviderConfig").await.expect_status(200);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["filter"]["supported"], true);
    let types = scim.get("/ResourceTypes").await.expect_status(200);
    assert_eq!(types["totalResults"], 2);
    scim.get("/ResourceTypes/User").await.expect_status(200);
    let schemas = scim.get("/Schemas").await.expect_status(200);
    assert_eq!(schemas["totalResults"], 3);
    scim.get(&format!("/Schemas/{ENTERPRISE}"))
        .await
        .expect_status(200);
}
