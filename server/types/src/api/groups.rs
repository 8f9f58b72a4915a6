//! Groups of a tenant's users. Roles bound to a group apply to its members.

use super::*;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Group {
    pub id: GroupId,
    pub tenant_id: TenantId,
    /// Unique within the tenant (case-insensitive).
    pub name: String,
    /// The identity provider's stable id for this group (SCIM `externalId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub member_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

page_type!(GroupPage, Group);

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// 1–200 characters.
    pub name: String,
    #[serde(default)]
    pub external_id: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    pub name: Option<String>,
    pub external_id: Option<String>,
}

/// A user in a group.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupMember {
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    /// When the user joined the group.
    pub created_at: DateTime<Utc>,
}

page_type!(GroupMemberPage, GroupMember);

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddGroupMember {
    pub user_id: UserId,
}
