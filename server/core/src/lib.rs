//! Domain rules of Ditto that do no I/O: who is calling and what they may
//! touch (`auth`), what valid input looks like (`validate`), how secrets are
//! made and checked (`secrets`), and the one error type every layer returns.

pub mod audit;
pub mod audit_export;
pub mod auth;
pub mod catalogue;
pub mod crypto;
pub mod error;
pub mod money;
pub mod period;
pub mod pricing;
pub mod rbac;
pub mod redact;
pub mod secret_binding;
pub mod secrets;
pub mod tenant_health;
pub mod validate;

pub use auth::{
    Actor, Ctx, Grants, Permission, PlatformRole, PlatformScope, Principal, RECENT_SIGN_IN_MINUTES,
    SessionRef, SharedScope, TenantRef, TenantScope,
};
pub use error::{Error, Result};
