//! SAML 2.0 connections: rows of `sso_connections` with `protocol = 'saml'`
//! (so subject links, mapped role bindings, sign-ins in flight and sessions
//! work as for OIDC), what a SAML sign-in reads of them, and the assertion
//! ids already used (the replay cache when Redis is not configured).

use chrono::{DateTime, Utc};
use ditto_core::{Error, Grants, Result, TenantScope};
use ditto_types::SsoConnectionId;
use ditto_types::api::{ClaimMapping, GroupRoleMapping, SsoConnection, SsoProtocol};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::sso::{COLUMNS, Row, SsoLoginConnection, audit_image, fetch, record_editor};
use crate::{Store, error::db};

/// Where the browser starts a SAML sign-in (HTTP-Redirect to the provider).
pub fn login_path(id: SsoConnectionId) -> String {
    format!("/api/v1/auth/saml/{id}/start")
}

/// Our assertion consumer service (HTTP-POST binding).
pub fn acs_path(id: SsoConnectionId) -> String {
    format!("/api/v1/auth/saml/{id}/acs")
}

/// Our service provider metadata.
pub fn metadata_path(id: SsoConnectionId) -> String {
    format!("/api/v1/auth/saml/{id}/metadata")
}

/// A SAML connection's settings after validation, with the provider's
/// metadata read and checked.
#[derive(Debug)]
pub struct SamlConnectionSettings {
    pub name: String,
    /// The provider's entity id (kept as the connection's `issuer`).
    pub idp_entity_id: String,
    /// Ours (kept as the connection's `client_id`).
    pub sp_entity_id: String,
    pub idp_metadata_xml: String,
    pub idp_metadata_url: Option<String>,
    /// What the sign-in and the API read of the metadata (`sso_url`,
    /// `signing_certificates`).
    pub idp_summary: Value,
    pub name_id_format: Option<String>,
    pub claims: ClaimMapping,
    pub jit_provisioning: bool,
    pub group_role_mappings: Vec<GroupRoleMapping>,
    pub allow_idp_initiated: bool,
    pub enabled: bool,
}

/// Fresh provider metadata for a connection.
#[derive(Debug)]
pub struct SamlMetadata {
    pub idp_entity_id: String,
    pub xml: String,
    /// `None`: given as XML (any earlier URL is forgotten).
    pub url: Option<String>,
    pub summary: Value,
}

/// A change to a SAML connection; `None` keeps the field.
#[derive(Debug, Default)]
pub struct SamlConnectionChange {
    pub name: Option<String>,
    pub metadata: Option<SamlMetadata>,
    /// `Some(None)` stops asking for a format.
    pub name_id_format: Option<Option<String>>,
    pub claims: Option<ClaimMapping>,
    pub jit_provisioning: Option<bool>,
    pub group_role_mappings: Option<Vec<GroupRoleMapping>>,
    pub allow_idp_initiated: Option<bool>,
    pub enabled: Option<bool>,
}

/// What a SAML sign-in needs beyond [`SsoLoginConnection`].
#[derive(Clone, Debug)]
pub struct SamlLoginSettings {
    pub sp_entity_id: String,
    pub idp_metadata_xml: String,
    pub name_id_format: Option<String>,
    pub allow_idp_initiated: bool,
}

impl Store {
    pub async fn create_saml_connection(
        &self,
        scope: &TenantScope,
        id: SsoConnectionId,
        s: &SamlConnectionSettings,
        editor: Grants,
    ) -> Result<SsoConnection> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO sso_connections (id, tenant_id, name, protocol, issuer, client_id,
                 scopes, email_claim, name_claim, groups_claim, jit_provisioning,
                 group_role_mappings, enabled, metadata, idp_metadata_xml, idp_metadata_url,
                 name_id_format, allow_idp_initiated)
             VALUES ($1, ditto_current_tenant(), $2, 'saml', $3, $4, '{{}}', $5, $6, $7, $8, $9,
                 $10, $11, $12, $13, $14, $15)
             RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(&s.name)
        .bind(&s.idp_entity_id)
        .bind(&s.sp_entity_id)
        .bind(&s.claims.email)
        .bind(&s.claims.name)
        .bind(&s.claims.groups)
        .bind(s.jit_provisioning)
        .bind(json!(s.group_role_mappings))
        .bind(s.enabled)
        .bind(&s.idp_summary)
        .bind(&s.idp_metadata_xml)
        .bind(s.idp_metadata_url.as_deref())
        .bind(s.name_id_format.as_deref())
        .bind(s.allow_idp_initiated)
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

    /// Changes a SAML connection; an OpenID one answers 404 here.
    pub async fn update_saml_connection(
        &self,
        scope: &TenantScope,
        id: SsoConnectionId,
        c: &SamlConnectionChange,
        editor: Grants,
    ) -> Result<SsoConnection> {
        let mut tx = self.tenant_tx(scope).await?;
        let current = fetch(&mut tx, id).await?;
        if current.protocol != "saml" {
            return Err(Error::NotFound("SAML connection"));
        }
        let before = audit_image(&current);
        let m = c.metadata.as_ref();
        let row: Row = sqlx::query_as(sql!(
            "UPDATE sso_connections SET name = COALESCE($2, name),
                 issuer = COALESCE($3, issuer), idp_metadata_xml = COALESCE($4, idp_metadata_xml),
                 metadata = COALESCE($5, metadata),
                 idp_metadata_url = CASE WHEN $6 THEN $7 ELSE idp_metadata_url END,
                 name_id_format = CASE WHEN $8 THEN $9 ELSE name_id_format END,
                 email_claim = COALESCE($10, email_claim), name_claim = COALESCE($11, name_claim),
                 groups_claim = COALESCE($12, groups_claim),
                 jit_provisioning = COALESCE($13, jit_provisioning),
                 group_role_mappings = COALESCE($14, group_role_mappings),
                 allow_idp_initiated = COALESCE($15, allow_idp_initiated),
                 enabled = COALESCE($16, enabled), updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(c.name.as_deref())
        .bind(m.map(|m| m.idp_entity_id.as_str()))
        .bind(m.map(|m| m.xml.as_str()))
        .bind(m.map(|m| &m.summary))
        .bind(m.is_some())
        .bind(m.and_then(|m| m.url.as_deref()))
        .bind(c.name_id_format.is_some())
        .bind(c.name_id_format.clone().flatten())
        .bind(c.claims.as_ref().map(|m| m.email.as_str()))
        .bind(c.claims.as_ref().map(|m| m.name.as_str()))
        .bind(c.claims.as_ref().map(|m| m.groups.as_str()))
        .bind(c.jit_provisioning)
        .bind(c.group_role_mappings.as_ref().map(|m| json!(m)))
        .bind(c.allow_idp_initiated)
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

    /// The SAML side of a connection a sign-in names; `None` when there is
    /// no such connection or it speaks OpenID Connect.
    pub async fn saml_login_settings(
        &self,
        id: SsoConnectionId,
    ) -> Result<Option<(SsoLoginConnection, SamlLoginSettings)>> {
        let Some(connection) = self
            .sso_login_connection(id)
            .await?
            .filter(|c| c.protocol == SsoProtocol::Saml)
        else {
            return Ok(None);
        };
        let mut tx = self.unscoped_platform_tx().await?;
        let row: Option<(String, Option<String>, Option<String>, bool)> = sqlx::query_as(
            "SELECT client_id, idp_metadata_xml, name_id_format, allow_idp_initiated
             FROM sso_connections WHERE id = $1 AND tenant_id = $2 AND protocol = 'saml'",
        )
        .bind(id.0)
        .bind(connection.tenant.id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(
            row.and_then(|(sp_entity_id, xml, name_id_format, allow_idp_initiated)| {
                Some((
                    connection,
                    SamlLoginSettings {
                        sp_entity_id,
                        idp_metadata_xml: xml?,
                        name_id_format,
                        allow_idp_initiated,
                    },
                ))
            }),
        )
    }

    /// Records that an assertion was used to sign in; false when it already
    /// was (a replay). Ids are kept until `expires_at`, and ids that
    /// expired are removed as new ones arrive.
    pub async fn note_saml_assertion(
        &self,
        connection: &SsoLoginConnection,
        assertion_id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.unscoped_platform_tx().await?;
        sqlx::query("DELETE FROM saml_assertion_ids WHERE expires_at < now()")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO saml_assertion_ids (connection_id, assertion_id, tenant_id, expires_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING connection_id",
        )
        .bind(connection.id.0)
        .bind(assertion_id)
        .bind(connection.tenant.id.0)
        .bind(expires_at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(inserted.is_some())
    }
}
