//! Users and groups as SCIM JSON, and back.
//!
//! A user's `userName` (the email), `displayName`, `externalId` and
//! `active` have columns of their own; every other attribute the identity
//! provider sends (`name`, `emails`, `title`, the enterprise extension, …)
//! is kept as sent and returned as kept. A group is its `displayName`,
//! `externalId` and `members` (users of the tenant).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::filter::get_ci;
use crate::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, ScimError, USER_SCHEMA};

/// What a client sends for a user, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct UserInput {
    pub user_name: String,
    /// What the admin API shows as the user's name: `displayName`, else
    /// `name.formatted`, else given and family name, else the part of
    /// `userName` before `@`.
    pub display_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    /// Every other attribute, as sent (with `displayName` when sent, so it
    /// is returned only then).
    pub attributes: Map<String, Value>,
}

/// Attributes with a column of their own, or that the server owns.
const NOT_KEPT: &[&str] = &["id", "meta", "userName", "externalId", "password", "groups"];

fn string_attr(body: &Value, name: &str, max: usize) -> Result<Option<String>, ScimError> {
    match get_ci(body, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.trim().to_owned())),
        Some(Value::String(_)) => Err(ScimError::invalid_value(format!(
            "`{name}` is at most {max} characters"
        ))),
        Some(_) => Err(ScimError::invalid_value(format!("`{name}` is a string"))),
    }
}

/// Reads a boolean, also as the strings `"true"`/`"false"` some identity
/// providers send.
pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn check_schemas(body: &Value, core: &str) -> Result<(), ScimError> {
    match get_ci(body, "schemas") {
        Some(Value::Array(s))
            if s.iter()
                .any(|v| v.as_str().is_some_and(|v| v.eq_ignore_ascii_case(core))) =>
        {
            Ok(())
        }
        _ => Err(ScimError::invalid_syntax(format!(
            "the resource's `schemas` include \"{core}\""
        ))),
    }
}

pub fn user_from_json(body: &Value) -> Result<UserInput, ScimError> {
    if !body.is_object() {
        return Err(ScimError::invalid_syntax("a user is a JSON object"));
    }
    check_schemas(body, USER_SCHEMA)?;
    let user_name = string_attr(body, "userName", 254)?
        .ok_or_else(|| ScimError::invalid_value("`userName` is required"))?;
    if user_name.chars().count() < 3 {
        return Err(ScimError::invalid_value(
            "`userName` is at least 3 characters",
        ));
    }
    let display = string_attr(body, "displayName", 200)?;
    let external_id = string_attr(body, "externalId", 255)?;
    let active = match get_ci(body, "active") {
        None | Some(Value::Null) => true,
        Some(v) => boolean(v).ok_or_else(|| ScimError::invalid_value("`active` is a boolean"))?,
    };
    let mut attributes = Map::new();
    for (k, v) in body.as_object().into_iter().flatten() {
        if NOT_KEPT.iter().any(|n| n.eq_ignore_ascii_case(k)) || v.is_null() {
            continue;
        }
        if k.eq_ignore_ascii_case("active") {
            // Kept as a mark that the client set it (the status is the value).
            attributes.insert("active".into(), json!(active));
            continue;
        }
        if k.eq_ignore_ascii_case("schemas") {
            // Kept as the mark of a user written through SCIM.
            attributes.insert("schemas".into(), v.clone());
            continue;
        }
        if k.eq_ignore_ascii_case("displayName") {
            if let Some(d) = &display {
                attributes.insert("displayName".into(), json!(d));
            }
            continue;
        }
        attributes.insert(k.clone(), v.clone());
    }
    let name = get_ci(body, "name");
    let from_name = name
        .and_then(|n| get_ci(n, "formatted"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            let part = |p: &str| name.and_then(|n| get_ci(n, p)).and_then(Value::as_str);
            let joined = [part("givenName"), part("familyName")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.trim().is_empty()).then_some(joined)
        });
    let display_name: String = display
        .or(from_name)
        .unwrap_or_else(|| user_name.split('@').next().unwrap_or(&user_name).to_owned())
        .trim()
        .chars()
        .take(200)
        .collect();
    let display_name = if display_name.is_empty() {
        user_name.chars().take(200).collect()
    } else {
        display_name
    };
    Ok(UserInput {
        user_name,
        display_name,
        external_id,
        active,
        attributes,
    })
}

/// A stored user, to render.
#[derive(Clone, Debug)]
pub struct UserRecord<'a> {
    pub id: String,
    pub user_name: &'a str,
    pub display_name: &'a str,
    pub external_id: Option<&'a str>,
    pub active: bool,
    pub attributes: &'a Map<String, Value>,
    /// `(group id, group name)`.
    pub groups: &'a [(String, String)],
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
}

/// The weak ETag of a resource last modified at `at`.
pub fn version(at: DateTime<Utc>) -> String {
    format!("W/\"{}\"", at.timestamp_micros())
}

fn meta(kind: &str, location: String, created: DateTime<Utc>, modified: DateTime<Utc>) -> Value {
    json!({
        "resourceType": kind,
        "created": created.to_rfc3339_opts(SecondsFormat::Millis, true),
        "lastModified": modified.to_rfc3339_opts(SecondsFormat::Millis, true),
        "location": location,
        "version": version(modified),
    })
}

pub fn user_json(u: &UserRecord<'_>, base: &str) -> Value {
    let mut out = Map::new();
    let mut schemas = vec![json!(USER_SCHEMA)];
    if u.attributes
        .keys()
        .any(|k| k.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA))
    {
        schemas.push(json!(ENTERPRISE_USER_SCHEMA));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), json!(u.id));
    for (k, v) in u.attributes {
        if k != "schemas" && k != "active" {
            out.insert(k.clone(), v.clone());
        }
    }
    if out.contains_key("displayName") {
        out.insert("displayName".into(), json!(u.display_name));
    }
    if let Some(e) = u.external_id {
        out.insert("externalId".into(), json!(e));
    }
    out.insert("userName".into(), json!(u.user_name));
    // `active` shows when the client set it, when the user is disabled, and
    // for users never written through SCIM; a client that removed it does
    // not get it back.
    let written_by_scim = u.attributes.contains_key("schemas");
    if u.attributes.contains_key("active") || !u.active || !written_by_scim {
        out.insert("active".into(), json!(u.active));
    }
    if !u.groups.is_empty() {
        let groups: Vec<Value> = u
            .groups
            .iter()
            .map(|(id, name)| {
                json!({"value": id, "$ref": format!("{base}/Groups/{id}"), "display": name, "type": "direct"})
            })
            .collect();
        out.insert("groups".into(), Value::Array(groups));
    }
    out.insert(
        "meta".into(),
        meta(
            "User",
            format!("{base}/Users/{}", u.id),
            u.created,
            u.last_modified,
        ),
    );
    Value::Object(out)
}

/// What a client sends for a group, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    /// The members' user ids, as sent (the store checks they are users of
    /// the tenant).
    pub members: Vec<String>,
}

pub fn group_from_json(body: &Value) -> Result<GroupInput, ScimError> {
    if !body.is_object() {
        return Err(ScimError::invalid_syntax("a group is a JSON object"));
    }
    check_schemas(body, GROUP_SCHEMA)?;
    let display_name = string_attr(body, "displayName", 200)?
        .ok_or_else(|| ScimError::invalid_value("`displayName` is required"))?;
    let external_id = string_attr(body, "externalId", 255)?;
    let mut members = Vec::new();
    match get_ci(body, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for m in items {
                if get_ci(m, "type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("Group"))
                {
                    return Err(ScimError::invalid_value(
                        "groups cannot be members of groups here; list their users",
                    ));
                }
                let value = get_ci(m, "value").and_then(Value::as_str).ok_or_else(|| {
                    ScimError::invalid_value("each member has a `value`: the user's id")
                })?;
                if !members.iter().any(|v| v == value) {
                    members.push(value.to_owned());
                }
            }
        }
        Some(_) => return Err(ScimError::invalid_value("`members` is an array")),
    }
    Ok(GroupInput {
        display_name,
        external_id,
        members,
    })
}

/// A stored group, to render.
#[derive(Clone, Debug)]
pub struct GroupRecord<'a> {
    pub id: String,
    pub display_name: &'a str,
    pub external_id: Option<&'a str>,
    /// `(user id, display name)`; `None`: leave `members` out (excluded).
    /// A member's `display` is not returned: it is read-only, and clients
    /// compare members with what they sent.
    pub members: Option<&'a [(String, String)]>,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
}

pub fn group_json(g: &GroupRecord<'_>, base: &str) -> Value {
    let mut out = json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.id,
        "displayName": g.display_name,
        "meta": meta("Group", format!("{base}/Groups/{}", g.id), g.created, g.last_modified),
    });
    if let Some(e) = g.external_id {
        out["externalId"] = json!(e);
    }
    if let Some(members) = g.members {
        out["members"] = members
            .iter()
            .map(|(id, _)| json!({"value": id, "$ref": format!("{base}/Users/{id}"), "type": "User"}))
            .collect();
    }
    out
}

/// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.9) to a
/// rendered resource. `id`, `schemas` and `meta` always stay.
pub fn project(resource: &mut Value, attributes: &[String], excluded: &[String]) {
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    let always = ["id", "schemas", "meta"];
    let top = |name: &str| -> String {
        let name = name.trim();
        let name = if name.len() > 4 && name[..4].eq_ignore_ascii_case("urn:") {
            // `urn:…:User:userName` names a core attribute; an extension's
            // own URN names its object.
            let core = [USER_SCHEMA, GROUP_SCHEMA]
                .iter()
                .find_map(|s| name.strip_prefix(s).and_then(|r| r.strip_prefix(':')));
            match core {
                Some(rest) => rest,
                None => return name.to_owned(),
            }
        } else {
            name
        };
        name.split('.').next().unwrap_or(name).to_owned()
    };
    if !attributes.is_empty() {
        let keep: Vec<String> = attributes.iter().map(|a| top(a)).collect();
        object.retain(|k, _| {
            always.contains(&k.as_str())
                || keep.iter().any(|w| w.eq_ignore_ascii_case(k))
                || (k.starts_with("urn:")
                    && keep
                        .iter()
                        .any(|w| w.to_ascii_lowercase().starts_with(&k.to_ascii_lowercase())))
        });
    } else if !excluded.is_empty() {
        let drop: Vec<String> = excluded.iter().map(|a| top(a)).collect();
        object.retain(|k, _| {
            always.contains(&k.as_str()) || !drop.iter().any(|w| w.eq_ignore_ascii_case(k))
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn user_round_trips_and_derives_a_display_name() {
        let body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "userName": "bjensen@example.com",
            "externalId": "ext-1",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
            "active": "False",
            "password": "never kept",
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "7"}
        });
        let input = user_from_json(&body).unwrap();
        assert_eq!(input.display_name, "Barbara Jensen");
        assert!(!input.active);
        assert!(!input.attributes.contains_key("password"));
        assert!(!input.attributes.contains_key("displayName"));
        let rendered = user_json(
            &UserRecord {
                id: "u1".into(),
                user_name: &input.user_name,
                display_name: &input.display_name,
                external_id: input.external_id.as_deref(),
                active: input.active,
                attributes: &input.attributes,
                groups: &[("g1".into(), "eng".into())],
                created: Utc::now(),
                last_modified: Utc::now(),
            },
            "https://x/t/acme/scim/v2",
        );
        assert_eq!(
            rendered["schemas"],
            json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA])
        );
        assert_eq!(rendered["name"]["familyName"], "Jensen");
        assert_eq!(rendered["active"], false);
        assert!(rendered.get("displayName").is_none());
        assert_eq!(rendered["groups"][0]["value"], "g1");
        assert_eq!(
            rendered["meta"]["location"],
            "https://x/t/acme/scim/v2/Users/u1"
        );
        assert!(
            rendered["meta"]["version"]
                .as_str()
                .unwrap()
                .starts_with("W/\"")
        );
    }

    fn render(input: &UserInput) -> Value {
        user_json(
            &UserRecord {
                id: "u1".into(),
                user_name: &input.user_name,
                display_name: &input.display_name,
                external_id: None,
                active: input.active,
                attributes: &input.attributes,
                groups: &[],
                created: Utc::now(),
                last_modified: Utc::now(),
            },
            "https://x",
        )
    }

    #[test]
    fn active_shows_when_set_or_disabled() {
        let sent = |body: Value| render(&user_from_json(&body).unwrap());
        let set = sent(json!({"schemas": [USER_SCHEMA], "userName": "a@b.c", "active": true}));
        assert_eq!(set["active"], true);
        // Removed by the client: not given back while the user is active.
        let unset = sent(json!({"schemas": [USER_SCHEMA], "userName": "a@b.c"}));
        assert!(unset.get("active").is_none(), "{unset}");
        let disabled =
            sent(json!({"schemas": [USER_SCHEMA], "userName": "a@b.c", "active": false}));
        assert_eq!(disabled["active"], false);
        // A user made in the admin API (nothing kept from SCIM) shows it.
        let admin_made = UserInput {
            user_name: "a@b.c".into(),
            display_name: "a".into(),
            external_id: None,
            active: true,
            attributes: Map::new(),
        };
        assert_eq!(render(&admin_made)["active"], true);
        assert!(
            render(&admin_made)
                .get("schemas")
                .is_some_and(|s| s == &json!([USER_SCHEMA]))
        );
    }

    #[test]
    fn refuses_bad_users_and_groups() {
        for bad in [
            json!({"userName": "a@b.c"}),
            json!({"schemas": [USER_SCHEMA]}),
            json!({"schemas": [USER_SCHEMA], "userName": 3}),
            json!({"schemas": [USER_SCHEMA], "userName": "a@b.c", "active": "maybe"}),
        ] {
            assert_eq!(user_from_json(&bad).unwrap_err().status, 400, "{bad}");
        }
        for bad in [
            json!({"schemas": [GROUP_SCHEMA]}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"display": "x"}]}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": "x", "type": "Group"}]}),
        ] {
            assert_eq!(group_from_json(&bad).unwrap_err().status, 400, "{bad}");
        }
        let g = group_from_json(&json!({
            "schemas": [GROUP_SCHEMA], "displayName": "g",
            "members": [{"value": "u1"}, {"value": "u1"}, {"value": "u2"}]
        }))
        .unwrap();
        assert_eq!(g.members, vec!["u1", "u2"]);
    }

    #[test]
    fn projection_keeps_what_is_asked() {
        let mut u = json!({"schemas": [], "id": "1", "meta": {}, "userName": "a", "name": {"givenName": "A"}, "title": "t"});
        project(&mut u, &["name.givenName".into()], &[]);
        assert_eq!(
            u,
            json!({"schemas": [], "id": "1", "meta": {}, "name": {"givenName": "A"}})
        );
        let mut u = json!({"schemas": [], "id": "1", "userName": "a", "members": []});
        project(&mut u, &[], &["members".into()]);
        assert_eq!(u, json!({"schemas": [], "id": "1", "userName": "a"}));
    }
}
