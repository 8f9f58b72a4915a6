//! Typed identifiers: a `ProjectId` cannot be passed where a `TenantId` is
//! expected. All are UUIDv7, so ordering by id is ordering by creation time.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// A tenant (a company using the platform).
    TenantId
);
id_type!(
    /// A project inside a tenant.
    ProjectId
);
id_type!(
    /// A user (a member of a tenant's staff).
    UserId
);
id_type!(
    /// A group of users inside a tenant.
    GroupId
);
id_type!(
    /// A SCIM provisioning token of a tenant.
    ScimTokenId
);
id_type!(
    /// A service account (a non-human principal for automation).
    ServiceAccountId
);
id_type!(
    /// An access token of a service account.
    AccessTokenId
);
id_type!(
    /// A virtual API key for the gateway.
    ApiKeyId
);
id_type!(
    /// An upstream provider endpoint of a tenant.
    BackendId
);
id_type!(
    /// A route from public model names to backends.
    RouteId
);
id_type!(
    /// A rate limit of a tenant, project, user or key.
    RateLimitId
);
id_type!(
    /// A spending or token budget of a tenant, project, user or key.
    BudgetId
);
id_type!(
    /// A role granted to a user, group or service account.
    RoleBindingId
);
id_type!(
    /// A signed-in browser session of a user.
    SessionId
);
id_type!(
    /// A single sign-on connection of a tenant (an OpenID provider).
    SsoConnectionId
);
