//! A signed-in user's own sessions, password, second factor and personal
//! access tokens. Service accounts have none of these: they get 403.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use ditto_core::catalogue::Op;
use ditto_core::{Ctx, Result, TenantScope, secrets};
use ditto_identity::tokens;
use ditto_types::api::{
    ChangePassword, CreatePersonalAccessToken, CreatedPersonalAccessToken, PageParams,
    PersonalAccessToken, PersonalAccessTokenPage, RecoveryCodes, SessionPage, TotpCode,
    TotpEnrolment,
};
use ditto_types::{AccessTokenId, SessionId, UserId};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(change_password))
        .routes(routes!(begin_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(disable_totp))
        .routes(routes!(regenerate_recovery_codes))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

impl AppState {
    /// The calling user in its own tenant; 403 for service accounts.
    async fn own_user(&self, ctx: &Ctx) -> Result<(TenantScope, UserId)> {
        ctx.own_user(self.own_tenant(ctx).await?)
    }

    /// The calling user in a browser session; 403 for access tokens.
    async fn signed_in_user(&self, ctx: &Ctx) -> Result<(TenantScope, UserId)> {
        let (scope, user, _) = ctx.signed_in_user(self.own_tenant(ctx).await?)?;
        Ok((scope, user))
    }

    /// The calling user in a session it signed in to within the last minutes.
    async fn recently_signed_in_user(&self, ctx: &Ctx) -> Result<(TenantScope, UserId)> {
        let tenant = self.own_tenant(ctx).await?;
        let (scope, user, _) = ctx.recently_signed_in_user(tenant)?;
        Ok((scope, user))
    }

    async fn own_tenant(&self, ctx: &Ctx) -> Result<Option<ditto_core::TenantRef>> {
        Ok(match (ctx.principal.actor, ctx.principal.tenant_id) {
            (ditto_core::Actor::User(_), Some(id)) => {
                Some(self.store.resolve_tenant(&id.to_string()).await?)
            }
            _ => None,
        })
    }
}

/// List your sessions, newest first; `current` marks this one. Only from a
/// signed-in session, never with an access token.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me", operation_id = Op::MeSessionsList.id(),
    params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = SessionPage)))]
async fn list_sessions(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<SessionPage>> {
    let (scope, user) = app.signed_in_user(&ctx).await?;
    Ok(Json(
        app.store
            .list_sessions(&scope, user, &page, ctx.session.map(|s| s.id))
            .await?,
    ))
}

/// End one of your sessions (sign out elsewhere). Only from a signed-in
/// session, never with an access token.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{session_id}", tag = "me",
    operation_id = Op::MeSessionsRevoke.id(), params(("session_id" = SessionId, Path)),
    security(("bearer" = [])), responses((status = 204)))]
async fn revoke_session(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<SessionId>,
) -> ApiResult<StatusCode> {
    let (scope, user) = app.signed_in_user(&ctx).await?;
    app.store.revoke_session(&scope, user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change your password. Your other sessions end; this one stays. Only from
/// a signed-in session, never with an access token. A session opened with
/// a password an administrator set (`must_change_password`) may do nothing
/// but this and `GET /me` until it is done: anything else answers 403.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", operation_id = Op::MePasswordChange.id(),
    request_body = ChangePassword, security(("bearer" = [])),
    responses((status = 204)))]
async fn change_password(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Json(body): Json<ChangePassword>,
) -> ApiResult<StatusCode> {
    let (scope, user) = app.signed_in_user(&ctx).await?;
    app.identity
        .change_password(
            &app.store,
            &scope,
            user,
            &body.current_password,
            &body.new_password,
            ctx.session.map(|s| s.id),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start enrolling an authenticator app: returns a new secret and its
/// `otpauth://` URI (show it as a QR code). Confirm with a first code.
/// Needs a session signed in within the last 15 minutes.
#[utoipa::path(post, path = "/api/v1/me/totp", tag = "me", operation_id = Op::MeTotpBegin.id(),
    security(("bearer" = [])),
    responses((status = 200, body = TotpEnrolment), (status = 409)))]
async fn begin_totp(
    State(app): State<AppState>,
    Auth(ctx): Auth,
) -> ApiResult<Json<TotpEnrolment>> {
    let (scope, user) = app.recently_signed_in_user(&ctx).await?;
    let tenant = app.store.get_tenant(&scope).await?;
    let issuer = format!("Ditto ({})", tenant.slug);
    Ok(Json(
        app.identity
            .begin_totp(&app.store, app.master_key.as_ref(), &scope, user, &issuer)
            .await?,
    ))
}

/// Confirm the enrolment with a first code. From now on signing in needs a
/// code. Returns recovery codes, shown only in this response. Only from a
/// signed-in session.
#[utoipa::path(post, path = "/api/v1/me/totp/confirm", tag = "me", operation_id = Op::MeTotpConfirm.id(),
    request_body = TotpCode, security(("bearer" = [])),
    responses((status = 200, body = RecoveryCodes)))]
async fn confirm_totp(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Json(body): Json<TotpCode>,
) -> ApiResult<Json<RecoveryCodes>> {
    let (scope, user) = app.signed_in_user(&ctx).await?;
    Ok(Json(
        app.identity
            .confirm_totp(
                &app.store,
                app.master_key.as_ref(),
                &scope,
                user,
                &body.code,
            )
            .await?,
    ))
}

/// Turn your second factor off, proven with a current code or a recovery code.
/// Needs a session signed in within the last 15 minutes.
#[utoipa::path(post, path = "/api/v1/me/totp/disable", tag = "me", operation_id = Op::MeTotpDisable.id(),
    request_body = TotpCode, security(("bearer" = [])),
    responses((status = 204)))]
async fn disable_totp(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Json(body): Json<TotpCode>,
) -> ApiResult<StatusCode> {
    let (scope, user) = app.recently_signed_in_user(&ctx).await?;
    app.identity
        .disable_totp(
            &app.store,
            app.master_key.as_ref(),
            &scope,
            user,
            &body.code,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace your recovery codes, proven with a current code. The old ones
/// stop working. Needs a session signed in within the last 15 minutes.
#[utoipa::path(post, path = "/api/v1/me/totp/recovery-codes", tag = "me",
    operation_id = Op::MeRecoveryCodesRegenerate.id(), request_body = TotpCode,
    security(("bearer" = [])), responses((status = 200, body = RecoveryCodes)))]
async fn regenerate_recovery_codes(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Json(body): Json<TotpCode>,
) -> ApiResult<Json<RecoveryCodes>> {
    let (scope, user) = app.recently_signed_in_user(&ctx).await?;
    Ok(Json(
        app.identity
            .regenerate_recovery_codes(
                &app.store,
                app.master_key.as_ref(),
                &scope,
                user,
                &body.code,
            )
            .await?,
    ))
}

/// List your personal access tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "me", operation_id = Op::MeTokensList.id(),
    params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = PersonalAccessTokenPage)))]
async fn list_tokens(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<PersonalAccessTokenPage>> {
    let (scope, user) = app.own_user(&ctx).await?;
    Ok(Json(
        app.store.list_personal_tokens(&scope, user, &page).await?,
    ))
}

/// Create a personal access token for scripts and API clients. It acts as
/// you, limited to `permissions` when given (each of which you must hold).
/// Sent with a narrowed token, the new token is never wider than it: without
/// `permissions` it gets the same narrowing.
/// The secret is in this response only.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "me", operation_id = Op::MeTokensCreate.id(),
    request_body = CreatePersonalAccessToken, security(("bearer" = [])),
    responses((status = 201, body = CreatedPersonalAccessToken)))]
async fn create_token(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Json(body): Json<CreatePersonalAccessToken>,
) -> ApiResult<(StatusCode, Json<CreatedPersonalAccessToken>)> {
    let (scope, user) = app.own_user(&ctx).await?;
    let requested = tokens::check_request(&body, Utc::now())?;
    let permissions = ctx.token_permissions(&scope, requested)?;
    let minted = secrets::mint_access_token();
    let new = ditto_store::personal_tokens::NewPersonalToken {
        name: body.name.trim(),
        expires_at: body.expires_at,
        permissions,
    };
    let token = app
        .store
        .create_personal_token(&scope, user, &new, &minted)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedPersonalAccessToken {
            token,
            secret: minted.full.0,
        }),
    ))
}

/// Revoke one of your personal access tokens.
#[utoipa::path(post, path = "/api/v1/me/tokens/{token_id}/revoke", tag = "me",
    operation_id = Op::MeTokensRevoke.id(), params(("token_id" = AccessTokenId, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = PersonalAccessToken)))]
async fn revoke_token(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<AccessTokenId>,
) -> ApiResult<Json<PersonalAccessToken>> {
    let (scope, user) = app.own_user(&ctx).await?;
    Ok(Json(
        app.store.revoke_personal_token(&scope, user, id).await?,
    ))
}
