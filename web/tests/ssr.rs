//! The server half of the console: pages render on the server with the
//! script that hydrates them, the built browser half is served, and without
//! it the console says how to build it. (The browser half is tested in a real
//! browser by e2e/console.sh.)

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use ditto_web::server::{Assets, router};
use tower::ServiceExt;

async fn get(app: &Router, path: &str) -> (StatusCode, header::HeaderMap, String) {
    let response = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// The nonce of a page's Content-Security-Policy, after checking the policy
/// is strict and that every script in the page carries that nonce.
fn nonce_of(headers: &header::HeaderMap, html: &str) -> String {
    let policy = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii");
    for directive in [
        "default-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "'wasm-unsafe-eval'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let nonce = policy
        .split("script-src 'self' 'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {policy}"))
        .to_owned();
    assert!(nonce.len() >= 16, "{nonce}");
    let scripts: Vec<&str> = html
        .match_indices("<script")
        .map(|(at, _)| html[at..].split('>').next().unwrap_or_default())
        .collect();
    assert!(!scripts.is_empty(), "{html}");
    for tag in scripts {
        assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "{tag}");
    }
    nonce
}

fn built_assets() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let pkg = dir.path().join("pkg");
    std::fs::create_dir(&pkg).expect("pkg");
    std::fs::write(
        pkg.join("ditto_web.js"),
        "export default function init() {}",
    )
    .expect("js");
    std::fs::write(pkg.join("ditto_web_bg.wasm"), b"\0asm").expect("wasm");
    dir
}

#[tokio::test]
async fn a_page_renders_on_the_server_with_its_hydration_script() {
    let _ = any_spawner::Executor::init_tokio();
    let dir = built_assets();
    let app = router(Assets {
        dir: dir.path().to_path_buf(),
    });

    let (status, headers, html) = get(&app, "/console/sign-in").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Sign in to Ditto"), "{html}");
    assert!(html.contains("/console.css"), "{html}");
    assert!(html.contains("ditto_web"), "no hydration script: {html}");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");

    // A strict policy naming this response's nonce, which every inline
    // script carries; the next response has another.
    let nonce = nonce_of(&headers, &html);
    let (_, again, html) = get(&app, "/console/sign-in").await;
    assert_ne!(nonce_of(&again, &html), nonce);

    // Data is fetched in the browser: the server renders the loading state.
    let (status, _, html) = get(&app, "/console/t/acme/projects").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Loading"), "{html}");
    assert!(!html.contains("support-bot"));

    let (status, _, js) = get(&app, "/pkg/ditto_web.js").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(js, "export default function init() {}");

    let (status, headers, _) = get(&app, "/").await;
    assert!(status.is_redirection());
    assert_eq!(headers[header::LOCATION], "/console");

    let (status, headers, css) = get(&app, "/console.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/css")
    );
    assert!(css.contains(".topbar"));
}

#[tokio::test]
async fn without_its_browser_half_the_console_says_how_to_build_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = router(Assets {
        dir: dir.path().to_path_buf(),
    });
    for path in ["/console", "/console/t/acme/keys"] {
        let (status, headers, html) = get(&app, path).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap_or_default()
                .contains("script-src 'none'")
        );
        assert!(html.contains("scripts/build-web"), "{html}");
        assert!(html.contains("DITTO_WEB_ASSETS"), "{html}");
    }
}
