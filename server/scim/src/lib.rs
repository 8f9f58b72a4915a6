//! The SCIM 2.0 protocol (RFC 7643, RFC 7644) as pure functions: the filter
//! language ([`filter`]), PATCH operations ([`patch`]), the JSON shapes of
//! users, groups and the discovery documents ([`resource`], [`discovery`])
//! and SCIM errors ([`ScimError`]). Storage (`ditto_store::scim*`) and HTTP
//! (`ditto_api::routes::scim`) build on it.

pub mod discovery;
pub mod filter;
pub mod patch;
pub mod resource;

mod error;

pub use error::ScimError;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const CONTENT_TYPE: &str = "application/scim+json";

/// The largest page a list answers (`count` is capped to it).
pub const MAX_PAGE: i64 = 200;
