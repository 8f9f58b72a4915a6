//! One module per page of the console.

pub mod account;
pub mod audit;
pub mod audit_chain;
pub mod audit_export_form;
pub mod audit_exports;
pub mod backends;
pub mod budgets;
pub mod change_password;
pub mod explorer;
pub mod groups;
pub mod keys;
pub mod members;
pub mod model_routes;
pub mod platform;
pub mod platform_health;
pub mod projects;
pub mod rate_limits;
pub mod roles;
pub mod scim_tokens;
pub mod settings;
pub mod sign_in;
pub mod sso;
pub mod sso_domains;
pub mod usage;
