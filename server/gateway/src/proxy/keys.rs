//! Who is calling: the virtual key presented, checked against the
//! tenant's snapshot in constant time, and the request's ids.

use super::*;

pub(super) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get(&API_KEY).and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// Why a key was refused at the door: what the client is told is the same
/// whatever it was (bar a missing key); the reason goes to the audit trail.
pub(crate) struct KeyRefusal {
    /// The tenant named, if it exists.
    pub tenant_id: Option<Uuid>,
    pub reason: &'static str,
    pub key_id: Option<Uuid>,
    /// The presented key's public part when it matched no key.
    pub key_prefix: Option<String>,
}

impl KeyRefusal {
    pub(super) fn error(&self) -> GatewayError {
        if self.reason == "missing_key" {
            GatewayError::missing_key()
        } else {
            GatewayError::invalid_key()
        }
    }
}

/// The tenant and key, straight from the snapshot.
pub(super) fn authenticate(
    gw: &Gateway,
    tenant: &str,
    headers: &HeaderMap,
) -> Result<(Arc<Tenant>, Arc<Key>), KeyRefusal> {
    let snapshot = gw.snapshot.load();
    let named = snapshot.tenant(tenant);
    let refused = |reason, key_id, key_prefix| KeyRefusal {
        tenant_id: named.map(|t| t.id),
        reason,
        key_id,
        key_prefix,
    };
    let Some(presented) = presented_key(headers) else {
        return Err(refused("missing_key", None, None));
    };
    // Unknown tenant, suspended tenant and bad key all read the same.
    let Some(tenant) = named.filter(|t| t.active) else {
        return Err(refused("tenant_suspended", None, None));
    };
    let Some((public_id, secret)) = secrets::split(secrets::API_KEY_PREFIX, presented) else {
        return Err(refused("malformed_key", None, None));
    };
    let Some(key) = tenant.keys.get(public_id) else {
        let prefix = format!("{}-{public_id}", secrets::API_KEY_PREFIX);
        return Err(refused("unknown_key", None, Some(prefix)));
    };
    if !secrets::verify(secret, &key.secret_hash) {
        return Err(refused("wrong_secret", Some(key.key_id), None));
    }
    if key.expired(Utc::now()) {
        return Err(refused("expired_key", Some(key.key_id), None));
    }
    Ok((tenant.clone(), key.clone()))
}

pub(super) fn request_ids(headers: &HeaderMap) -> (Uuid, HeaderValue) {
    let id = Uuid::now_v7();
    let client = headers
        .get(&CLIENT_REQUEST_ID)
        .filter(|v| {
            v.len() <= 128
                && v.to_str()
                    .is_ok_and(|s| s.bytes().all(|b| b.is_ascii_graphic()))
        })
        .cloned();
    let shown = client.unwrap_or_else(|| {
        let mut text = Uuid::encode_buffer();
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
            .expect("a uuid is a header value")
    });
    (id, shown)
}
