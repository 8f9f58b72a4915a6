//! The checked-in OpenAPI document matches the code.

use std::path::PathBuf;

fn spec_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/ditto.json")
}

#[test]
fn checked_in_spec_matches_the_code() {
    let generated = ditto_api::openapi_json() + "\n";
    let path = spec_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/ditto.json is out of date; regenerate it with \
         `UPDATE_OPENAPI=1 cargo test -p ditto-api --test all spec` and commit it"
    );
}

#[test]
fn operations_are_named_resource_verb_and_secured() {
    let spec: serde_json::Value =
        serde_json::from_str(&ditto_api::openapi().to_json().unwrap()).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut ids = std::collections::HashSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            let (resource, verb) = id
                .rsplit_once('_')
                .unwrap_or_else(|| panic!("{id} is not resource_verb"));
            assert!(
                !resource.is_empty()
                    && !verb.is_empty()
                    && id.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{id}"
            );
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            if path.starts_with("/api/") || path == "/metrics" {
                assert!(op["security"].is_array(), "{id} declares no security");
                assert!(op["responses"]["401"].is_object(), "{id} documents no 401");
            }
        }
    }
}
