//! Email domains a tenant claims, for home-realm discovery. A domain is
//! claimed once across all tenants (`tenant_domains_domain_key`), starts
//! `pending` with a verification token the tenant publishes in DNS, and
//! routes sign-ins only once a platform operator has verified it.

use chrono::{DateTime, Utc};
use ditto_core::{Error, PlatformScope, Result, TenantScope};
use ditto_types::api::{
    DomainStatus, DomainVerification, PageParams, TenantDomain, TenantDomainPage,
};
use ditto_types::{SsoConnectionId, TenantId};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::page::{BY_CREATION, Keyset};
use crate::{Store, error::db};

/// The DNS name under the domain where the token is published.
pub const TXT_LABEL: &str = "_ditto-verification";

const COLUMNS: &str = "id, tenant_id, domain, status, verification_token, created_at, verified_at";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    domain: String,
    status: String,
    verification_token: String,
    created_at: DateTime<Utc>,
    verified_at: Option<DateTime<Utc>>,
}

impl From<Row> for TenantDomain {
    fn from(r: Row) -> Self {
        TenantDomain {
            tenant_id: r.tenant_id.into(),
            verification: DomainVerification {
                record_type: "TXT".into(),
                record_name: format!("{TXT_LABEL}.{}", r.domain),
                record_value: format!("ditto-domain-verification={}", r.verification_token),
            },
            domain: r.domain,
            status: if r.status == "verified" {
                DomainStatus::Verified
            } else {
                DomainStatus::Pending
            },
            created_at: r.created_at,
            verified_at: r.verified_at,
        }
    }
}

/// Where discovery sends an email's domain: its tenant and the tenant's
/// enabled connections.
#[derive(Clone, Debug)]
pub struct DomainRealm {
    pub tenant_id: TenantId,
    pub tenant_slug: String,
    pub tenant_active: bool,
    pub sso_enforced: bool,
    /// (id, name, protocol) of each enabled connection, oldest first.
    pub connections: Vec<(SsoConnectionId, String, String)>,
}

/// Days a claim may wait for verification before it lapses.
pub const PENDING_DAYS: i64 = 7;

impl Store {
    pub async fn create_domain(
        &self,
        scope: &TenantScope,
        domain: &str,
        token: &str,
    ) -> Result<TenantDomain> {
        let mut tx = self.tenant_tx(scope).await?;
        // This tenant's own lapsed claim is replaced by the new one.
        sqlx::query(sql!(
            "DELETE FROM tenant_domains WHERE domain = $1 AND status = 'pending'
               AND created_at < now() - interval '{PENDING_DAYS} days'"
        ))
        .bind(domain)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let row: Row = sqlx::query_as(sql!(
            "INSERT INTO tenant_domains (id, tenant_id, domain, verification_token)
             VALUES ($1, ditto_current_tenant(), $2, $3) RETURNING {COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(domain)
        .bind(token)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit::record_row(&mut tx, scope, "tenant_domains.create", row.id, None).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    pub async fn list_domains(
        &self,
        scope: &TenantScope,
        page: &PageParams,
    ) -> Result<TenantDomainPage> {
        let keyset = Keyset::parse(page, &[BY_CREATION, ("domain", Some("domain"))])?;
        let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM tenant_domains WHERE true"));
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let (rows, next_cursor) =
            keyset.finish(rows, |r, col| (r.id, col.map(|_| r.domain.clone())));
        Ok(TenantDomainPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    pub async fn get_domain(&self, scope: &TenantScope, domain: &str) -> Result<TenantDomain> {
        let mut tx = self.tenant_tx(scope).await?;
        let row: Option<Row> = sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM tenant_domains WHERE domain = $1"
        ))
        .bind(domain)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(Into::into).ok_or(Error::NotFound("domain"))
    }

    pub async fn delete_domain(&self, scope: &TenantScope, domain: &str) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        let id: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM tenant_domains WHERE domain = $1")
                .bind(domain)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let id = id.ok_or(Error::NotFound("domain"))?;
        let before = audit::image_by_id(&mut tx, "tenant_domains", id).await?;
        sqlx::query("DELETE FROM tenant_domains WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        audit::record_row(&mut tx, scope, "tenant_domains.delete", id, before).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Marks `tenant`'s `domain` verified: a platform operator's act, after
    /// checking the TXT record. Idempotent.
    pub async fn verify_domain(
        &self,
        scope: &PlatformScope,
        tenant: TenantId,
        domain: &str,
    ) -> Result<TenantDomain> {
        let mut tx = self.platform_tx(scope).await?;
        let before: Option<Row> = sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM tenant_domains WHERE tenant_id = $1 AND domain = $2 FOR UPDATE"
        ))
        .bind(tenant.0)
        .bind(domain)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let before = before.ok_or(Error::NotFound("domain"))?;
        let lapsed: bool = sqlx::query_scalar(sql!(
            "SELECT $1 = 'pending' AND $2 < now() - interval '{PENDING_DAYS} days'"
        ))
        .bind(&before.status)
        .bind(before.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if lapsed {
            return Err(Error::Conflict(format!(
                "this claim lapsed: claims not verified within {PENDING_DAYS} days do; the tenant claims the domain again"
            )));
        }
        let row: Row = sqlx::query_as(sql!(
            "UPDATE tenant_domains SET status = 'verified', verified_at = COALESCE(verified_at, now())
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(before.id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        // In the tenant's chain (its domain changed), naming the operator.
        let change = Change::new("tenant_domains.verify", "tenant_domain")
            .target(row.id)
            .before(Some(json!({"domain": row.domain, "status": before.status})))
            .after(Some(json!({"domain": row.domain, "status": "verified"})));
        audit::append(&mut tx, Some(tenant.0), Some(scope.actor()), change).await?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    /// The tenant whose verified domain `domain` is, with its enabled SSO
    /// connections. Public (before anyone is authorized), like sign-in.
    pub async fn domain_realm(&self, domain: &str) -> Result<Option<DomainRealm>> {
        let mut tx = self.unscoped_platform_tx().await?;
        let tenant: Option<(Uuid, String, String, Option<bool>)> = sqlx::query_as(
            "SELECT t.id, t.slug, t.status, p.enforced
             FROM tenant_domains d
             JOIN tenants t ON t.id = d.tenant_id
             LEFT JOIN tenant_sso_policies p ON p.tenant_id = t.id
             WHERE lower(d.domain) = lower($1) AND d.status = 'verified'",
        )
        .bind(domain)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((tenant_id, slug, status, enforced)) = tenant else {
            tx.commit().await.map_err(db)?;
            return Ok(None);
        };
        let connections: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT id, name, protocol FROM sso_connections
             WHERE tenant_id = $1 AND enabled ORDER BY id",
        )
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Some(DomainRealm {
            tenant_id: tenant_id.into(),
            tenant_slug: slug,
            tenant_active: status == "active",
            sso_enforced: enforced.unwrap_or(false),
            connections: connections
                .into_iter()
                .map(|(id, name, protocol)| (id.into(), name, protocol))
                .collect(),
        }))
    }
}
