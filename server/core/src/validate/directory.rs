//! Tenants, projects, people, groups, roles, service accounts, access
//! tokens and API keys.

use chrono::{DateTime, Utc};
use ditto_types::api::*;

use super::*;
use crate::Result;

pub fn create_tenant(body: &CreateTenant) -> Result<()> {
    let mut c = Checker::default();
    c.slug("/slug", &body.slug);
    c.text("/name", &body.name, 1, 200);
    c.time_zone("/time_zone", body.time_zone.as_deref());
    c.finish()
}

pub fn update_tenant(body: &UpdateTenant) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, 200);
    c.time_zone("/time_zone", body.time_zone.as_deref());
    c.finish()
}

pub fn create_project(body: &CreateProject) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.finish()
}

pub fn update_project(body: &UpdateProject) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.finish()
}

pub fn create_user(body: &CreateUser) -> Result<()> {
    let mut c = Checker::default();
    c.email("/email", &body.email);
    c.opt_text("/display_name", body.display_name.as_deref(), 1, 200);
    c.opt_text(
        "/external_id",
        body.external_id.as_deref(),
        1,
        EXTERNAL_ID_MAX,
    );
    c.finish()
}

pub fn create_group(body: &CreateGroup) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, 200);
    c.opt_text(
        "/external_id",
        body.external_id.as_deref(),
        1,
        EXTERNAL_ID_MAX,
    );
    c.finish()
}

pub fn update_group(body: &UpdateGroup) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, 200);
    c.opt_text(
        "/external_id",
        body.external_id.as_deref(),
        1,
        EXTERNAL_ID_MAX,
    );
    c.finish()
}

pub fn update_user(body: &UpdateUser) -> Result<()> {
    let mut c = Checker::default();
    if let Some(email) = &body.email {
        c.email("/email", email);
    }
    c.opt_text("/display_name", body.display_name.as_deref(), 1, 200);
    c.opt_text(
        "/external_id",
        body.external_id.as_deref(),
        1,
        EXTERNAL_ID_MAX,
    );
    c.finish()
}

pub fn create_service_account(body: &CreateServiceAccount) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    if let Some(role) = &body.role {
        c.role_name("/role", role);
    }
    c.finish()
}

// ---------------------------------------------------------------- roles

impl Checker {
    /// A role's name: lowercase letters, digits, `_` and `-`, starting with
    /// a letter, at most 63 characters.
    pub fn role_name(&mut self, field: &str, name: &str) {
        let ok = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok {
            self.fail(
                field,
                "invalid_value",
                "must be 1–63 lowercase letters, digits, `_` or `-`, starting with a letter",
            );
        }
    }

    /// Permission names a tenant role may carry.
    fn tenant_permissions(&mut self, field: &str, names: &[String]) {
        if names.is_empty() {
            self.fail(field, "required", "must name at least one permission");
        }
        for (i, name) in names.iter().enumerate() {
            match crate::Permission::parse(name) {
                None => self.fail(
                    &format!("{field}/{i}"),
                    "unknown_permission",
                    format!("`{name}` is not in the permission catalogue"),
                ),
                Some(p) if p.is_platform_only() => self.fail(
                    &format!("{field}/{i}"),
                    "platform_only",
                    format!("`{name}` is for platform principals only"),
                ),
                Some(_) => {}
            }
        }
    }
}

pub fn create_role(body: &CreateRole) -> Result<()> {
    let mut c = Checker::default();
    c.role_name("/name", &body.name);
    if crate::rbac::is_builtin(&body.name) {
        c.fail("/name", "reserved", "is the name of a built-in role");
    }
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.tenant_permissions("/permissions", &body.permissions);
    c.finish()
}

pub fn update_role(body: &UpdateRole) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    if let Some(p) = &body.permissions {
        c.tenant_permissions("/permissions", p);
    }
    c.finish()
}

pub fn create_role_binding(body: &CreateRoleBinding) -> Result<()> {
    let mut c = Checker::default();
    c.role_name("/role", &body.role);
    c.finish()
}

pub fn update_service_account(body: &UpdateServiceAccount) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.finish()
}

pub fn create_access_token(body: &CreateAccessToken, now: DateTime<Utc>) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.future("/expires_at", body.expires_at, now);
    c.finish()
}

pub fn create_api_key(body: &CreateApiKey, now: DateTime<Utc>) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.models("/allowed_models", body.allowed_models.as_deref());
    c.future("/expires_at", body.expires_at, now);
    if body.owner_user_id.is_some() && body.owner_service_account_id.is_some() {
        c.fail(
            "/owner_service_account_id",
            "conflicting_owner",
            "a key has at most one owner: give owner_user_id or owner_service_account_id, not both",
        );
    }
    c.finish()
}

pub fn update_api_key(body: &UpdateApiKey) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, NAME_MAX);
    c.models("/allowed_models", body.allowed_models.as_deref());
    c.exclusive(
        "/clear_allowed_models",
        body.clear_allowed_models,
        body.allowed_models.is_some(),
        "allowed_models",
    );
    c.finish()
}
