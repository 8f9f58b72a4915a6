//! One module per resource; each lists its routes and nothing else happens
//! here.

pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod audit_exports;
pub(crate) mod backends;
pub(crate) mod budgets;
pub(crate) mod domains;
pub(crate) mod groups;
pub(crate) mod health;
pub(crate) mod me;
pub(crate) mod me_security;
pub(crate) mod model_prices;
pub(crate) mod model_routes;
pub(crate) mod projects;
pub(crate) mod rate_limits;
pub(crate) mod roles;
pub(crate) mod saml;
pub(crate) mod saml_connections;
pub(crate) mod scim;
pub(crate) mod scim_tokens;
pub(crate) mod service_accounts;
pub(crate) mod sign_in;
pub(crate) mod sso;
pub(crate) mod sso_connections;
pub(crate) mod sso_discovery;
pub(crate) mod sso_policy;
pub(crate) mod tenant_health;
pub(crate) mod tenants;
pub(crate) mod usage;
pub(crate) mod user_sign_in;
pub(crate) mod users;
