//! SAML 2.0 single sign-on against a real identity provider (SimpleSAMLphp
//! from Debian, started per test): connections in the admin API, our
//! service provider metadata, full browser-less sign-ins (our start → the
//! provider's login form → the response posted to our ACS), JIT
//! provisioning with roles from the multi-valued `groups` attribute,
//! IdP-initiated sign-ins and the replay cache (Redis and Postgres), and
//! the refusals of responses SimpleSAMLphp would never send: unsigned,
//! modified, wrapped, signed with SHA-1 or another key, for another
//! audience, expired (crafted from a real response and signed with the
//! `xmlsec1` CLI as the provider would).

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ditto_testkit::saml::SimpleSamlPhp;
use ditto_testkit::{Api, Options, TestApp, quick_gateway_config, redis_url};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

pub(super) const SAML_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion";

/// A browser: cookies by name (ports do not separate cookies, as in
/// browsers), no automatic redirects.
pub(super) struct Browser {
    pub(super) http: reqwest::Client,
    pub(super) cookies: HashMap<String, String>,
}

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) location: Option<String>,
    pub(super) set_cookies: Vec<String>,
    pub(super) body: String,
}

impl Answer {
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The problem type's last segment (`sso-invalid-saml-response`).
    pub(super) fn problem(&self) -> String {
        self.json()["type"]
            .as_str()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    pub(super) fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A SAMLResponse the provider put in its auto-submitting form.
pub(super) struct Posting {
    pub(super) acs: String,
    pub(super) response: String,
    pub(super) relay_state: Option<String>,
}

pub(super) fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let rest = page.split(&marker).nth(1)?;
    Some(
        rest.split('"')
            .next()?
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#039;", "'"),
    )
}

impl Browser {
    pub(super) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    pub(super) async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if cookie.is_empty() {
            req
        } else {
            req.header(COOKIE, cookie)
        };
        let resp = req.send().await.expect("request");
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let gone = value.is_empty()
                || value == "deleted"
                || attrs.to_lowercase().contains("max-age=0");
            if gone {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        Answer {
            status: resp.status().as_u16(),
            location: resp
                .headers()
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookies,
            body: resp.text().await.unwrap_or_default(),
        }
    }

    pub(super) async fn get(&mut self, url: &str) -> Answer {
        let req = self.http.get(url);
        self.send(req).await
    }

    /// Follows redirects from `url` through the provider's login form as
    /// `user` to the page that posts the response; returns what it posts.
    pub(super) async fn through_provider(&mut self, mut url: String, user: &str) -> Posting {
        for _ in 0..10 {
            let answer = self.get(&url).await;
            let page = match answer.status {
                302 | 303 => {
                    let next = answer.location.expect("a redirect goes somewhere");
                    url = reqwest::Url::parse(&url)
                        .unwrap()
                        .join(&next)
                        .unwrap()
                        .to_string();
                    continue;
                }
                200 => answer.body,
                other => panic!("the provider answered {other} at {url}: {}", answer.body),
            };
            if let Some(response) = hidden(&page, "SAMLResponse") {
                let acs = page
                    .split("action=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .expect("the response form's action")
                    .replace("&amp;", "&");
                return Posting {
                    acs,
                    response,
                    relay_state: hidden(&page, "RelayState"),
                };
            }
            let state = hidden(&page, "AuthState")
                .unwrap_or_else(|| panic!("an unexpected page at {url}: {page}"));
            let target = reqwest::Url::parse(&url)
                .unwrap()
                .join("/module.php/core/loginuserpass.php")
                .unwrap();
            let form = [
                ("username", user.to_owned()),
                ("password", format!("{user}-password")),
                ("AuthState", state),
            ];
            let req = self.http.post(target.clone()).form(&form);
            let answer = self.send(req).await;
            match answer.status {
                200 => {
                    if let Some(response) = hidden(&answer.body, "SAMLResponse") {
                        let acs = answer
                            .body
                            .split("action=\"")
                            .nth(1)
                            .and_then(|rest| rest.split('"').next())
                            .expect("the response form's action")
                            .replace("&amp;", "&");
                        return Posting {
                            acs,
                            response,
                            relay_state: hidden(&answer.body, "RelayState"),
                        };
                    }
                    panic!("the login form did not sign in: {}", answer.body);
                }
                302 | 303 => {
                    url = target
                        .join(&answer.location.expect("a redirect"))
                        .unwrap()
                        .to_string();
                }
                other => panic!("the login form answered {other}: {}", answer.body),
            }
        }
        panic!("the provider never posted a response");
    }

    /// Starts a sign-in at our server (SP-initiated) and signs in at the
    /// provider; returns the response, not yet posted.
    pub(super) async fn start(&mut self, app: &TestApp, connection: &str, user: &str) -> Posting {
        let start = self
            .get(&format!(
                "{}/api/v1/auth/saml/{connection}/start?return_to=/console/home",
                app.base
            ))
            .await;
        assert_eq!(start.status, 302, "start: {}", start.body);
        let cookie = start
            .set_cookies
            .iter()
            .find(|c| c.starts_with("ditto_saml="))
            .expect("the sign-in cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("Max-Age=600"));
        assert!(cookie.contains("Path=/api/v1/auth/saml"), "{cookie}");
        let url = start.location.expect("to the provider");
        assert!(url.contains("SAMLRequest="), "{url}");
        self.through_provider(url, user).await
    }

    /// Posts `response` to the ACS as the provider's form would.
    pub(super) async fn post(
        &mut self,
        acs: &str,
        response: &str,
        relay_state: Option<&str>,
    ) -> Answer {
        let mut form = vec![("SAMLResponse", response.to_owned())];
        if let Some(relay) = relay_state {
            form.push(("RelayState", relay.to_owned()));
        }
        let req = self.http.post(acs).form(&form);
        self.send(req).await
    }

    pub(super) fn session(&self) -> Option<&String> {
        self.cookies.get("ditto_session")
    }

    pub(super) async fn me(&self, app: &TestApp) -> (u16, Value) {
        let mut req = reqwest::Client::new().get(format!("{}/api/v1/me", app.base));
        if let Some(s) = self.session() {
            req = req.header(COOKIE, format!("ditto_session={s}"));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

pub(super) struct Setup {
    pub(super) app: TestApp,
    pub(super) idp: SimpleSamlPhp,
    pub(super) admin: Api,
}

pub(super) async fn setup_with(tenant: &str, options: Options) -> Setup {
    let app = TestApp::spawn_with(options).await;
    let idp = SimpleSamlPhp::start().await;
    app.tenant(tenant).await;
    let admin = app.tenant_member(tenant).await;
    Setup { app, idp, admin }
}

pub(super) async fn setup(tenant: &str) -> Setup {
    setup_with(
        tenant,
        Options {
            gateway: quick_gateway_config(),
            ..Options::default()
        },
    )
    .await
}

/// Adds a SAML connection to the provider (by its metadata URL) with
/// `extra` fields, and registers it at the provider; returns its JSON.
pub(super) async fn connection(s: &Setup, tenant: &str, extra: Value) -> Value {
    let mut body = json!({
        "name": format!("saml-{}", uuid::Uuid::now_v7().simple()),
        "idp_metadata_url": s.idp.metadata_url(),
        "claims": {"email": "mail", "name": "displayName", "groups": "groups"},
        "jit_provisioning": true,
        "group_role_mappings": [
            {"group": "engineering", "role": "developer"},
            {"group": "audit", "role": "auditor"},
        ],
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let conn = s
        .admin
        .post(&format!("/api/v1/tenants/{tenant}/saml-connections"), body)
        .await
        .expect_status(201);
    s.idp.add_sp(
        conn["client_id"].as_str().unwrap(),
        &format!("{}{}", s.app.base, conn["callback_path"].as_str().unwrap()),
    );
    conn
}

pub(super) fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

pub(super) fn decode(response: &str) -> String {
    String::from_utf8(STANDARD.decode(response).unwrap()).unwrap()
}

pub(super) fn encode(xml: &str) -> String {
    STANDARD.encode(xml)
}

/// The response without its outer (Response) signature: what is left is
/// signed on the assertion only, as many providers send it.
pub(super) fn without_response_signature(xml: &str) -> String {
    let assertion = xml.find("<saml:Assertion").expect("an assertion");
    let start = xml[..assertion]
        .find("<ds:Signature")
        .expect("a response signature");
    let end = xml[start..].find("</ds:Signature>").unwrap() + start + "</ds:Signature>".len();
    format!("{}{}", &xml[..start], &xml[end..])
}

/// The signature algorithms a forged response is signed with.
#[derive(Clone, Copy)]
pub(super) enum Alg {
    RsaSha256,
    RsaSha1,
    EcdsaSha256,
}

/// Signs the (only remaining) assertion signature again with the key in
/// `key`/`cert` (PEM) and `alg`, as `xmlsec1` does for any provider.
pub(super) fn sign_assertion(xml: &str, key: &Path, cert: &Path, alg: Alg) -> String {
    let (method, digest) = match alg {
        Alg::RsaSha256 => (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ),
        Alg::RsaSha1 => (
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        ),
        Alg::EcdsaSha256 => (
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ),
    };
    // SimpleSAMLphp signs with RSA-SHA256.
    let xml = xml
        .replace("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", method)
        .replace("http://www.w3.org/2001/04/xmlenc#sha256", digest);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.xml");
    let output = dir.path().join("out.xml");
    std::fs::write(&input, xml).unwrap();
    let result = std::process::Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(format!("{},{}", key.display(), cert.display()))
        .args(["--id-attr:ID", SAML_NS, "--output"])
        .arg(&output)
        .arg(&input)
        .output()
        .expect("xmlsec1 runs (apt-get install xmlsec1)");
    assert!(
        result.status.success(),
        "xmlsec1: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::read_to_string(output).unwrap()
}

/// Replaces every `name="…"` attribute value in `xml`.
pub(super) fn set_attribute(xml: &str, name: &str, value: &str) -> String {
    let marker = format!(" {name}=\"");
    let mut out = String::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&marker) {
        let value_start = at + marker.len();
        out.push_str(&rest[..value_start]);
        out.push_str(value);
        let close = rest[value_start..].find('"').unwrap() + value_start;
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

/// A one-request HTTP server that answers `response` (raw bytes); its URL.
pub(super) fn serve_once(response: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metadata", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            // The client may hang up early (a body it will not read).
            let _ = std::io::Write::write_all(&mut stream, &response);
        }
    });
    url
}

/// A fresh key pair (PEM) in `dir`: RSA, or EC on P-256.
pub(super) fn key_pair(dir: &Path, ec: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let kind: &[&str] = if ec {
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    } else {
        &["-newkey", "rsa:2048"]
    };
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=test"])
        .args(kind)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (key, cert)
}

#[tokio::test]
async fn a_full_sign_in_provisions_the_user_and_maps_groups_to_roles() {
    let s = setup("acme").await;
    let conn = connection(&s, "acme", json!({})).await;
    let cid = id(&conn);
    assert_eq!(conn["protocol"], "saml");
    assert_eq!(conn["issuer"], s.idp.metadata_url());
    let metadata_path = format!("/api/v1/auth/saml/{cid}/metadata");
    assert_eq!(conn["saml"]["sp_metadata_path"], metadata_path);
    assert_eq!(conn["client_id"], format!("{}{metadata_path}", s.app.base));
    assert_eq!(
        conn["callback_path"],
        format!("/api/v1/auth/saml/{cid}/acs")
    );
    assert_eq!(conn["login_url"], format!("/api/v1/auth/saml/{cid}/start"));
    assert_eq!(conn["saml"]["idp_signing_certificates"], 1);
    assert_eq!(conn["saml"]["idp_metadata_url"], s.idp.metadata_url());
    assert_eq!(
        conn["saml"]["idp_sso_url"],
        format!("{}/saml2/idp/SSOService.php", s.idp.base)
    );
    assert_eq!(conn["scopes"], json!([]));
    // Listed with the OIDC connections, in the same shape.
    let list = s
        .admin
        .get("/api/v1/tenants/acme/sso-connections")
        .await
        .expect_status(200);
    assert_eq!(list["items"][0]["protocol"], "saml");
    assert_eq!(list["items"][0]["saml"], conn["saml"]);

    // Our metadata is public and names our entity id and ACS.
    let metadata = reqwest::get(format!("{}{metadata_path}", s.app.base))
        .await
        .unwrap();
    assert_eq!(metadata.status(), 200);
    assert_eq!(
        metadata.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let metadata = metadata.text().await.unwrap();
    assert!(
        metadata.contains(&format!(
            r#"entityID="{}""#,
            conn["client_id"].as_str().unwrap()
        )),
        "{metadata}"
    );
    assert!(metadata.contains(&format!(
        r#"Location="{}/api/v1/auth/saml/{cid}/acs""#,
        s.app.base
    )));

    let mut browser = Browser::new();
    let posting = browser.start(&s.app, &cid, "ada").await;
    assert_eq!(
        posting.acs,
        format!("{}/api/v1/auth/saml/{cid}/acs", s.app.base)
    );
    let done = browser.post(&posting.acs, &posting.response, None).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/console/home"));
    assert!(
        done.set_cookies
            .iter()
            .any(|c| c.starts_with("ditto_session=") && c.contains("HttpOnly"))
    );
    assert!(
        !browser.cookies.contains_key("ditto_saml"),
        "the sign-in cookie is cleared"
    );

    // The user was made from the assertion's attributes, with the roles
    // the multi-valued groups attribute maps to.
    let (status, me) = browser.me(&s.app).await;
    assert_eq!(status, 200, "{me}");
    let mut roles: Vec<&str> = me["tenants"][0]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    roles.sort();
    assert_eq!(roles, ["auditor", "developer"]);
    let users = s
        .admin
        .get("/api/v1/tenants/acme/users?q=ada")
        .await
        .expect_status(200);
    assert_eq!(users["items"][0]["email"], "ada@acme.example");
    assert_eq!(users["items"][0]["display_name"], "Ada Lovelace");
    let audit = s
        .admin
        .get("/api/v1/tenants/acme/audit?action=auth.sign_in")
        .await
        .expect_status(200);
    assert_eq!(audit["items"][0]["after"]["method"], "saml", "{audit}");

    // The same response again, in the same browser: the sign-in it
    // answered is spent.
    let mut again = Browser::new();
    again.cookies = browser.cookies.clone();
    again.cookies.remove("ditto_session");
    let replay = again.post(&posting.acs, &posting.response, None).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert_eq!(replay.problem(), "sso-invalid-state");
    assert!(again.session().is_none());

    // A second sign-in finds the linked account (no second user).
    let mut second = Browser::new();
    let posting = second.start(&s.app, &cid, "ada").await;
    let done = second.post(&posting.acs, &posting.response, None).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let users = s
        .admin
        .get("/api/v1/tenants/acme/users?q=ada")
        .await
        .expect_status(200);
    assert_eq!(users["items"].as_array().unwrap().len(), 1);
}

/// IdP-initiated sign-ins: refused until the connection allows them, then
/// accepted once per assertion (the replay cache in Redis or Postgres);
/// a response that answers a request is not taken as unsolicited.
pub(super) async fn idp_initiated(options: Options) {
    let s = setup_with("acme", options).await;
    let conn = connection(&s, "acme", json!({})).await;
    let cid = id(&conn);
    let entity = conn["client_id"].as_str().unwrap().to_owned();

    let mut browser = Browser::new();
    let posting = browser
        .through_provider(s.idp.idp_initiated_url(&entity), "grace")
        .await;
    let refused = browser.post(&posting.acs, &posting.response, None).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.problem(), "sso-invalid-state");
    assert!(browser.session().is_none());

    s.admin
        .patch(
            &format!("/api/v1/tenants/acme/saml-connections/{cid}"),
            json!({"allow_idp_initiated": true}),
        )
        .await
        .expect_status(200);
    let mut browser = Browser::new();
    let posting = browser
        .through_provider(s.idp.idp_initiated_url(&entity), "grace")
        .await;
    let done = browser
        .post(&posting.acs, &posting.response, Some("/console/usage"))
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/console/usage"));
    assert!(browser.session().is_some());

    // The same assertion again, from another browser.
    let mut thief = Browser::new();
    let replay = thief
        .post(
            &posting.acs,
            &posting.response,
            posting.relay_state.as_deref(),
        )
        .await;
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert_eq!(replay.problem(), "sso-saml-replayed");
    assert!(thief.session().is_none());

    // An answer to another browser's request is not unsolicited.
    let mut starter = Browser::new();
    let posting = starter.start(&s.app, &cid, "grace").await;
    let mut other = Browser::new();
    let stolen = other.post(&posting.acs, &posting.response, None).await;
    assert_eq!(stolen.status, 401, "{}", stolen.body);
    assert_eq!(stolen.problem(), "sso-invalid-saml-response");
    assert!(stolen.detail().contains("InResponseTo"), "{}", stolen.body);
    assert!(other.session().is_none());
}

#[tokio::test]
async fn idp_initiated_sign_ins_are_allowed_per_connection_and_work_once_with_redis() {
    idp_initiated(Options {
        gateway: quick_gateway_config(),
        redis_url: Some(redis_url()),
        ..Options::default()
    })
    .await;
}

#[tokio::test]
async fn idp_initiated_sign_ins_are_allowed_per_connection_and_work_once_with_postgres() {
    idp_initiated(Options {
        gateway: quick_gateway_config(),
        ..Options::default()
    })
    .await;
}

#[tokio::test]
async fn forged_and_tampered_responses_are_refused() {
    let s = setup("acme").await;
    let conn = connection(&s, "acme", json!({})).await;
    let cid = id(&conn);
    let (key, cert) = (s.idp.key_pem(), s.idp.cert_pem());
    let stranger = tempfile::tempdir().unwrap();
    let (stranger_key, stranger_cert) = key_pair(stranger.path(), false);

    let long_ago = (chrono::Utc::now() - chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    type Forge = Box<dyn Fn(&str) -> String>;
    let (k, c) = (key.clone(), cert.clone());
    let resign =
        move |xml: &str| sign_assertion(&without_response_signature(xml), &k, &c, Alg::RsaSha256);
    let cases: Vec<(&str, Forge, &str)> = vec![
        (
            "unsigned",
            Box::new(|xml: &str| {
                let mut xml = xml.to_owned();
                while let Some(start) = xml.find("<ds:Signature") {
                    let end = xml[start..].find("</ds:Signature>").unwrap()
                        + start
                        + "</ds:Signature>".len();
                    xml.replace_range(start..end, "");
                }
                xml
            }),
            "no signature",
        ),
        (
            "a modified assertion",
            Box::new(|xml: &str| xml.replace("ada@acme.example", "eve@acme.example")),
            "signature",
        ),
        (
            // XSW: an unsigned assertion for eve before the signed one
            // (whose signature still verifies).
            "a wrapped assertion",
            Box::new(|xml: &str| {
                let xml = without_response_signature(xml);
                let start = xml.find("<saml:Assertion").unwrap();
                let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
                let signed = &xml[start..end];
                let sig_start = signed.find("<ds:Signature").unwrap();
                let sig_end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
                let evil = format!("{}{}", &signed[..sig_start], &signed[sig_end..])
                    .replace("ada@acme.example", "eve@acme.example")
                    .replacen(" ID=\"", " ID=\"evil", 1);
                format!("{}{evil}{}", &xml[..start], &xml[start..])
            }),
            "exactly one",
        ),
        (
            "a SHA-1 signature",
            {
                let (k, c) = (key.clone(), cert.clone());
                Box::new(move |xml: &str| {
                    sign_assertion(&without_response_signature(xml), &k, &c, Alg::RsaSha1)
                })
            },
            "only RSA-SHA256 and ECDSA-SHA256",
        ),
        (
            "a signature by another key",
            {
                let (k, c) = (stranger_key.clone(), stranger_cert.clone());
                Box::new(move |xml: &str| {
                    sign_assertion(&without_response_signature(xml), &k, &c, Alg::RsaSha256)
                })
            },
            "signature",
        ),
        (
            "another audience",
            {
                let resign = resign.clone();
                Box::new(move |xml: &str| {
                    let start = xml.find("<saml:Audience>").unwrap() + "<saml:Audience>".len();
                    let end = xml.find("</saml:Audience>").unwrap();
                    resign(&format!("{}urn:someone-else{}", &xml[..start], &xml[end..]))
                })
            },
            "audience",
        ),
        (
            "an expired assertion",
            {
                let resign = resign.clone();
                let long_ago = long_ago.clone();
                Box::new(move |xml: &str| {
                    let xml = set_attribute(xml, "NotOnOrAfter", &long_ago);
                    let xml = set_attribute(&xml, "IssueInstant", &long_ago);
                    resign(&set_attribute(&xml, "NotBefore", &long_ago))
                })
            },
            "expired",
        ),
    ];

    // The crafting itself is sound: re-signed unchanged, a response passes.
    let mut browser = Browser::new();
    let posting = browser.start(&s.app, &cid, "ada").await;
    let control = encode(&resign(&decode(&posting.response)));
    let done = browser.post(&posting.acs, &control, None).await;
    assert_eq!(done.status, 303, "a re-signed response: {}", done.body);

    for (what, forge, reason) in cases {
        let mut browser = Browser::new();
        let posting = browser.start(&s.app, &cid, "ada").await;
        let forged = encode(&forge(&decode(&posting.response)));
        let refused = browser.post(&posting.acs, &forged, None).await;
        assert_eq!(refused.status, 401, "{what}: {}", refused.body);
        assert_eq!(refused.problem(), "sso-invalid-saml-response", "{what}");
        assert!(
            refused
                .detail()
                .to_lowercase()
                .contains(&reason.to_lowercase()),
            "{what}: {}",
            refused.body
        );
        assert!(browser.session().is_none(), "{what}");
        assert!(
            refused
                .set_cookies
                .iter()
                .any(|c| c.starts_with("ditto_saml=;")),
            "{what}: the sign-in ends"
        );
    }
    let eve = s
        .admin
        .get("/api/v1/tenants/acme/users?q=eve")
        .await
        .expect_status(200);
    assert_eq!(eve["items"], json!([]));
}
