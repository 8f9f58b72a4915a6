//! Single sign-on connections of a tenant: where its staff sign in (an
//! OpenID Connect provider), how the provider's claims map to our users,
//! and which roles the provider's groups bring.

use super::*;

/// Which protocol a connection speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SsoProtocol {
    #[default]
    Oidc,
}

/// Which claims carry a person's email, name and groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimMapping {
    /// Default `email`.
    #[serde(default = "ClaimMapping::default_email")]
    pub email: String,
    /// Default `name`.
    #[serde(default = "ClaimMapping::default_name")]
    pub name: String,
    /// Default `groups`: a list of group names (a single string is taken
    /// as a list of one).
    #[serde(default = "ClaimMapping::default_groups")]
    pub groups: String,
}

impl ClaimMapping {
    fn default_email() -> String {
        "email".into()
    }
    fn default_name() -> String {
        "name".into()
    }
    fn default_groups() -> String {
        "groups".into()
    }
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            email: Self::default_email(),
            name: Self::default_name(),
            groups: Self::default_groups(),
        }
    }
}

/// Members of the identity provider's group `group` get `role`, bound
/// tenant-wide, while they are in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRoleMapping {
    /// The group's name as the provider sends it (compared exactly).
    pub group: String,
    /// A built-in or custom role of the tenant.
    pub role: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SsoConnection {
    pub id: SsoConnectionId,
    pub tenant_id: TenantId,
    pub name: String,
    pub protocol: SsoProtocol,
    /// The OpenID provider's issuer; its discovery document was fetched
    /// from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Whether a client secret is stored (it is never returned).
    pub has_client_secret: bool,
    pub scopes: Vec<String>,
    pub claims: ClaimMapping,
    /// Create a user at their first sign-in when no account matches.
    pub jit_provisioning: bool,
    pub group_role_mappings: Vec<GroupRoleMapping>,
    pub enabled: bool,
    /// Where the browser starts a sign-in through this connection.
    pub login_url: String,
    /// The redirect URI to register at the provider (relative to this
    /// server's public address).
    pub callback_path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

page_type!(SsoConnectionPage, SsoConnection);

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSsoConnection {
    /// 1–200 characters, unique in the tenant (case-insensitive).
    pub name: String,
    #[serde(default)]
    pub protocol: SsoProtocol,
    /// `https://…` (plain `http` only for loopback addresses).
    pub issuer: String,
    pub client_id: String,
    /// Write-only: sealed with the master key.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Default `openid email profile`; `openid` is always included.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub claims: Option<ClaimMapping>,
    #[serde(default)]
    pub jit_provisioning: bool,
    #[serde(default)]
    pub group_role_mappings: Vec<GroupRoleMapping>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Fields left out stay as they are. Sending `issuer` (even unchanged)
/// fetches the discovery document again.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSsoConnection {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// Write-only: replaces the stored secret.
    pub client_secret: Option<String>,
    /// Remove the stored secret.
    #[serde(default)]
    pub clear_client_secret: bool,
    pub scopes: Option<Vec<String>>,
    pub claims: Option<ClaimMapping>,
    pub jit_provisioning: Option<bool>,
    /// Replaces the whole list.
    pub group_role_mappings: Option<Vec<GroupRoleMapping>>,
    pub enabled: Option<bool>,
}

/// Where to go after an SSO sign-in.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SsoStartParams {
    /// A path on this server to land on after signing in (default `/`).
    /// Absolute URLs and `//host` are refused.
    pub return_to: Option<String>,
}

/// What the identity provider sends back to the callback.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SsoCallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    /// RFC 9207: the issuer that answered.
    pub iss: Option<String>,
    /// The provider refused (e.g. `access_denied`).
    pub error: Option<String>,
    pub error_description: Option<String>,
}
