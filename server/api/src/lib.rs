//! The admin REST API (`/api/v1`), its OpenAPI document and the health
//! endpoints. Handlers are thin: authorize (`ditto_core::auth`), validate
//! (`ditto_core::validate`), call the store.

mod client_address;
mod denials;
mod docs;
mod egress;
mod error;
mod extract;
mod middleware;
mod project_access;
mod public_url;
mod routes;
mod throttle;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use ditto_core::{Ctx, Permission, Result, SharedScope, TenantScope};
use ditto_store::Store;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use client_address::TRUSTED_PROXIES_SETTING;
pub use error::ApiError;
pub use middleware::traced;

/// Largest request body the admin API accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest body of a price import (LiteLLM's whole list is over a megabyte).
pub const IMPORT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Present when REDIS_URL is configured.
    pub redis: Option<ditto_store::Redis>,
    /// Seals upstream credentials; without it they cannot be stored.
    pub master_key: Option<ditto_core::crypto::MasterKey>,
    /// Renders this replica's metrics (Prometheus text), when it serves any.
    pub metrics: Option<MetricsSource>,
    /// Signs audit checkpoints; without it they cannot be made or verified.
    pub audit_signer: Option<ditto_core::audit::AuditSigner>,
    /// Local sign-in: password hashing, sessions, lockout.
    pub identity: ditto_identity::Identity,
    /// Does audit export runs (to object storage or the export directory).
    pub audit_exporter: ditto_audit_export::Exporter,
    /// Where tenant-chosen URLs may lead (backends, export endpoints).
    pub egress: ditto_egress::EgressPolicy,
    /// Proxies whose `X-Forwarded-For` names the client
    /// (`DITTO_TRUSTED_PROXIES`).
    pub trusted_proxies: ditto_egress::Networks,
}

/// Something that renders metrics in the Prometheus text format.
pub type MetricsSource = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

impl AppState {
    /// Resolves the tenant named in the URL and authorizes the caller in it.
    /// A tenant the caller may not see answers 404, like a missing one.
    pub(crate) async fn tenant_scope(
        &self,
        ctx: &Ctx,
        tenant: &str,
        permission: Permission,
    ) -> Result<TenantScope> {
        let tenant = self.store.resolve_tenant(tenant).await?;
        self.noting_refusal(ctx, tenant, permission, ctx.tenant(tenant, permission))
            .await
    }

    /// Seals a secret the API is given (upstream credentials, a client or
    /// access secret) with the master key, bound to what it belongs to.
    /// `field` names it in the error when the server has no master key.
    pub(crate) fn seal_secret(
        &self,
        field: &str,
        bound_to: &[u8],
        secret: &str,
    ) -> Result<Vec<u8>> {
        let key = self.master_key.as_ref().ok_or_else(|| {
            ditto_core::Error::invalid(
                field,
                "no_master_key",
                "this server has no master key (DITTO_MASTER_KEY), so it cannot store secrets",
            )
        })?;
        Ok(key.encrypt(secret.as_bytes(), bound_to))
    }

    /// Passes an authorization's outcome on, recording it first when it is
    /// a refusal inside `tenant`.
    pub(crate) async fn noting_refusal(
        &self,
        ctx: &Ctx,
        tenant: ditto_core::TenantRef,
        permission: Permission,
        outcome: Result<TenantScope>,
    ) -> Result<TenantScope> {
        if let Err(ditto_core::Error::Forbidden(reason)) = &outcome {
            denials::record(self, ctx, Some(tenant.id), permission, reason).await;
        }
        outcome
    }

    /// Authorizes reading what the platform shares with every tenant: a
    /// tenant principal must belong to an active tenant.
    pub(crate) async fn shared_scope(
        &self,
        ctx: &Ctx,
        permission: Permission,
    ) -> Result<SharedScope> {
        let home = match ctx.principal.tenant_id {
            Some(id) if ctx.principal.platform_role.is_none() => {
                Some(self.store.resolve_tenant(&id.to_string()).await?)
            }
            _ => None,
        };
        match ctx.shared(home, permission) {
            Err(ditto_core::Error::Forbidden(reason)) => {
                denials::record(self, ctx, ctx.principal.tenant_id, permission, &reason).await;
                Err(ditto_core::Error::Forbidden(reason))
            }
            other => other,
        }
    }

    /// Authorizes a platform-wide operation. A refusal is recorded in the
    /// caller's own tenant's chain (the platform's for platform principals).
    pub(crate) async fn platform_scope(
        &self,
        ctx: &Ctx,
        permission: Permission,
    ) -> Result<ditto_core::PlatformScope> {
        match ctx.platform(permission) {
            Err(ditto_core::Error::Forbidden(reason)) => {
                denials::record(self, ctx, ctx.principal.tenant_id, permission, &reason).await;
                Err(ditto_core::Error::Forbidden(reason))
            }
            other => other,
        }
    }
}

/// Every documented route. Routes can only be added through `routes!`, so
/// none can be missing from the spec.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::base())
        .merge(routes::health::router())
        .merge(routes::tenants::router())
        .merge(routes::tenant_health::router())
        .merge(routes::projects::router())
        .merge(routes::users::router())
        .merge(routes::groups::router())
        .merge(routes::service_accounts::router())
        .merge(routes::api_keys::router())
        .merge(routes::backends::router())
        .merge(routes::model_routes::router())
        .merge(routes::rate_limits::router())
        .merge(routes::budgets::router())
        .merge(routes::model_prices::router())
        .merge(routes::usage::router())
        .merge(routes::audit::router())
        .merge(routes::audit_exports::router())
        .merge(routes::me::router())
        .merge(routes::me_security::router())
        .merge(routes::sign_in::router())
        .merge(routes::sso::router())
        .merge(routes::sso_connections::router())
        .merge(routes::saml::router())
        .merge(routes::saml_connections::router())
        .merge(routes::sso_discovery::router())
        .merge(routes::sso_policy::router())
        .merge(routes::domains::router())
        .merge(routes::user_sign_in::router())
        .merge(routes::roles::router())
        .merge(routes::scim_tokens::router())
}

/// The OpenAPI document, as checked in under `openapi/ditto.json`.
pub fn openapi() -> OpenApi {
    let (_, mut spec) = api_router().split_for_parts();
    docs::finish(&mut spec);
    spec
}

/// The OpenAPI document as pretty JSON, the same bytes every time. utoipa
/// keeps operation extensions (`x-ditto-scope`, `x-ditto-permission`) in a
/// hash map, so they come out in any order; here each run of adjacent
/// one-line `"x-…"` members is sorted.
pub fn openapi_json() -> String {
    let text = openapi().to_pretty_json().expect("the spec serializes");
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let flush = |run: &mut Vec<&str>, out: &mut Vec<String>| {
        let Some(last) = run.last() else { return };
        let trailing_comma = last.ends_with(',');
        let mut members: Vec<&str> = run.drain(..).map(|l| l.trim_end_matches(',')).collect();
        members.sort_unstable();
        let n = members.len();
        for (i, m) in members.into_iter().enumerate() {
            let comma = if i + 1 < n || trailing_comma { "," } else { "" };
            out.push(format!("{m}{comma}"));
        }
    };
    for line in text.lines() {
        let member = line.trim_start();
        if member.starts_with("\"x-") && member.trim_end_matches(',').ends_with('"') {
            run.push(line);
        } else {
            flush(&mut run, &mut out);
            out.push(line.to_owned());
        }
    }
    flush(&mut run, &mut out);
    out.join("\n")
}

/// The HTTP application: admin API, spec, API reference and health checks.
pub fn app(state: AppState) -> Router {
    let (router, mut spec) = api_router().split_for_parts();
    docs::finish(&mut spec);
    let trusted_proxies = state.trusted_proxies.clone();
    let router = router
        .merge(docs::reference(spec))
        .merge(routes::scim::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::Extension(throttle::Throttles::new(
            state.redis.clone(),
        )))
        .with_state(state);
    middleware::wrap(router, trusted_proxies)
}
