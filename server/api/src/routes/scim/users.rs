//! SCIM `/Users`: listing, reading and provisioning a tenant's people. A
//! token never reaches beyond its creator: owners are out of its reach.

use super::*;

/// `GET /Users` and `POST /Users/.search`.
pub(super) async fn list_users(
    State(app): State<AppState>,
    scim: Scim,
    ListParams(params): ListParams,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersRead)?;
    let query = list_query(&params)?;
    let page = app.store.scim_list_users(&scope, &query).await?;
    let resources = page
        .items
        .iter()
        .map(|u| project(user_json(u, &scim.base), &params))
        .collect();
    Ok(list_response(page.total, query.start_index, resources))
}

pub(super) async fn get_user(
    State(app): State<AppState>,
    scim: Scim,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersRead)?;
    let user = user_json(&app.store.scim_get_user(&scope, &id).await?, &scim.base);
    if let Some(resp) = not_modified(&headers, &user) {
        return Ok(resp);
    }
    Ok(resource_response(StatusCode::OK, project(user, &params)))
}

pub(super) async fn create_user(
    State(app): State<AppState>,
    scim: Scim,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersWrite)?;
    let input = resource::user_from_json(&body_json(&headers, &body)?)?;
    let user = app.store.scim_create_user(&scope, &input).await?;
    Ok(resource_response(
        StatusCode::CREATED,
        project(user_json(&user, &scim.base), &params),
    ))
}

pub(super) async fn replace_user(
    State(app): State<AppState>,
    scim: Scim,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersWrite)?;
    guard_outranked_user(&app, &scope, &id).await?;
    let body = body_json(&headers, &body)?;
    let current = user_json(&app.store.scim_get_user(&scope, &id).await?, &scim.base);
    check_if_match(&headers, &current)?;
    let input = resource::user_from_json(&body)?;
    let user = app.store.scim_replace_user(&scope, &id, &input).await?;
    Ok(resource_response(
        StatusCode::OK,
        project(user_json(&user, &scim.base), &params),
    ))
}

pub(super) async fn patch_user(
    State(app): State<AppState>,
    scim: Scim,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersWrite)?;
    guard_outranked_user(&app, &scope, &id).await?;
    let ops = patch::parse_request(&body_json(&headers, &body)?)?;
    let mut doc = user_json(&app.store.scim_get_user(&scope, &id).await?, &scim.base);
    check_if_match(&headers, &doc)?;
    patch::apply(&mut doc, &ops, USER_SCHEMA)?;
    let input = resource::user_from_json(&doc)?;
    let user = app.store.scim_replace_user(&scope, &id, &input).await?;
    Ok(resource_response(
        StatusCode::OK,
        project(user_json(&user, &scim.base), &params),
    ))
}

pub(super) async fn delete_user(
    State(app): State<AppState>,
    scim: Scim,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersWrite)?;
    guard_outranked_user(&app, &scope, &id).await?;
    if headers.contains_key(header::IF_MATCH) {
        let current = user_json(&app.store.scim_get_user(&scope, &id).await?, &scim.base);
        check_if_match(&headers, &current)?;
    }
    app.store.scim_delete_user(&scope, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A SCIM token acts with [`scim_reach`]: everything but `owners:write`,
/// the most its creator had to hold. It cannot change, deactivate or delete
/// a user who holds more (an owner, tenant-wide or on a project), as its
/// creator could not through the admin API.
async fn guard_outranked_user(app: &AppState, scope: &TenantScope, id: &str) -> ScimResult<()> {
    let Ok(uuid) = uuid::Uuid::parse_str(id) else {
        return Ok(());
    };
    let held = app
        .store
        .reach_of(scope.tenant_id(), Actor::User(UserId(uuid)))
        .await?;
    if !scim_reach().covers(held) {
        return Err(ScimError::new(
            403,
            None,
            "this user holds `owners:write`; owners are changed and removed in the admin API, by owners",
        )
        .into());
    }
    Ok(())
}
