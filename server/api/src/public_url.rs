//! Absolute URLs of this server: from `DITTO_PUBLIC_URL` when it is set,
//! else from the request's `Host` (which the client chooses: documented in
//! docs/sso.md as the reason to set the public URL in production).

use axum::http::{HeaderMap, header};
use ditto_core::{Error, Result};

use crate::AppState;

/// The host the browser used, if it is a plain host name (and port).
pub(crate) fn request_host(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    plain.then_some(host)
}

/// This server's absolute URL for `path`. Without a public URL the scheme
/// is the one the cookies imply (`https` with `Secure` cookies).
pub(crate) fn absolute(app: &AppState, headers: &HeaderMap, path: &str) -> Result<String> {
    if let Some(public) = &app.identity.public_url {
        return Ok(public.join(path));
    }
    let host = request_host(headers)
        .ok_or_else(|| Error::BadRequest("the request has no usable Host".into()))?;
    let scheme = if app.identity.sessions.secure_cookies {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{host}{path}"))
}
