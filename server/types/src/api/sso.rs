//! Single sign-on connections of a tenant: where its staff sign in (an
//! OpenID Connect provider or a SAML 2.0 identity provider), how the
//! provider's claims map to our users, and which roles the provider's
//! groups bring.

use super::*;

/// Which protocol a connection speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SsoProtocol {
    #[default]
    Oidc,
    Saml,
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
    /// OIDC: the OpenID provider's issuer; its discovery document was
    /// fetched from `<issuer>/.well-known/openid-configuration`. SAML: the
    /// identity provider's entity id, from its metadata.
    pub issuer: String,
    /// OIDC: our client id at the provider. SAML: our service provider's
    /// entity id (the audience the provider's assertions must name).
    pub client_id: String,
    /// Whether a client secret is stored (it is never returned).
    pub has_client_secret: bool,
    /// OIDC only (empty for SAML).
    pub scopes: Vec<String>,
    /// OIDC: the claims; SAML: the names of the assertion's attributes.
    pub claims: ClaimMapping,
    /// Create a user at their first sign-in when no account matches.
    pub jit_provisioning: bool,
    pub group_role_mappings: Vec<GroupRoleMapping>,
    pub enabled: bool,
    /// Where the browser starts a sign-in through this connection.
    pub login_url: String,
    /// The redirect URI to register at the provider (relative to this
    /// server's public address); for SAML, the assertion consumer service.
    pub callback_path: String,
    /// SAML only: the settings OIDC has no counterpart for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml: Option<SamlSettings>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

page_type!(SsoConnectionPage, SsoConnection);

/// What a SAML 2.0 connection holds besides what every connection has.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SamlSettings {
    /// Our service provider metadata (entity id, assertion consumer
    /// service), for the identity provider to import; relative to this
    /// server's public address, served without authentication.
    pub sp_metadata_path: String,
    /// Where the identity provider's metadata is fetched from, if it was
    /// given by URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_metadata_url: Option<String>,
    /// The provider's single sign-on URL (HTTP-Redirect binding), from its
    /// metadata.
    pub idp_sso_url: String,
    /// How many signing certificates the provider's metadata carries.
    pub idp_signing_certificates: usize,
    /// The NameID format asked for (none: the provider chooses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_id_format: Option<String>,
    /// Take responses nobody asked for (sign-in started at the provider).
    pub allow_idp_initiated: bool,
}

/// A SAML 2.0 connection. Exactly one of `idp_metadata_url` and
/// `idp_metadata_xml`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSamlConnection {
    /// 1–200 characters, unique in the tenant (case-insensitive).
    pub name: String,
    /// The identity provider's metadata URL: `https://…` (plain `http`
    /// only for loopback addresses on a development server). Fetched now.
    #[serde(default)]
    pub idp_metadata_url: Option<String>,
    /// The identity provider's metadata document itself (at most 1 MiB).
    #[serde(default)]
    pub idp_metadata_xml: Option<String>,
    /// Our entity id; default
    /// `<this server>/api/v1/auth/saml/<connection id>/metadata`.
    #[serde(default)]
    pub sp_entity_id: Option<String>,
    /// A `urn:oasis:names:tc:SAML:…:nameid-format:…` to ask for; default:
    /// none (the provider chooses).
    #[serde(default)]
    pub name_id_format: Option<String>,
    /// The names of the attributes carrying the email, name and groups
    /// (defaults `email`, `name`, `groups`; without an email attribute an
    /// `emailAddress` NameID is taken as the email).
    #[serde(default)]
    pub claims: Option<ClaimMapping>,
    #[serde(default)]
    pub jit_provisioning: bool,
    #[serde(default)]
    pub group_role_mappings: Vec<GroupRoleMapping>,
    /// Take sign-ins started at the provider (default false).
    #[serde(default)]
    pub allow_idp_initiated: bool,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Fields left out stay as they are. Sending `idp_metadata_url` (even
/// unchanged) fetches the metadata again.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSamlConnection {
    pub name: Option<String>,
    pub idp_metadata_url: Option<String>,
    /// Replaces the metadata (and forgets a metadata URL).
    pub idp_metadata_xml: Option<String>,
    pub name_id_format: Option<String>,
    /// Stop asking for a NameID format.
    #[serde(default)]
    pub clear_name_id_format: bool,
    pub claims: Option<ClaimMapping>,
    pub jit_provisioning: Option<bool>,
    /// Replaces the whole list.
    pub group_role_mappings: Option<Vec<GroupRoleMapping>>,
    pub allow_idp_initiated: Option<bool>,
    pub enabled: Option<bool>,
}

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
