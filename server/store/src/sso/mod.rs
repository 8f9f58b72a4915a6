//! Single sign-on: a tenant's connections to OpenID providers (managed in
//! a [`TenantScope`]), sign-ins in flight, and what a completed sign-in does
//! to our users: find or create the account, link the provider's subject,
//! and keep the roles the provider's groups bring in step. The sign-in steps
//! run before anyone is authorized, so, like password sign-in, they use the
//! platform path, name the tenant in every query, and record their events
//! in that tenant's chain themselves.

use chrono::{DateTime, Utc};
use ditto_core::secret_binding::Rebinding;
use ditto_core::secrets::Redacted;
use ditto_core::{Error, Grants, Permission, Result, TenantRef, TenantScope};
use ditto_types::api::{
    ClaimMapping, GroupRoleMapping, NameFilter, PageParams, SamlSettings, SsoConnection,
    SsoConnectionPage, SsoProtocol, TenantStatus,
};
use ditto_types::{SsoConnectionId, TenantId};
use serde_json::{Value, json};
use sqlx::FromRow;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::tx::Tx;
use crate::{Store, error::db};

mod account;

/// Where the browser starts and ends a sign-in.
pub const CALLBACK_PATH: &str = "/api/v1/auth/sso/callback";

pub fn login_path(id: SsoConnectionId) -> String {
    format!("/api/v1/auth/sso/{id}/start")
}

pub(crate) const COLUMNS: &str = "id, tenant_id, name, protocol, issuer, client_id,
    client_secret IS NOT NULL AS has_client_secret, scopes, email_claim, name_claim,
    groups_claim, jit_provisioning, group_role_mappings, enabled, created_at, updated_at,
    idp_metadata_url, name_id_format, allow_idp_initiated,
    metadata->>'sso_url' AS idp_sso_url,
    COALESCE((metadata->>'signing_certificates')::int, 0) AS idp_signing_certificates";

#[derive(FromRow)]
pub(crate) struct Row {
    pub(crate) id: Uuid,
    tenant_id: Uuid,
    name: String,
    pub(crate) protocol: String,
    issuer: String,
    client_id: String,
    has_client_secret: bool,
    scopes: Vec<String>,
    email_claim: String,
    name_claim: String,
    groups_claim: String,
    jit_provisioning: bool,
    group_role_mappings: Value,
    enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    idp_metadata_url: Option<String>,
    name_id_format: Option<String>,
    allow_idp_initiated: bool,
    idp_sso_url: Option<String>,
    idp_signing_certificates: i32,
}

fn protocol(name: &str) -> SsoProtocol {
    if name == "saml" {
        SsoProtocol::Saml
    } else {
        SsoProtocol::Oidc
    }
}

fn mappings(value: Value) -> Vec<GroupRoleMapping> {
    serde_json::from_value(value).unwrap_or_default()
}

impl From<Row> for SsoConnection {
    fn from(r: Row) -> Self {
        let id = SsoConnectionId(r.id);
        let protocol = protocol(&r.protocol);
        let saml = (protocol == SsoProtocol::Saml).then(|| SamlSettings {
            sp_metadata_path: crate::saml::metadata_path(id),
            idp_metadata_url: r.idp_metadata_url,
            idp_sso_url: r.idp_sso_url.unwrap_or_default(),
            idp_signing_certificates: r.idp_signing_certificates.max(0) as usize,
            name_id_format: r.name_id_format,
            allow_idp_initiated: r.allow_idp_initiated,
        });
        let (login_url, callback_path) = match protocol {
            SsoProtocol::Oidc => (login_path(id), CALLBACK_PATH.to_owned()),
            SsoProtocol::Saml => (crate::saml::login_path(id), crate::saml::acs_path(id)),
        };
        SsoConnection {
            id,
            tenant_id: r.tenant_id.into(),
            name: r.name,
            protocol,
            issuer: r.issuer,
            client_id: r.client_id,
            has_client_secret: r.has_client_secret,
            scopes: r.scopes,
            claims: ClaimMapping {
                email: r.email_claim,
                name: r.name_claim,
                groups: r.groups_claim,
            },
            jit_provisioning: r.jit_provisioning,
            group_role_mappings: mappings(r.group_role_mappings),
            enabled: r.enabled,
            login_url,
            callback_path,
            saml,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A connection's settings after validation, with the discovery document
/// just fetched and the client secret already sealed to the connection.
#[derive(Debug)]
pub struct SsoConnectionSettings {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub claims: ClaimMapping,
    pub jit_provisioning: bool,
    pub group_role_mappings: Vec<GroupRoleMapping>,
    pub enabled: bool,
    pub metadata: Value,
}

/// A change to a connection; `None` keeps the field.
#[derive(Debug, Default)]
pub struct SsoConnectionChange {
    pub name: Option<String>,
    /// The issuer with its freshly fetched discovery document.
    pub issuer: Option<(String, Value)>,
    pub client_id: Option<String>,
    /// `Some(None)` removes the secret.
    pub sealed_secret: Option<Option<Vec<u8>>>,
    pub scopes: Option<Vec<String>>,
    pub claims: Option<ClaimMapping>,
    pub jit_provisioning: Option<bool>,
    pub group_role_mappings: Option<Vec<GroupRoleMapping>>,
    pub enabled: Option<bool>,
}

/// What a sign-in through a connection needs to know about it.
#[derive(Clone, Debug)]
pub struct SsoLoginConnection {
    pub id: SsoConnectionId,
    pub tenant: TenantRef,
    pub protocol: SsoProtocol,
    pub issuer: String,
    pub client_id: String,
    pub sealed_secret: Option<Vec<u8>>,
    pub scopes: Vec<String>,
    pub claims: ClaimMapping,
    pub jit_provisioning: bool,
    pub group_role_mappings: Vec<GroupRoleMapping>,
    pub enabled: bool,
    pub metadata: Value,
    /// What the connection's last editor could grant: the most an account
    /// signing in through it may hold, and its mappings may bind.
    pub ceiling: Grants,
}

/// A sign-in started at the provider and not yet back.
#[derive(Clone, Debug)]
pub struct SsoLogin {
    pub tenant_id: TenantId,
    pub connection_id: SsoConnectionId,
    pub state: String,
    pub nonce: String,
    /// Redeems the code with the provider, so never printed.
    pub pkce_verifier: Redacted,
    pub redirect_uri: String,
    pub return_to: String,
}

/// Who the provider says signed in, after the ID token was verified.
#[derive(Clone, Debug)]
pub struct SsoSubject {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

/// Why a verified subject still may not sign in.
#[derive(Debug)]
pub enum SsoRefusal {
    /// No linked account, no account with a verified email, and no JIT.
    NoAccount,
    /// An account has this email but the provider has not verified it.
    EmailNotVerified,
    /// An account has this email, but its domain is not one the tenant has
    /// verified, so no connection may claim it.
    EmailDomainNotVerified,
    /// The account holds more than the connection's last editor could
    /// grant.
    BeyondConnection,
    /// The provider sent no email, and one is needed to find or create the
    /// account.
    NoEmail,
    UserDisabled,
    TenantSuspended,
}

impl Store {
    pub async fn create_sso_connection(
        &self,
        scope: &TenantScope,
        id: SsoConnectionId,
        s: &SsoConnectionSettings,
        sealed_secret: Option<Vec<u8>>,
        editor: Grants,
    ) -> Result<SsoConnection> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO sso_connections (id, tenant_id, name, issuer, client_id, client_secret,
                 scopes, email_claim, name_claim, groups_claim, jit_provisioning,
                 group_role_mappings, enabled, metadata)
             VALUES ($1, ditto_current_tenant(), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(&s.name)
        .bind(&s.issuer)
        .bind(&s.client_id)
        .bind(sealed_secret)
        .bind(&s.scopes)
        .bind(&s.claims.email)
        .bind(&s.claims.name)
        .bind(&s.claims.groups)
        .bind(s.jit_provisioning)
        .bind(json!(s.group_role_mappings))
        .bind(s.enabled)
        .bind(&s.metadata)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let change = Change::new("sso_connections.create", "sso_connection")
            .target(id)
            .after(Some(audit_image(&row)));
        audit::record(&mut tx, scope, change).await?;
        record_editor(&mut tx, id, editor).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn list_sso_connections(
        &self,
        scope: &TenantScope,
        filter: &NameFilter,
        page: &PageParams,
    ) -> Result<SsoConnectionPage> {
        let (rows, next_cursor) = self
            .list_searchable(
                scope,
                format!("SELECT {COLUMNS} FROM sso_connections WHERE true"),
                ("name", "name"),
                filter.q.as_deref(),
                page,
                |r: &Row| (r.id, r.name.clone()),
            )
            .await?;
        Ok(SsoConnectionPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    pub async fn get_sso_connection(
        &self,
        scope: &TenantScope,
        id: SsoConnectionId,
    ) -> Result<SsoConnection> {
        let mut tx = self.tenant_tx(scope).await?;
        let row = fetch(&mut tx, id).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn update_sso_connection(
        &self,
        scope: &TenantScope,
        id: SsoConnectionId,
        c: &SsoConnectionChange,
        editor: Grants,
    ) -> Result<SsoConnection> {
        let mut tx = self.tenant_tx(scope).await?;
        let current = fetch(&mut tx, id).await?;
        Rebinding {
            secret_field: "/client_secret",
            destination: "issuer",
            moves: c
                .issuer
                .as_ref()
                .is_some_and(|(issuer, _)| *issuer != current.issuer),
            holds_secret: current.has_client_secret,
            replaces_secret: c.sealed_secret.is_some(),
        }
        .check()?;
        let before = audit_image(&current);
        let (issuer, metadata) = match &c.issuer {
            Some((issuer, metadata)) => (Some(issuer.as_str()), Some(metadata)),
            None => (None, None),
        };
        let row: Row = sqlx::query_as(sql!(
            "UPDATE sso_connections SET name = COALESCE($2, name),
                 issuer = COALESCE($3, issuer), metadata = COALESCE($4, metadata),
                 client_id = COALESCE($5, client_id),
                 client_secret = CASE WHEN $6 THEN $7 ELSE client_secret END,
                 scopes = COALESCE($8, scopes),
                 email_claim = COALESCE($9, email_claim), name_claim = COALESCE($10, name_claim),
                 groups_claim = COALESCE($11, groups_claim),
                 jit_provisioning = COALESCE($12, jit_provisioning),
                 group_role_mappings = COALESCE($13, group_role_mappings),
                 enabled = COALESCE($14, enabled), updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(c.name.as_deref())
        .bind(issuer)
        .bind(metadata)
        .bind(c.client_id.as_deref())
        .bind(c.sealed_secret.is_some())
        .bind(c.sealed_secret.clone().flatten())
        .bind(c.scopes.as_ref())
        .bind(c.claims.as_ref().map(|m| m.email.as_str()))
        .bind(c.claims.as_ref().map(|m| m.name.as_str()))
        .bind(c.claims.as_ref().map(|m| m.groups.as_str()))
        .bind(c.jit_provisioning)
        .bind(c.group_role_mappings.as_ref().map(|m| json!(m)))
        .bind(c.enabled)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let change = Change::new("sso_connections.update", "sso_connection")
            .target(id)
            .before(Some(before))
            .after(Some(audit_image(&row)));
        audit::record(&mut tx, scope, change).await?;
        record_editor(&mut tx, id, editor).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// Deletes a connection, its subject links and sign-ins in flight. The
    /// role bindings it made stay (they are ordinary bindings from then on).
    pub async fn delete_sso_connection(
        &self,
        scope: &TenantScope,
        id: SsoConnectionId,
    ) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit_image(&fetch(&mut tx, id).await?);
        sqlx::query("DELETE FROM sso_connections WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let change = Change::new("sso_connections.delete", "sso_connection")
            .target(id)
            .before(Some(before));
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// The connection a sign-in names, with its tenant, if it exists.
    pub async fn sso_login_connection(
        &self,
        id: SsoConnectionId,
    ) -> Result<Option<SsoLoginConnection>> {
        #[derive(FromRow)]
        struct LoginRow {
            tenant_id: Uuid,
            tenant_status: String,
            protocol: String,
            issuer: String,
            client_id: String,
            client_secret: Option<Vec<u8>>,
            scopes: Vec<String>,
            email_claim: String,
            name_claim: String,
            groups_claim: String,
            jit_provisioning: bool,
            group_role_mappings: Value,
            enabled: bool,
            metadata: Value,
            editor_permissions: Option<Vec<String>>,
        }
        let mut tx = self.unscoped_platform_tx().await?;
        let row: Option<LoginRow> = sqlx::query_as(
            "SELECT t.id AS tenant_id, t.status AS tenant_status, c.protocol, c.issuer, c.client_id,
                    c.client_secret, c.scopes, c.email_claim, c.name_claim, c.groups_claim,
                    c.jit_provisioning, c.group_role_mappings, c.enabled, c.metadata,
                    c.editor_permissions
             FROM sso_connections c JOIN tenants t ON t.id = c.tenant_id
             WHERE c.id = $1",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(row.map(|r| SsoLoginConnection {
            id,
            tenant: TenantRef {
                id: r.tenant_id.into(),
                status: if r.tenant_status == "suspended" {
                    TenantStatus::Suspended
                } else {
                    TenantStatus::Active
                },
            },
            protocol: protocol(&r.protocol),
            issuer: r.issuer,
            client_id: r.client_id,
            sealed_secret: r.client_secret,
            scopes: r.scopes,
            claims: ClaimMapping {
                email: r.email_claim,
                name: r.name_claim,
                groups: r.groups_claim,
            },
            jit_provisioning: r.jit_provisioning,
            group_role_mappings: mappings(r.group_role_mappings),
            enabled: r.enabled,
            metadata: r.metadata,
            ceiling: editor_ceiling(r.editor_permissions.as_deref()),
        }))
    }

    /// Remembers a sign-in sent to the provider; the browser holds the
    /// token whose digest is `token_hash`. Sign-ins that ended long ago go.
    pub async fn begin_sso_login(
        &self,
        token_hash: &[u8; 32],
        login: &SsoLogin,
        ttl_secs: i64,
    ) -> Result<()> {
        let mut tx = self.unscoped_platform_tx().await?;
        sqlx::query("DELETE FROM sso_logins WHERE expires_at < now() - interval '1 day'")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO sso_logins (token_hash, tenant_id, connection_id, state, nonce,
                 pkce_verifier, redirect_uri, return_to, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))",
        )
        .bind(token_hash.as_slice())
        .bind(login.tenant_id.0)
        .bind(login.connection_id.0)
        .bind(&login.state)
        .bind(&login.nonce)
        .bind(&login.pkce_verifier.0)
        .bind(&login.redirect_uri)
        .bind(&login.return_to)
        .bind(ttl_secs as f64)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Spends the sign-in the browser's token names: it is returned once,
    /// if it has not expired; every later call finds nothing.
    pub async fn take_sso_login(&self, token_hash: &[u8; 32]) -> Result<Option<SsoLogin>> {
        let mut tx = self.unscoped_platform_tx().await?;
        #[allow(clippy::type_complexity)]
        let row: Option<(Uuid, Uuid, String, String, String, String, String)> = sqlx::query_as(
            "UPDATE sso_logins SET used_at = now()
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
             RETURNING tenant_id, connection_id, state, nonce, pkce_verifier, redirect_uri,
                       return_to",
        )
        .bind(token_hash.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(row.map(
            |(tenant, connection, state, nonce, pkce_verifier, redirect_uri, return_to)| SsoLogin {
                tenant_id: tenant.into(),
                connection_id: connection.into(),
                state,
                nonce,
                pkce_verifier: Redacted(pkce_verifier),
                redirect_uri,
                return_to,
            },
        ))
    }
}

/// What a connection's last editor could grant; connections saved before
/// this was recorded get everything but `owners:write`.
fn editor_ceiling(permissions: Option<&[String]>) -> Grants {
    match permissions {
        Some(names) => permission_grants(names),
        None => Grants::short_of_owner(),
    }
}

pub(super) fn permission_grants(names: &[String]) -> Grants {
    Grants::of(
        &names
            .iter()
            .filter_map(|n| Permission::parse(n))
            .collect::<Vec<_>>(),
    )
}

/// Records who could grant what when `id` was last saved.
pub(crate) async fn record_editor(tx: &mut Tx, id: SsoConnectionId, editor: Grants) -> Result<()> {
    sqlx::query("UPDATE sso_connections SET editor_permissions = $2 WHERE id = $1")
        .bind(id.0)
        .bind(editor.names())
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn fetch(tx: &mut Tx, id: SsoConnectionId) -> Result<Row> {
    let row: Option<Row> =
        sqlx::query_as(sql!("SELECT {COLUMNS} FROM sso_connections WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
    row.ok_or(Error::NotFound("SSO connection"))
}

/// What the audit chain keeps of a connection: its settings, not its secret.
pub(crate) fn audit_image(r: &Row) -> Value {
    json!({
        "id": r.id, "name": r.name, "protocol": r.protocol, "issuer": r.issuer, "client_id": r.client_id,
        "has_client_secret": r.has_client_secret, "scopes": r.scopes,
        "claims": { "email": r.email_claim, "name": r.name_claim, "groups": r.groups_claim },
        "jit_provisioning": r.jit_provisioning, "group_role_mappings": r.group_role_mappings,
        "enabled": r.enabled, "idp_metadata_url": r.idp_metadata_url,
        "name_id_format": r.name_id_format, "allow_idp_initiated": r.allow_idp_initiated,
    })
}
