//! The SCIM 2.0 server of each tenant at `/t/{tenant}/scim/v2` (RFC 7644):
//! Users, Groups and the discovery endpoints. Requests authenticate with one
//! of the tenant's SCIM tokens and act through the same authorization seam
//! as the admin API, as the token (`Actor::ScimToken`), so every change is
//! audited in the tenant's chain. Bodies and errors are SCIM JSON
//! (`application/scim+json`); the protocol itself is in `ditto_scim`.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ditto_core::{Actor, Ctx, Error, Grants, Permission, Principal, TenantScope};
use ditto_scim::filter::{AttrPath, Filter};
use ditto_scim::resource::{self, GroupRecord, UserRecord};
use ditto_scim::{
    CONTENT_TYPE, GROUP_SCHEMA, LIST_RESPONSE_SCHEMA, MAX_PAGE, ScimError, USER_SCHEMA, discovery,
    patch,
};
use ditto_store::scim::{ScimPage, ScimQuery};
use ditto_store::{ScimGroup, ScimUser};
use ditto_types::{GroupId, UserId};
use serde_json::{Value, json};

use crate::AppState;
use crate::middleware::request_id;
use crate::routes::scim_tokens::scim_reach;

mod groups;
mod users;

use groups::{
    create_group, delete_group, get_group, list_groups, members_excluded, patch_group,
    replace_group,
};
use users::{create_user, delete_user, get_user, list_users, patch_user, replace_user};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/t/{tenant}/scim/v2/ServiceProviderConfig",
            get(service_provider_config),
        )
        .route("/t/{tenant}/scim/v2/ResourceTypes", get(resource_types))
        .route("/t/{tenant}/scim/v2/ResourceTypes/{id}", get(resource_type))
        .route("/t/{tenant}/scim/v2/Schemas", get(schemas))
        .route("/t/{tenant}/scim/v2/Schemas/{id}", get(schema))
        .route(
            "/t/{tenant}/scim/v2/Users",
            get(list_users).post(create_user),
        )
        .route("/t/{tenant}/scim/v2/.search", post(search_all))
        .route("/t/{tenant}/scim/v2/Users/.search", post(list_users))
        .route(
            "/t/{tenant}/scim/v2/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route(
            "/t/{tenant}/scim/v2/Groups",
            get(list_groups).post(create_group),
        )
        .route("/t/{tenant}/scim/v2/Groups/.search", post(list_groups))
        .route(
            "/t/{tenant}/scim/v2/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .route(
            "/t/{tenant}/scim/v2/{*rest}",
            axum::routing::any(unknown_endpoint),
        )
}

type ScimResult<T = Response> = Result<T, ScimFailure>;

/// A SCIM error response.
pub(crate) struct ScimFailure(ScimError);

impl From<ScimError> for ScimFailure {
    fn from(e: ScimError) -> Self {
        Self(e)
    }
}

impl From<Error> for ScimFailure {
    fn from(e: Error) -> Self {
        Self(match e {
            Error::NotFound(what) => ScimError::not_found(format!("no such {what}")),
            // A duplicate is `uniqueness`; other conflicts (the tenant's
            // last owner) have no scimType of their own.
            Error::Conflict(message)
                if message.contains("already exists") || message.contains("an existing") =>
            {
                ScimError::uniqueness(message)
            }
            Error::Conflict(message) => ScimError::new(409, None, message),
            Error::Validation(fields) => {
                const TYPES: &[&str] = &[
                    "invalidFilter",
                    "invalidValue",
                    "invalidSyntax",
                    "invalidPath",
                    "noTarget",
                    "mutability",
                    "tooMany",
                ];
                let scim_type = fields
                    .iter()
                    .find_map(|f| TYPES.iter().find(|t| **t == f.code))
                    .copied()
                    .unwrap_or("invalidValue");
                let detail = fields
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                ScimError::new(400, Some(scim_type), detail)
            }
            Error::BadRequest(message) => ScimError::invalid_syntax(message),
            Error::Unauthenticated(message) => ScimError::new(401, None, message),
            Error::Forbidden(message) => ScimError::new(403, None, message),
            Error::Unavailable(message) => ScimError::new(503, None, message),
            Error::Internal(message) => {
                tracing::error!(error = %message, "internal error in SCIM");
                ScimError::new(500, None, "something went wrong on our side")
            }
        })
    }
}

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = scim_json(status, self.0.to_json());
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

fn scim_json(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

/// A single resource, with its ETag (and `Location` when created).
fn resource_response(status: StatusCode, body: Value) -> Response {
    let version = body["meta"]["version"].as_str().map(str::to_owned);
    let location = body["meta"]["location"].as_str().map(str::to_owned);
    let mut resp = scim_json(status, body);
    if let Some(v) = version.and_then(|v| HeaderValue::from_str(&v).ok()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok())
    {
        resp.headers_mut().insert(header::LOCATION, l);
    }
    resp
}

/// A request authenticated by one of the tenant's SCIM tokens.
struct Scim {
    ctx: Ctx,
    tenant: ditto_core::TenantRef,
    /// `…/t/{tenant}/scim/v2`, for `meta.location`.
    base: String,
}

impl Scim {
    fn scope(&self, permission: Permission) -> ScimResult<TenantScope> {
        Ok(self.ctx.tenant(self.tenant, permission)?)
    }
}

impl FromRequestParts<AppState> for Scim {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ScimFailure> {
        let slug = parts
            .uri
            .path()
            .strip_prefix("/t/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_owned();
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 512)
            .ok_or(Error::Unauthenticated(
                "send one of the tenant's SCIM tokens as `Authorization: Bearer <token>`",
            ))?;
        let unauthenticated = || {
            ScimFailure::from(Error::Unauthenticated(
                "the SCIM token is invalid, revoked or not this tenant's",
            ))
        };
        // An unknown tenant looks like a wrong token: nothing leaks.
        let tenant = match app.store.resolve_tenant(&slug).await {
            Ok(t) => t,
            Err(Error::NotFound(_)) => return Err(unauthenticated()),
            Err(e) => return Err(e.into()),
        };
        let id = app
            .store
            .authenticate_scim_token(tenant.id, token)
            .await?
            .ok_or_else(unauthenticated)?;
        let base = scim_base(app, &parts.headers, &slug);
        Ok(Scim {
            ctx: Ctx {
                principal: Principal {
                    actor: Actor::ScimToken(id),
                    tenant_id: Some(tenant.id),
                    platform_role: None,
                    grants: Grants::of(&[Permission::UsersRead, Permission::UsersWrite]),
                    limit: None,
                },
                request_id: request_id(&parts.headers),
                session: None,
            },
            tenant,
            base,
        })
    }
}

/// `…/t/{tenant}/scim/v2` from `DITTO_PUBLIC_URL`; without it, from the
/// request's Host and `X-Forwarded-Proto`.
fn scim_base(app: &AppState, headers: &HeaderMap, slug: &str) -> String {
    let path = format!("/t/{slug}/scim/v2");
    if let Some(public) = &app.identity.public_url {
        return public.join(&path);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{proto}://{host}{path}")
}

/// A SCIM request body: JSON sent as `application/scim+json` or
/// `application/json`.
fn body_json(headers: &HeaderMap, body: &Bytes) -> ScimResult<Value> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if !media.is_empty() && media != CONTENT_TYPE && media != "application/json" {
        return Err(ScimError::new(
            415,
            None,
            "send the body as `application/scim+json` (or `application/json`)",
        )
        .into());
    }
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")).into())
}

/// The list parameters of RFC 7644 §3.4.2.
fn list_query(params: &HashMap<String, String>) -> ScimResult<ScimQuery> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let number = |name: &str| -> ScimResult<Option<i64>> {
        param(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ScimFailure(ScimError::invalid_value(format!("`{name}` is an integer")))
                })
            })
            .transpose()
    };
    let filter = param("filter").map(Filter::parse).transpose()?;
    let sort_by = param("sortBy")
        .map(|s| AttrPath::parse(s).map_err(|e| ScimError::invalid_value(e.detail)))
        .transpose()?;
    let descending = match param("sortOrder").map(str::to_ascii_lowercase).as_deref() {
        None | Some("ascending") => false,
        Some("descending") => true,
        Some(_) => {
            return Err(ScimError::invalid_value("`sortOrder` is ascending or descending").into());
        }
    };
    Ok(ScimQuery {
        filter,
        sort_by,
        descending,
        start_index: number("startIndex")?.unwrap_or(1).max(1),
        count: number("count")?.unwrap_or(MAX_PAGE).clamp(0, MAX_PAGE),
    })
}

/// A search request (`POST …/.search`, RFC 7644 §3.4.3) as the list
/// parameters it stands for.
fn search_params(body: &Value) -> ScimResult<HashMap<String, String>> {
    const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
    let Some(object) = body.as_object() else {
        return Err(ScimError::invalid_syntax("a search request is a JSON object").into());
    };
    if !object.keys().any(|k| k.eq_ignore_ascii_case("schemas")) {
        return Err(ScimError::invalid_syntax(format!(
            "a search request has `schemas: [\"{SEARCH_REQUEST}\"]`"
        ))
        .into());
    }
    let mut params = HashMap::new();
    for (k, v) in object {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(items) if k.eq_ignore_ascii_case("schemas") => {
                if !items.iter().any(|i| i == SEARCH_REQUEST) {
                    return Err(ScimError::invalid_syntax(format!(
                        "a search request has `schemas: [\"{SEARCH_REQUEST}\"]`"
                    ))
                    .into());
                }
                continue;
            }
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            Value::Null => continue,
            _ => {
                return Err(ScimError::invalid_value(format!("`{k}` has the wrong type")).into());
            }
        };
        params.insert(k.clone(), text);
    }
    Ok(params)
}

/// The list parameters of a request: the query string of a `GET`, the
/// search request of a `POST …/.search`.
struct ListParams(HashMap<String, String>);

impl FromRequest<AppState> for ListParams {
    type Rejection = ScimFailure;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, ScimFailure> {
        let refused =
            |status: StatusCode, text: String| ScimError::new(status.as_u16(), None, text);
        if req.method() != Method::POST {
            let Query(params) =
                Query::try_from_uri(req.uri()).map_err(|e| refused(e.status(), e.body_text()))?;
            return Ok(Self(params));
        }
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, app)
            .await
            .map_err(|e| refused(e.status(), e.body_text()))?;
        Ok(Self(search_params(&body_json(&headers, &body)?)?))
    }
}

/// `attributes` and `excludedAttributes`, comma-separated.
fn projection(params: &HashMap<String, String>) -> (Vec<String>, Vec<String>) {
    let list = |name: &str| -> Vec<String> {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    (list("attributes"), list("excludedAttributes"))
}

fn project(mut resource: Value, params: &HashMap<String, String>) -> Value {
    let (attributes, excluded) = projection(params);
    resource::project(&mut resource, &attributes, &excluded);
    resource
}

fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Response {
    scim_json(
        StatusCode::OK,
        json!({
            "schemas": [LIST_RESPONSE_SCHEMA],
            "totalResults": total,
            "startIndex": start_index,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}

/// Refuses a write whose `If-Match` names another version (412).
fn check_if_match(headers: &HeaderMap, current: &Value) -> ScimResult<()> {
    let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let version = current["meta"]["version"].as_str().unwrap_or_default();
    let matches = wanted.split(',').map(str::trim).any(|w| {
        w == "*" || w == version || w.trim_start_matches("W/") == version.trim_start_matches("W/")
    });
    if matches {
        Ok(())
    } else {
        Err(ScimError::new(412, None, "the resource changed since that version").into())
    }
}

/// Answers 304 when `If-None-Match` names the current version.
fn not_modified(headers: &HeaderMap, current: &Value) -> Option<Response> {
    let wanted = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    let version = current["meta"]["version"].as_str()?;
    wanted
        .split(',')
        .any(|w| w.trim() == version)
        .then(|| StatusCode::NOT_MODIFIED.into_response())
}

fn user_json(u: &ScimUser, base: &str) -> Value {
    resource::user_json(
        &UserRecord {
            id: u.id.to_string(),
            user_name: &u.user_name,
            display_name: &u.display_name,
            external_id: u.external_id.as_deref(),
            active: u.active,
            attributes: &u.attributes,
            groups: &u.groups,
            created: u.created_at,
            last_modified: u.updated_at,
        },
        base,
    )
}

fn group_json(g: &ScimGroup, base: &str, with_members: bool) -> Value {
    resource::group_json(
        &GroupRecord {
            id: g.id.to_string(),
            display_name: &g.display_name,
            external_id: g.external_id.as_deref(),
            members: with_members.then_some(g.members.as_slice()),
            created: g.created_at,
            last_modified: g.updated_at,
        },
        base,
    )
}

// ---------------------------------------------------------------- discovery

async fn service_provider_config(scim: Scim) -> Response {
    scim_json(
        StatusCode::OK,
        discovery::service_provider_config(&scim.base),
    )
}

async fn resource_types(scim: Scim) -> Response {
    let all = discovery::resource_types(&scim.base);
    list_response(all.len() as i64, 1, all)
}

async fn resource_type(
    scim: Scim,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
) -> ScimResult {
    discovery::resource_types(&scim.base)
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| scim_json(StatusCode::OK, r))
        .ok_or_else(|| ScimError::not_found(format!("no resource type `{id}`")).into())
}

async fn schemas(scim: Scim) -> Response {
    let all = discovery::schemas(&scim.base);
    list_response(all.len() as i64, 1, all)
}

async fn schema(
    scim: Scim,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
) -> ScimResult {
    discovery::schemas(&scim.base)
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| scim_json(StatusCode::OK, r))
        .ok_or_else(|| ScimError::not_found(format!("no schema `{id}`")).into())
}

async fn unknown_endpoint(_scim: Scim) -> ScimFailure {
    ScimError::not_found("no such SCIM endpoint; see /ResourceTypes").into()
}

/// A filter naming what one resource type lacks matches none of it (in a
/// search across types).
fn or_none<T>(listed: Result<ScimPage<T>, Error>, query: &ScimQuery) -> Result<ScimPage<T>, Error> {
    match listed {
        Err(Error::Validation(f))
            if query.filter.is_some() && f.iter().any(|f| f.code == "invalidFilter") =>
        {
            Ok(ScimPage {
                total: 0,
                items: Vec::new(),
            })
        }
        listed => listed,
    }
}

/// `POST /.search`: users, then groups, as one list.
async fn search_all(
    State(app): State<AppState>,
    scim: Scim,
    ListParams(params): ListParams,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersRead)?;
    let query = list_query(&params)?;
    let users = or_none(app.store.scim_list_users(&scope, &query).await, &query)?;
    let mut resources: Vec<Value> = users
        .items
        .iter()
        .map(|u| project(user_json(u, &scim.base), &params))
        .collect();
    let group_query = ScimQuery {
        start_index: (query.start_index - users.total).max(1),
        count: query.count - resources.len() as i64,
        ..query.clone()
    };
    let with_members = !members_excluded(&params);
    let groups = or_none(
        app.store
            .scim_list_groups(&scope, &group_query, with_members)
            .await,
        &query,
    )?;
    resources.extend(
        groups
            .items
            .iter()
            .map(|g| project(group_json(g, &scim.base, with_members), &params)),
    );
    Ok(list_response(
        users.total + groups.total,
        query.start_index,
        resources,
    ))
}
