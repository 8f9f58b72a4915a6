//! Serving the console from the axum server: the server-rendered pages under
//! `/console`, the browser half under `/pkg` and the stylesheet.

use std::path::PathBuf;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::{App, shell};

/// The name wasm-bindgen gives the browser half (`ditto_web.js`,
/// `ditto_web_bg.wasm`); scripts/build-web uses the same.
pub const OUTPUT_NAME: &str = "ditto_web";

const STYLESHEET: &str = include_str!("../style/console.css");

/// Where the built browser half is: `<dir>/pkg/ditto_web{.js,_bg.wasm}`.
#[derive(Clone, Debug)]
pub struct Assets {
    pub dir: PathBuf,
}

impl Assets {
    /// `DITTO_WEB_ASSETS`, else `site` next to the directory of the running
    /// binary (`target/debug/ditto` → `target/site`, where
    /// scripts/build-web puts it).
    pub fn from_env() -> Self {
        let dir = std::env::var_os("DITTO_WEB_ASSETS")
            .map(PathBuf::from)
            .or_else(|| {
                let exe = std::env::current_exe().ok()?;
                Some(exe.parent()?.parent()?.join("site"))
            })
            .unwrap_or_else(|| PathBuf::from("site"));
        Assets { dir }
    }

    fn pkg(&self) -> PathBuf {
        self.dir.join("pkg")
    }

    pub fn present(&self) -> bool {
        let pkg = self.pkg();
        pkg.join(format!("{OUTPUT_NAME}.js")).is_file()
            && pkg.join(format!("{OUTPUT_NAME}_bg.wasm")).is_file()
    }
}

/// The console's routes, to merge into the server's router.
pub fn router(assets: Assets) -> Router {
    if !assets.present() {
        tracing::error!(
            dir = %assets.dir.display(),
            "the console's browser assets are missing: run scripts/build-web, or point DITTO_WEB_ASSETS at them"
        );
        let page = missing_page(&assets);
        let missing = move || {
            let page = page.clone();
            async move {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static(STATIC_POLICY),
                    )],
                    Html(page),
                )
            }
        };
        return common()
            .route("/console", get(missing.clone()))
            .route("/console/{*rest}", get(missing));
    }
    let options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(assets.dir.display().to_string())
        .site_pkg_dir("pkg")
        .build();
    let routes = generate_route_list(App);
    common::<LeptosOptions>()
        .leptos_routes(&options, routes, {
            let options = options.clone();
            move || {
                content_security_policy();
                shell(options.clone())
            }
        })
        .nest_service("/pkg", ServeDir::new(assets.pkg()))
        .with_state(options)
        // The console is never framed (clickjacking) and never tells
        // other sites which page someone came from.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
}

/// Sets this page's Content-Security-Policy. Scripts run only from this
/// server or inline with this response's nonce, which Leptos puts on the
/// hydration scripts it writes; WebAssembly may be compiled (the browser
/// half); styles come from the stylesheet only (a style the code sets goes
/// through the CSSOM, which the policy allows); images from here or data:
/// URIs; nothing may frame the console, change its base URL or post a form
/// elsewhere. Sign-in through an identity provider leaves by navigation,
/// which the policy does not govern. Without a nonce no inline script runs.
fn content_security_policy() {
    let scripts = match leptos::nonce::use_nonce() {
        Some(nonce) => format!("'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"),
        None => "'self' 'wasm-unsafe-eval'".to_owned(),
    };
    let policy = format!(
        "default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'"
    );
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(&policy),
    ) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The policy of the page shown when the browser half is missing: it has
/// no script at all.
const STATIC_POLICY: &str = "default-src 'self'; script-src 'none'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

fn common<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console.css", get(stylesheet))
}

async fn stylesheet() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        STYLESHEET,
    )
        .into_response()
}

fn missing_page(assets: &Assets) -> String {
    let dir = assets.dir.display().to_string();
    let dir = dir.replace('&', "&amp;").replace('<', "&lt;");
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ditto console</title>\
         <link rel=\"stylesheet\" href=\"/console.css\"></head><body><main class=\"centered\">\
         <div class=\"card\"><h1>The console is not built</h1>\
         <p>Its browser half was not found in <code>{dir}/pkg</code>. Run <code>./scripts/build-web</code> \
         (or <code>./scripts/serve</code>, which does), or set <code>DITTO_WEB_ASSETS</code> to where it is.</p>\
         <p>The admin API at <a href=\"/api/v1/docs\">/api/v1</a> works without it.</p></div></main></body></html>"
    )
}
