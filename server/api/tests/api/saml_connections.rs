//! SAML connections: checked when saved and kept to their tenant, ECDSA
//! signatures, linking accounts by email, our entity id and ACS URL, and the
//! ceiling of who a connection can sign in.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ditto_testkit::{Options, TestApp, quick_gateway_config};
use reqwest::header::LOCATION;
use serde_json::json;

use super::saml::*;

#[tokio::test]
async fn connections_are_checked_when_saved_and_belong_to_their_tenant() {
    let s = setup("acme").await;
    s.app.tenant("other").await;
    let base = "/api/v1/tenants/acme/saml-connections";
    let fixture = ditto_testkit::saml::metadata_fixture();

    let no_key = fixture
        .replace("<md:KeyDescriptor", "<!--")
        .replace("</md:KeyDescriptor>", "-->");
    let refused = s
        .admin
        .post(base, json!({"name": "x", "idp_metadata_xml": no_key}))
        .await
        .expect_problem(422);
    assert!(
        refused.to_string().contains("signing certificate"),
        "{refused}"
    );
    let refused = s
        .admin
        .post(base, json!({"name": "x"}))
        .await
        .expect_problem(422);
    assert!(
        refused.to_string().contains("idp_metadata_url"),
        "{refused}"
    );
    let both = s
        .admin
        .post(
            base,
            json!({"name": "x", "idp_metadata_xml": fixture, "idp_metadata_url": s.idp.metadata_url()}),
        )
        .await
        .invalid_fields();
    assert_eq!(both, ["/idp_metadata_xml"]);
    let fields = s
        .admin
        .post(
            base,
            json!({"name": "", "idp_metadata_xml": fixture, "name_id_format": "email",
                   "sp_entity_id": "not a uri"}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/name", "/sp_entity_id", "/name_id_format"]);
    let refused = s
        .admin
        .post(
            base,
            json!({"name": "x", "idp_metadata_url": format!("{}/nothing-here", s.idp.base)}),
        )
        .await
        .expect_problem(422);
    assert!(
        refused.to_string().contains("idp_metadata_url"),
        "{refused}"
    );

    // Metadata URLs are not followed elsewhere, and are read up to 1 MiB.
    let redirect = serve_once(
        b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/x\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
    );
    let declared = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n".to_vec());
    let mut endless = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    endless.extend(std::iter::repeat_n(b' ', 1100 * 1024));
    let endless = serve_once(endless);
    for (url, why) in [
        (redirect, "302"),
        (declared, "larger than 1 MiB"),
        (endless, "larger than 1 MiB"),
    ] {
        let refused = s
            .admin
            .post(base, json!({"name": "x", "idp_metadata_url": url}))
            .await
            .expect_problem(422);
        assert!(refused.to_string().contains(why), "{why}: {refused}");
    }

    // Inline metadata, our own entity id and a NameID format.
    let conn = s
        .admin
        .post(
            base,
            json!({"name": "inline", "idp_metadata_xml": fixture,
                   "sp_entity_id": "urn:ditto:acme",
                   "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"}),
        )
        .await
        .expect_status(201);
    assert_eq!(conn["client_id"], "urn:ditto:acme");
    assert_eq!(conn["issuer"], "urn:ditto:test:fixture-idp");
    assert!(conn["saml"].get("idp_metadata_url").is_none());
    let cid = id(&conn);
    let metadata = reqwest::get(format!("{}/api/v1/auth/saml/{cid}/metadata", s.app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metadata.contains("nameid-format:persistent"), "{metadata}");
    // The start names our entity id and ACS in the request.
    let start = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/api/v1/auth/saml/{cid}/start", s.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let location = start.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:9/sso?SAMLRequest="),
        "{location}"
    );

    // Not made through the OIDC create either.
    let fields = s
        .admin
        .post(
            "/api/v1/tenants/acme/sso-connections",
            json!({"name": "y", "protocol": "saml", "issuer": ditto_testkit::oidc::discovery_fixture(),
                   "client_id": "c"}),
        )
        .await
        .invalid_fields();
    assert_eq!(fields, ["/protocol"]);

    // Changed through saml-connections, not the OIDC update.
    let patched = s
        .admin
        .patch(
            &format!("{base}/{cid}"),
            json!({"clear_name_id_format": true, "enabled": false}),
        )
        .await
        .expect_status(200);
    assert!(patched["saml"].get("name_id_format").is_none());
    s.admin
        .patch(
            &format!("/api/v1/tenants/acme/sso-connections/{cid}"),
            json!({"name": "renamed"}),
        )
        .await
        .expect_problem(409);
    // Switched off: no sign-in starts.
    let off = reqwest::get(format!("{}/api/v1/auth/saml/{cid}/start", s.app.base))
        .await
        .unwrap();
    assert_eq!(off.status(), 404);

    // Another tenant's connection is not there for acme's admin.
    let theirs = s.app.tenant_member("other").await;
    let other = theirs
        .post(
            "/api/v1/tenants/other/saml-connections",
            json!({"name": "theirs", "idp_metadata_xml": fixture}),
        )
        .await
        .expect_status(201);
    s.admin
        .get(&format!(
            "/api/v1/tenants/acme/sso-connections/{}",
            id(&other)
        ))
        .await
        .expect_problem(404);
    s.admin
        .patch(&format!("{base}/{}", id(&other)), json!({"name": "mine"}))
        .await
        .expect_problem(404);

    // An OIDC connection is not a SAML one.
    let oidc = s
        .admin
        .post(
            "/api/v1/tenants/acme/sso-connections",
            json!({"name": "oidc", "issuer": ditto_testkit::oidc::discovery_fixture(),
                   "client_id": "c"}),
        )
        .await
        .expect_status(201);
    s.admin
        .patch(&format!("{base}/{}", id(&oidc)), json!({"name": "x"}))
        .await
        .expect_problem(404);
    let not_saml = reqwest::get(format!(
        "{}/api/v1/auth/saml/{}/metadata",
        s.app.base,
        id(&oidc)
    ))
    .await
    .unwrap();
    assert_eq!(not_saml.status(), 404);
    // Nor is a SAML connection an OIDC one.
    let not_oidc = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "{}/api/v1/auth/sso/{}/start",
            s.app.base,
            id(&other)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(not_oidc.status(), 404);
}

#[tokio::test]
async fn ecdsa_sha256_signatures_are_accepted_too() {
    let s = setup("acme").await;
    let conn = connection(&s, "acme", json!({})).await;
    let cid = id(&conn);
    // The provider's metadata with an EC signing certificate besides its
    // RSA one.
    let dir = tempfile::tempdir().unwrap();
    let (ec_key, ec_cert) = key_pair(dir.path(), true);
    let pem = std::fs::read_to_string(&ec_cert).unwrap();
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let metadata = reqwest::get(s.idp.metadata_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last = metadata.rfind("</md:KeyDescriptor>").unwrap() + "</md:KeyDescriptor>".len();
    let metadata = format!(
        r#"{}<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>{}"#,
        &metadata[..last],
        &metadata[last..]
    );
    let patched = s
        .admin
        .patch(
            &format!("/api/v1/tenants/acme/saml-connections/{cid}"),
            json!({"idp_metadata_xml": metadata}),
        )
        .await
        .expect_status(200);
    assert_eq!(patched["saml"]["idp_signing_certificates"], 2);
    assert!(patched["saml"].get("idp_metadata_url").is_none());

    let mut browser = Browser::new();
    let posting = browser.start(&s.app, &cid, "grace").await;
    let xml = decode(&posting.response);
    let ec = sign_assertion(
        &without_response_signature(&xml),
        &ec_key,
        &ec_cert,
        Alg::EcdsaSha256,
    );
    assert!(ec.contains("#ecdsa-sha256"));
    let done = browser.post(&posting.acs, &encode(&ec), None).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(browser.session().is_some());
}

#[tokio::test]
async fn accounts_link_by_email_and_disabled_users_stay_out() {
    let s = setup("acme").await;
    let conn = id(&connection(&s, "acme", json!({"jit_provisioning": false})).await);
    let sign_in = |user: &'static str| {
        let app = &s.app;
        let conn = conn.clone();
        async move {
            let mut browser = Browser::new();
            let posting = browser.start(app, &conn, user).await;
            let answer = browser.post(&posting.acs, &posting.response, None).await;
            (browser, answer)
        }
    };

    // No account and no JIT.
    let (browser, answer) = sign_in("grace").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(answer.problem(), "sso-access-denied");
    assert!(browser.session().is_none());

    // The account with the asserted email is linked; no new user.
    let user = s
        .admin
        .post(
            "/api/v1/tenants/acme/users",
            json!({"email": "Grace@acme.example"}),
        )
        .await
        .expect_status(201);
    // Only once the tenant has verified the email's domain.
    let (_, answer) = sign_in("grace").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("domain"), "{}", answer.body);
    super::sso::verify_domain(&s.app, "acme", "acme.example").await;
    let (browser, answer) = sign_in("grace").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let (_, me) = browser.me(&s.app).await;
    assert_eq!(me["subject_id"], user["id"]);

    // Disabled: refused, even through the link.
    s.admin
        .patch(
            &format!("/api/v1/tenants/acme/users/{}", id(&user)),
            json!({"status": "disabled"}),
        )
        .await
        .expect_status(200);
    let (browser, answer) = sign_in("grace").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("disabled"), "{}", answer.body);
    assert!(browser.session().is_none());
}

#[tokio::test]
async fn the_public_url_builds_our_entity_id_and_acs_url() {
    let mut identity = ditto_testkit::test_identity();
    identity.public_url =
        Some(ditto_identity::public_url::PublicUrl::parse("https://ditto.example.com/").unwrap());
    let app = TestApp::spawn_with(Options {
        gateway: quick_gateway_config(),
        identity: Some(identity),
        ..Options::default()
    })
    .await;
    app.tenant("acme").await;
    let admin = app.tenant_member("acme").await;
    let conn = admin
        .post(
            "/api/v1/tenants/acme/saml-connections",
            json!({"name": "p", "idp_metadata_xml": ditto_testkit::saml::metadata_fixture()}),
        )
        .await
        .expect_status(201);
    let cid = id(&conn);
    assert_eq!(
        conn["client_id"],
        format!("https://ditto.example.com/api/v1/auth/saml/{cid}/metadata")
    );
    // Whatever Host the request names.
    let metadata = reqwest::Client::new()
        .get(format!("{}/api/v1/auth/saml/{cid}/metadata", app.base))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metadata.contains(&format!(
            r#"Location="https://ditto.example.com/api/v1/auth/saml/{cid}/acs""#
        )),
        "{metadata}"
    );
    let start = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/api/v1/auth/saml/{cid}/start", app.base))
        .send()
        .await
        .unwrap();
    let location = start.headers()[LOCATION].to_str().unwrap().to_owned();
    let request = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| v.into_owned())
        .expect("a SAMLRequest");
    let deflated = STANDARD.decode(request).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::DeflateDecoder::new(&deflated[..]),
        &mut xml,
    )
    .unwrap();
    assert!(
        xml.contains(&format!(
            r#"AssertionConsumerServiceURL="https://ditto.example.com/api/v1/auth/saml/{cid}/acs""#
        )),
        "{xml}"
    );
}

#[tokio::test]
async fn an_admins_saml_connection_cannot_sign_anyone_in_as_an_owner() {
    let s = setup("acme").await;
    super::sso::verify_domain(&s.app, "acme", "acme.example").await;
    super::sso::owner(&s.app, "acme", "grace@acme.example").await;
    // s.admin holds `admin`: its identity provider asserts the owner's email.
    let conn = id(&connection(&s, "acme", json!({"jit_provisioning": false})).await);
    let mut browser = Browser::new();
    let posting = browser.start(&s.app, &conn, "grace").await;
    let answer = browser.post(&posting.acs, &posting.response, None).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("holds more"), "{}", answer.body);
    assert!(browser.session().is_none());
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM sso_identities")
        .fetch_one(s.app.store.pool())
        .await
        .unwrap();
    assert_eq!(links, 0);
}
