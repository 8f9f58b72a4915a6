//! SCIM `/Groups`: a tenant's groups and their members, which carry the
//! roles bound to the groups. Groups that carry `owner` are owners' business.

use super::*;

/// Whether `members` is left out of the response (it can be long).
pub(super) fn members_excluded(params: &HashMap<String, String>) -> bool {
    let (attributes, excluded) = projection(params);
    excluded.iter().any(|a| a.eq_ignore_ascii_case("members"))
        || (!attributes.is_empty()
            && !attributes
                .iter()
                .any(|a| a.to_ascii_lowercase().starts_with("members")))
}

/// Groups that carry `owner` are managed in the admin API, by owners: a
/// SCIM token cannot change who is in them, or delete them.
async fn guard_owner_group(app: &AppState, scope: &TenantScope, id: &str) -> ScimResult<()> {
    let Ok(uuid) = uuid::Uuid::parse_str(id) else {
        return Ok(());
    };
    let grants = app.store.group_grants(scope, GroupId(uuid)).await?;
    if grants.contains(Permission::OwnersWrite) {
        return Err(ScimError::new(
            403,
            None,
            "this group carries the `owner` role; owners manage its members in the admin API",
        )
        .into());
    }
    Ok(())
}

/// `GET /Groups` and `POST /Groups/.search`.
pub(super) async fn list_groups(
    State(app): State<AppState>,
    scim: Scim,
    ListParams(params): ListParams,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersRead)?;
    let query = list_query(&params)?;
    let with_members = !members_excluded(&params);
    let page = app
        .store
        .scim_list_groups(&scope, &query, with_members)
        .await?;
    let resources = page
        .items
        .iter()
        .map(|g| project(group_json(g, &scim.base, with_members), &params))
        .collect();
    Ok(list_response(page.total, query.start_index, resources))
}

pub(super) async fn get_group(
    State(app): State<AppState>,
    scim: Scim,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersRead)?;
    let group = group_json(
        &app.store.scim_get_group(&scope, &id).await?,
        &scim.base,
        true,
    );
    if let Some(resp) = not_modified(&headers, &group) {
        return Ok(resp);
    }
    Ok(resource_response(StatusCode::OK, project(group, &params)))
}

pub(super) async fn create_group(
    State(app): State<AppState>,
    scim: Scim,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersWrite)?;
    let input = resource::group_from_json(&body_json(&headers, &body)?)?;
    let group = app.store.scim_create_group(&scope, &input).await?;
    Ok(resource_response(
        StatusCode::CREATED,
        project(group_json(&group, &scim.base, true), &params),
    ))
}

/// Stores `input` over the group `current` renders, refusing a membership
/// change of a group that carries `owner`.
async fn store_group(
    app: &AppState,
    scim: &Scim,
    scope: &TenantScope,
    id: &str,
    current: &ScimGroup,
    input: &resource::GroupInput,
    params: &HashMap<String, String>,
) -> ScimResult {
    let mut before: Vec<&str> = current.members.iter().map(|(u, _)| u.as_str()).collect();
    let mut after: Vec<&str> = input.members.iter().map(String::as_str).collect();
    before.sort_unstable();
    after.sort_unstable();
    if before != after {
        guard_owner_group(app, scope, id).await?;
    }
    let group = app.store.scim_replace_group(scope, id, input).await?;
    Ok(resource_response(
        StatusCode::OK,
        project(group_json(&group, &scim.base, true), params),
    ))
}

pub(super) async fn replace_group(
    State(app): State<AppState>,
    scim: Scim,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersWrite)?;
    let body = body_json(&headers, &body)?;
    let current = app.store.scim_get_group(&scope, &id).await?;
    check_if_match(&headers, &group_json(&current, &scim.base, true))?;
    let input = resource::group_from_json(&body)?;
    store_group(&app, &scim, &scope, &id, &current, &input, &params).await
}

pub(super) async fn patch_group(
    State(app): State<AppState>,
    scim: Scim,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersWrite)?;
    let ops = patch::parse_request(&body_json(&headers, &body)?)?;
    let current = app.store.scim_get_group(&scope, &id).await?;
    let mut doc = group_json(&current, &scim.base, true);
    check_if_match(&headers, &doc)?;
    patch::apply(&mut doc, &ops, GROUP_SCHEMA)?;
    let input = resource::group_from_json(&doc)?;
    store_group(&app, &scim, &scope, &id, &current, &input, &params).await
}

pub(super) async fn delete_group(
    State(app): State<AppState>,
    scim: Scim,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> ScimResult {
    let scope = scim.scope(Permission::UsersWrite)?;
    let current = group_json(
        &app.store.scim_get_group(&scope, &id).await?,
        &scim.base,
        false,
    );
    check_if_match(&headers, &current)?;
    guard_owner_group(&app, &scope, &id).await?;
    app.store.scim_delete_group(&scope, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
