//! SCIM provisioning tokens: how a tenant's identity provider authenticates
//! to `/t/{tenant}/scim/v2`. The SCIM resources themselves are SCIM JSON,
//! not part of the admin API.

use super::*;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimToken {
    pub id: ScimTokenId,
    pub tenant_id: TenantId,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

page_type!(ScimTokenPage, ScimToken);

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScimToken {
    /// 1–100 characters, e.g. the identity provider's name.
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedScimToken {
    pub token: ScimToken,
    /// The bearer token for the SCIM endpoint. Shown only in this response;
    /// store it now.
    pub secret: String,
}
