//! PATCH (RFC 7644 §3.5.2): `add`, `remove` and `replace` operations
//! applied to a resource's JSON. The caller renders the stored resource,
//! applies the operations here and stores the result as it would a PUT, so
//! every path form (plain, `schema:attr`, `attr.sub`, `attr[filter]`,
//! `attr[filter].sub`) behaves the same for users and groups.

use serde_json::{Map, Value};

use crate::ScimError;
use crate::filter::{AttrPath, Filter, get_ci};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    Replace,
}

/// A PATCH target path: `attr[.sub]`, or `attr[filter][.sub]`.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a filter (`emails[type eq "work"].value`).
    pub sub: Option<String>,
}

impl PatchPath {
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let text = text.trim();
        let Some(open) = text.find('[') else {
            return Ok(Self {
                attr: AttrPath::parse(text)?,
                filter: None,
                sub: None,
            });
        };
        let close = text
            .rfind(']')
            .ok_or_else(|| ScimError::invalid_path(format!("`{text}`: `[` is not closed")))?;
        let attr = AttrPath::parse(&text[..open])?;
        if attr.sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "`{text}`: a filter applies to a multi-valued attribute"
            )));
        }
        let filter = Filter::parse(&text[open + 1..close])
            .map_err(|e| ScimError::invalid_path(format!("`{text}`: {}", e.detail)))?;
        let rest = &text[close + 1..];
        let sub = match rest.strip_prefix('.') {
            Some(s) if AttrPath::parse(s).is_ok_and(|p| p.sub.is_none() && p.schema.is_none()) => {
                Some(s.to_owned())
            }
            None if rest.is_empty() => None,
            _ => {
                return Err(ScimError::invalid_path(format!(
                    "`{text}`: expected `.subAttribute` after `]`"
                )));
            }
        };
        Ok(Self {
            attr,
            filter: Some(filter),
            sub,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Reads a PatchOp request body.
pub fn parse_request(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let schemas_ok = body
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v == crate::PATCH_OP_SCHEMA));
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH body has `schemas: [\"{}\"]`",
            crate::PATCH_OP_SCHEMA
        )));
    }
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a PATCH body has an `Operations` array"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("`Operations` is empty"));
    }
    ops.iter()
        .map(|o| {
            let op = match get_ci(o, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
            {
                Some(s) if s == "add" => Op::Add,
                Some(s) if s == "remove" => Op::Remove,
                Some(s) if s == "replace" => Op::Replace,
                _ => {
                    return Err(ScimError::invalid_syntax(
                        "each operation's `op` is add, remove or replace",
                    ));
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(PatchPath::parse(p)?),
                Some(_) => return Err(ScimError::invalid_path("`path` is a string")),
            };
            let value = get_ci(o, "value").cloned();
            if op != Op::Remove && value.is_none() {
                return Err(ScimError::invalid_value("add and replace need a `value`"));
            }
            if op == Op::Remove && path.is_none() {
                return Err(ScimError::no_target("remove needs a `path`"));
            }
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// Attributes a client may not change (they are ignored when sent as part of
/// a whole resource, refused when targeted).
const READ_ONLY: &[&str] = &["id", "meta", "schemas", "groups"];

/// Applies `ops` to `resource` (a JSON object). `core_schema` is the
/// resource's core schema URN, which a path may carry as a prefix.
pub fn apply(resource: &mut Value, ops: &[Operation], core_schema: &str) -> Result<(), ScimError> {
    for op in ops {
        apply_one(resource, op, core_schema)?;
    }
    Ok(())
}

fn key_ci(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// The object holding `path.attr`: the resource, or an extension's object.
fn container<'a>(
    resource: &'a mut Value,
    path: &AttrPath,
    core_schema: &str,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, ScimError> {
    let root = resource
        .as_object_mut()
        .ok_or_else(|| ScimError::invalid_syntax("the resource is not an object"))?;
    match &path.schema {
        Some(schema) if !schema.eq_ignore_ascii_case(core_schema) => {
            let key = match key_ci(root, schema) {
                Some(k) => k,
                None if create => {
                    root.insert(schema.clone(), Value::Object(Map::new()));
                    schema.clone()
                }
                None => return Ok(None),
            };
            Ok(root.get_mut(&key).and_then(Value::as_object_mut))
        }
        _ => Ok(Some(root)),
    }
}

fn apply_one(resource: &mut Value, op: &Operation, core_schema: &str) -> Result<(), ScimError> {
    let Some(path) = &op.path else {
        // No path: the value is an object of attributes to add or replace.
        let Some(Value::Object(attrs)) = &op.value else {
            return Err(ScimError::invalid_value(
                "without a `path`, the value is an object of attributes",
            ));
        };
        for (name, value) in attrs {
            if READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                continue;
            }
            if name.len() > 4 && name[..4].eq_ignore_ascii_case("urn:") && value.is_object() {
                // An extension's attributes, or the core schema's.
                let Some(inner) = value.as_object() else {
                    continue;
                };
                for (sub_name, sub_value) in inner {
                    let sub_path = AttrPath {
                        schema: Some(name.clone()),
                        attr: sub_name.clone(),
                        sub: None,
                    };
                    set(resource, &sub_path, sub_value.clone(), op.op, core_schema)?;
                }
                continue;
            }
            let path = AttrPath::parse(name)?;
            set(resource, &path, value.clone(), op.op, core_schema)?;
        }
        return Ok(());
    };
    if path.attr.schema.is_none()
        && READ_ONLY
            .iter()
            .any(|r| path.attr.attr.eq_ignore_ascii_case(r))
    {
        return Err(ScimError::mutability(format!(
            "`{}` is read-only",
            path.attr
        )));
    }
    match (&path.filter, op.op) {
        (None, Op::Remove) => remove(resource, &path.attr, op.value.as_ref(), core_schema),
        (None, _) => {
            let value = op.value.clone().unwrap_or(Value::Null);
            set(resource, &path.attr, value, op.op, core_schema)
        }
        (Some(filter), _) => filtered(resource, path, filter, op, core_schema),
    }
}

/// Adds or replaces the value at `path` (RFC 7644 §3.5.2.1 and .3).
fn set(
    resource: &mut Value,
    path: &AttrPath,
    value: Value,
    op: Op,
    core_schema: &str,
) -> Result<(), ScimError> {
    let object = container(resource, path, core_schema, true)?
        .ok_or_else(|| ScimError::invalid_path(format!("`{path}` has no container")))?;
    let key = key_ci(object, &path.attr).unwrap_or_else(|| path.attr.clone());
    if let Some(sub) = &path.sub {
        let parent = object
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
        match parent {
            Value::Object(inner) => {
                let sub_key = key_ci(inner, sub).unwrap_or_else(|| sub.clone());
                inner.insert(sub_key, value);
            }
            Value::Array(items) => {
                // `emails.type`: every element's sub-attribute.
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    let sub_key = key_ci(item, sub).unwrap_or_else(|| sub.clone());
                    item.insert(sub_key, value.clone());
                }
            }
            _ => {
                return Err(ScimError::invalid_path(format!(
                    "`{}` has no sub-attributes",
                    path.attr
                )));
            }
        }
        return Ok(());
    }
    let existing = object.get_mut(&key);
    match (existing, value, op) {
        // Adding to a multi-valued attribute appends what is new.
        (Some(Value::Array(items)), value, Op::Add) => {
            let new: Vec<Value> = match value {
                Value::Array(v) => v,
                one => vec![one],
            };
            for v in new {
                if !items.contains(&v) {
                    items.push(v);
                }
            }
        }
        // Adding to a complex attribute merges its sub-attributes.
        (Some(Value::Object(inner)), Value::Object(new), Op::Add) => {
            for (k, v) in new {
                let k = key_ci(inner, &k).unwrap_or(k);
                inner.insert(k, v);
            }
        }
        (_, Value::Null, _) => {
            object.remove(&key);
        }
        (_, value, _) => {
            object.insert(key, value);
        }
    }
    Ok(())
}

/// Removes the attribute at `path`; with a value, removes those elements
/// of a multi-valued attribute (`{"op":"remove","path":"members","value":[…]}`).
fn remove(
    resource: &mut Value,
    path: &AttrPath,
    value: Option<&Value>,
    core_schema: &str,
) -> Result<(), ScimError> {
    let Some(object) = container(resource, path, core_schema, false)? else {
        return Ok(());
    };
    let Some(key) = key_ci(object, &path.attr) else {
        return Ok(());
    };
    match (&path.sub, value) {
        (Some(sub), _) => match object.get_mut(&key) {
            Some(Value::Object(inner)) => {
                if let Some(k) = key_ci(inner, sub) {
                    inner.remove(&k);
                }
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(k) = key_ci(item, sub) {
                        item.remove(&k);
                    }
                }
            }
            _ => {}
        },
        (None, Some(value)) if object.get(&key).is_some_and(Value::is_array) => {
            let drop: Vec<&Value> = match value {
                Value::Array(v) => v.iter().collect(),
                one => vec![one],
            };
            if let Some(Value::Array(items)) = object.get_mut(&key) {
                items.retain(|item| !drop.iter().any(|d| same_element(item, d)));
            }
        }
        (None, _) => {
            object.remove(&key);
        }
    }
    Ok(())
}

/// Whether `item` is the element `wanted` names: equal, or with the same
/// `value` when `wanted` gives one.
fn same_element(item: &Value, wanted: &Value) -> bool {
    if item == wanted {
        return true;
    }
    match (get_ci(item, "value"), get_ci(wanted, "value")) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// An operation on the elements of a multi-valued attribute matching a
/// filter (`members[value eq "…"]`, `emails[type eq "work"].value`).
fn filtered(
    resource: &mut Value,
    path: &PatchPath,
    filter: &Filter,
    op: &Operation,
    core_schema: &str,
) -> Result<(), ScimError> {
    let object = container(resource, &path.attr, core_schema, op.op == Op::Add)?;
    let items = object
        .and_then(|o| {
            let key = key_ci(o, &path.attr.attr)?;
            o.get_mut(&key)
        })
        .and_then(Value::as_array_mut);
    let Some(items) = items else {
        if op.op == Op::Remove {
            return Err(ScimError::no_target(format!(
                "nothing matches `{}`",
                path.attr
            )));
        }
        return Err(ScimError::no_target(format!(
            "`{}` has no values to filter",
            path.attr
        )));
    };
    let matching: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| filter.matches(item))
        .map(|(i, _)| i)
        .collect();
    if matching.is_empty() {
        return Err(ScimError::no_target(format!(
            "no value of `{}` matches the filter",
            path.attr
        )));
    }
    match (op.op, &path.sub) {
        (Op::Remove, None) => {
            let mut i = 0;
            items.retain(|_| {
                let keep = !matching.contains(&i);
                i += 1;
                keep
            });
        }
        (Op::Remove, Some(sub)) => {
            for i in matching {
                if let Some(item) = items[i].as_object_mut()
                    && let Some(k) = key_ci(item, sub)
                {
                    item.remove(&k);
                }
            }
        }
        (_, Some(sub)) => {
            let value = op.value.clone().unwrap_or(Value::Null);
            for i in matching {
                if let Some(item) = items[i].as_object_mut() {
                    let k = key_ci(item, sub).unwrap_or_else(|| sub.clone());
                    item.insert(k, value.clone());
                }
            }
        }
        (_, None) => {
            let value = op.value.clone().unwrap_or(Value::Null);
            for i in matching {
                match (&mut items[i], &value) {
                    (Value::Object(item), Value::Object(new)) if op.op == Op::Add => {
                        for (k, v) in new {
                            let k = key_ci(item, k).unwrap_or_else(|| k.clone());
                            item.insert(k, v.clone());
                        }
                    }
                    (slot, _) => *slot = value.clone(),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, PATCH_OP_SCHEMA, USER_SCHEMA};

    fn patch(doc: &mut Value, ops: Value, schema: &str) -> Result<(), ScimError> {
        let body = json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops});
        apply(doc, &parse_request(&body)?, schema)
    }

    #[test]
    fn group_members_add_remove_by_filter_and_replace() {
        let mut g = json!({"displayName": "eng", "members": [{"value": "u1"}]});
        patch(
            &mut g,
            json!([{"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u1"}]}]),
            GROUP_SCHEMA,
        )
        .unwrap();
        assert_eq!(g["members"], json!([{"value": "u1"}, {"value": "u2"}]));
        patch(
            &mut g,
            json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]),
            GROUP_SCHEMA,
        )
        .unwrap();
        assert_eq!(g["members"], json!([{"value": "u2"}]));
        // Azure AD's form: remove with a value list.
        patch(
            &mut g,
            json!([{"op": "Remove", "path": "members", "value": [{"value": "u2"}]}]),
            GROUP_SCHEMA,
        )
        .unwrap();
        assert_eq!(g["members"], json!([]));
        patch(
            &mut g,
            json!([{"op": "replace", "path": "members", "value": [{"value": "u3"}]},
                   {"op": "replace", "value": {"displayName": "platform"}}]),
            GROUP_SCHEMA,
        )
        .unwrap();
        assert_eq!(
            g,
            json!({"displayName": "platform", "members": [{"value": "u3"}]})
        );
        let err = patch(
            &mut g,
            json!([{"op": "remove", "path": "members[value eq \"nobody\"]"}]),
            GROUP_SCHEMA,
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some("noTarget"));
    }

    #[test]
    fn user_attributes_by_every_path_form() {
        let mut u = json!({
            "userName": "a@b.c",
            "name": {"givenName": "A"},
            "emails": [{"type": "work", "value": "a@b.c"}, {"type": "home", "value": "a@home"}],
            "active": true
        });
        patch(
            &mut u,
            json!([
                {"op": "replace", "path": "active", "value": false},
                {"op": "add", "path": "name.familyName", "value": "B"},
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@b.c"},
                {"op": "remove", "path": "emails[type eq \"home\"]"},
                {"op": "add", "path": format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber"), "value": "9"},
                {"op": "replace", "path": format!("{USER_SCHEMA}:userName"), "value": "x@b.c"},
                {"op": "add", "value": {"title": "Boss", ENTERPRISE_USER_SCHEMA: {"department": "R&D"}}},
            ]),
            USER_SCHEMA,
        )
        .unwrap();
        assert_eq!(
            u,
            json!({
                "userName": "x@b.c",
                "name": {"givenName": "A", "familyName": "B"},
                "emails": [{"type": "work", "value": "new@b.c"}],
                "active": false,
                "title": "Boss",
                ENTERPRISE_USER_SCHEMA: {"employeeNumber": "9", "department": "R&D"}
            })
        );
        patch(
            &mut u,
            json!([{"op": "remove", "path": "name.givenName"}, {"op": "remove", "path": "title"}]),
            USER_SCHEMA,
        )
        .unwrap();
        assert_eq!(u["name"], json!({"familyName": "B"}));
        assert!(u.get("title").is_none());
    }

    #[test]
    fn an_extension_urn_alone_names_its_object() {
        let mut u = json!({"userName": "a"});
        patch(
            &mut u,
            json!([{"op": "add", "path": ENTERPRISE_USER_SCHEMA, "value": {"department": "R&D"}},
                   {"op": "add", "path": ENTERPRISE_USER_SCHEMA, "value": {"division": "Labs"}}]),
            USER_SCHEMA,
        )
        .unwrap();
        assert_eq!(
            u,
            json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"department": "R&D", "division": "Labs"}})
        );
        patch(
            &mut u,
            json!([{"op": "remove", "path": ENTERPRISE_USER_SCHEMA}]),
            USER_SCHEMA,
        )
        .unwrap();
        assert_eq!(u, json!({"userName": "a"}));
    }

    #[test]
    fn refuses_bad_requests() {
        let mut u = json!({"userName": "a"});
        for (ops, kind) in [
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "frobnicate", "path": "a", "value": 1}]),
                "invalidSyntax",
            ),
            (json!([{"op": "add", "path": "a"}]), "invalidValue"),
            (
                json!([{"op": "add", "path": "emails[type eq", "value": 1}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "add", "value": "not an object"}]),
                "invalidValue",
            ),
        ] {
            let err = patch(&mut u, ops.clone(), USER_SCHEMA).unwrap_err();
            assert_eq!(err.scim_type, Some(kind), "{ops}");
        }
        let err = apply(&mut u, &[], USER_SCHEMA).map(|_| ());
        assert!(err.is_ok());
        assert!(parse_request(&json!({"Operations": []})).is_err());
    }
}
