//! The OpenAPI document's frame (info, security, tags), the standard error
//! responses added to every operation, and the served API reference.

use axum::Router;
use utoipa::OpenApi as _;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa_swagger_ui::SwaggerUi;

use ditto_types::problem::{FieldError, Problem};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Ditto admin API",
        description = "Manage tenants, projects, users, service accounts, gateway API keys, \
            backends and routes, rate limits, budgets and model prices, and read usage.\n\n\
            Authenticate with `Authorization: Bearer <token>`. Errors are RFC 9457 problem details \
            (`application/problem+json`). Lists use cursor pagination: pass `next_cursor` back as `cursor`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "tenants", description = "Companies using the platform (platform administrators)"),
        (name = "projects", description = "Projects inside a tenant"),
        (name = "users", description = "A tenant's staff"),
        (name = "service_accounts", description = "Non-human principals and their access tokens"),
        (name = "api_keys", description = "Virtual keys for the tenant's OpenAI-compatible endpoint"),
        (name = "backends", description = "Upstream providers a tenant's requests go to"),
        (name = "routes", description = "Public model names mapped to backends, with weights and fallbacks"),
        (name = "rate_limits", description = "Requests and tokens per minute, and requests in flight, per tenant, project, user or key"),
        (name = "budgets", description = "Token and spending caps per day, week, month or lifetime, with current spending"),
        (name = "model_prices", description = "What models cost: platform defaults and tenant overrides, exact decimal USD"),
        (name = "usage", description = "Requests, tokens and cost over time, grouped by project, user, key, model or backend"),
        (name = "roles", description = "Built-in and custom roles, and who holds them where"),
        (name = "me", description = "The caller: identity, tenants and effective permissions"),
    )
)]
struct Base;

pub(crate) fn base() -> OpenApi {
    Base::openapi()
}

/// Adds the bearer scheme and the problem responses every operation can give.
pub(crate) fn finish(spec: &mut OpenApi) {
    spec.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let components = spec.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A service-account access token or a personal access token",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            ditto_identity::session::SESSION_COOKIE,
            "The console's session, from `POST /api/v1/auth/sign-in`. Requests that change \
             something must also send the session's CSRF token in `x-csrf-token`.",
        ))),
    );
    for (path, item) in spec.paths.paths.iter_mut() {
        let has_params = path.contains('{');
        let ops = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.patch, true),
            (&mut item.put, true),
            (&mut item.delete, false),
        ];
        for (op, writes) in ops {
            if let Some(op) = op.as_mut() {
                accept_sessions(op);
                declare_permission(op);
                describe_responses(op);
                add_problems(op, has_params, writes);
            }
        }
    }
}

/// Every operation that takes a bearer token also takes the console's
/// session cookie (the same extractor serves both).
fn accept_sessions(op: &mut Operation) {
    let Some(security) = op.security.as_mut() else {
        return;
    };
    let bearer = security.iter().any(|r| {
        serde_json::to_value(r)
            .ok()
            .and_then(|v| v.get("bearer").cloned())
            .is_some()
    });
    if bearer {
        security.push(SecurityRequirement::new("session", Vec::<String>::new()));
    }
}

/// Marks the operation with what it needs, from the permission catalogue:
/// `x-ditto-scope` (`public`, `authenticated`, `tenant`, `shared`,
/// `platform`) and `x-ditto-permission`. An operation missing from the
/// catalogue stops the server from building its spec.
fn declare_permission(op: &mut Operation) {
    let id = op
        .operation_id
        .as_deref()
        .expect("every operation has an id");
    let access = ditto_core::catalogue::Op::from_id(id)
        .unwrap_or_else(|| panic!("operation `{id}` is not in the permission catalogue"))
        .access();
    let mut ext = Extensions::default();
    ext.insert("x-ditto-scope".into(), access.scope().into());
    if let Some(p) = access.permission() {
        ext.insert("x-ditto-permission".into(), p.as_str().into());
    }
    op.extensions
        .get_or_insert_with(Default::default)
        .merge(ext);
}

/// OpenAPI requires a description on every response.
fn describe_responses(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            let reason = status
                .parse::<u16>()
                .ok()
                .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
                .and_then(|code| code.canonical_reason())
                .unwrap_or("Response");
            response.description = reason.to_owned();
        }
    }
}

fn add_problems(op: &mut Operation, has_params: bool, writes: bool) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut add = |status: &str, description: &str| {
        if !op.responses.responses.contains_key(status) {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
                        .build(),
                )
                .build();
            op.responses
                .responses
                .insert(status.to_owned(), RefOr::T(response));
        }
    };
    if secured {
        add("401", "Missing, invalid, expired or revoked bearer token");
        add("403", "Not allowed to do this");
        add(
            "422",
            "Invalid parameters or body; `errors` lists each field",
        );
        add("503", "The database is unavailable; retry later");
    }
    if has_params {
        add("404", "Not found, or not visible to the caller");
    }
    if writes && secured {
        add("400", "The body is not valid JSON");
        add("409", "Conflicts with an existing resource");
        add("413", "The body is too large");
        add("415", "The body is not `application/json`");
    }
    add(
        "500",
        "Internal error; the request id helps find it in the logs",
    );
}

/// The interactive API reference (Swagger UI, served from assets in the
/// binary) and the spec it reads.
pub(crate) fn reference<S: Clone + Send + Sync + 'static>(spec: OpenApi) -> Router<S> {
    SwaggerUi::new("/api/v1/docs")
        .url("/api/v1/openapi.json", spec)
        .into()
}
