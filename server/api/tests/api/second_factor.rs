//! The TOTP second factor of local sign-in: enrolment, codes that work
//! once, recovery codes, and that none of its secrets reach the audit trail.

use ditto_identity::totp;
use ditto_testkit::TestApp;
use serde_json::json;

use super::sign_in::{Browser, PASSWORD, audit_actions, signed_in};

/// An authenticator app's reading of the secret it was shown.
pub(super) fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The current code, and the one of the next step (a code works once).
fn codes(secret: &[u8]) -> (String, String) {
    let step = totp::step_of(chrono::Utc::now().timestamp());
    (
        totp::code_at_step(secret, step),
        totp::code_at_step(secret, step + 1),
    )
}

#[tokio::test]
async fn a_second_factor_once_enrolled_is_required() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (user, browser) = signed_in(&app, "ada@acme.example", "admin").await;

    let enrolment = browser
        .post("/api/v1/me/totp", json!(null))
        .await
        .expect_status(200);
    let secret = base32_decode(enrolment["secret"].as_str().unwrap());
    assert!(
        enrolment["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Ditto%20(acme):ada@acme.example?secret=")
    );
    // Not required until confirmed; a wrong code does not confirm.
    browser
        .post("/api/v1/me/totp/confirm", json!({"code": "000000"}))
        .await
        .expect_problem(422);
    let (now, next) = codes(&secret);
    let recovery = browser
        .post("/api/v1/me/totp/confirm", json!({"code": now}))
        .await
        .expect_status(200);
    let recovery: Vec<String> = recovery["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    // Enrolling again is refused while it is enabled.
    browser
        .post("/api/v1/me/totp", json!(null))
        .await
        .expect_problem(409);

    let mut other = Browser::new(&app);
    let p = other
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_problem(401);
    assert!(
        p["type"]
            .as_str()
            .unwrap()
            .ends_with("/second-factor-required")
    );
    // The code used to confirm cannot be used again; the next one works once.
    other
        .sign_in(
            "acme",
            "ada@acme.example",
            PASSWORD,
            json!({"totp_code": now}),
        )
        .await
        .expect_problem(401);
    let signed = other
        .sign_in(
            "acme",
            "ada@acme.example",
            PASSWORD,
            json!({"totp_code": next}),
        )
        .await
        .expect_status(200);
    assert_eq!(signed["session"]["method"], "password_totp");
    assert_eq!(signed["recovery_codes_left"], 10);
    Browser::new(&app)
        .sign_in(
            "acme",
            "ada@acme.example",
            PASSWORD,
            json!({"totp_code": next}),
        )
        .await
        .expect_problem(401);
    // A wrong password with a right code is still wrong.
    Browser::new(&app)
        .sign_in(
            "acme",
            "ada@acme.example",
            "wrong password!",
            json!({"totp_code": next}),
        )
        .await
        .expect_problem(401);

    // A recovery code stands in for a code, once, typed any way.
    let typed = recovery[0].to_uppercase().replace('-', " ");
    let signed = Browser::new(&app)
        .sign_in(
            "acme",
            "ada@acme.example",
            PASSWORD,
            json!({"recovery_code": typed}),
        )
        .await
        .expect_status(200);
    assert_eq!(signed["session"]["method"], "password_recovery_code");
    assert_eq!(signed["recovery_codes_left"], 9);
    Browser::new(&app)
        .sign_in(
            "acme",
            "ada@acme.example",
            PASSWORD,
            json!({"recovery_code": recovery[0]}),
        )
        .await
        .expect_problem(401);

    // An administrator resets it (lost phone); then a password is enough.
    let state = app
        .admin()
        .get(&format!("/api/v1/tenants/acme/users/{user}/sign-in"))
        .await
        .expect_status(200);
    assert_eq!(state["totp_enabled"], true);
    app.admin()
        .delete(&format!("/api/v1/tenants/acme/users/{user}/totp"))
        .await
        .expect_status(204);
    Browser::new(&app)
        .sign_in("acme", "ada@acme.example", PASSWORD, json!({}))
        .await
        .expect_status(200);
    let actions = audit_actions(&app, "acme").await;
    for action in ["credentials.totp_enable", "credentials.totp_reset"] {
        assert!(actions.contains(&action.to_owned()), "{action}");
    }
    // The audit trail holds no secret of the enrolment.
    let trail = app
        .admin()
        .get("/api/v1/tenants/acme/audit?limit=200")
        .await
        .text;
    assert!(!trail.contains(enrolment["secret"].as_str().unwrap()));
    assert!(!trail.contains(&recovery[1]));
}
