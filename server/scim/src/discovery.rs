//! The discovery documents (RFC 7644 §4): what this server supports, its
//! resource types and their schemas (RFC 7643 §7), with `meta.location`
//! under the tenant's SCIM base URL.

use serde_json::{Value, json};

use crate::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, MAX_PAGE, USER_SCHEMA};

pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://github.com/ditto-gateway/ditto/blob/main/docs/scim.md",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_PAGE},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "SCIM token",
            "description": "A tenant's SCIM token (dst-…), created in the admin API, as `Authorization: Bearer <token>`",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        }
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A member of the tenant's staff",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_USER_SCHEMA, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A group of users; roles bound to it apply to its members",
            "schema": GROUP_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
        }),
    ]
}

/// One attribute definition.
struct A {
    name: &'static str,
    kind: &'static str,
    multi: bool,
    required: bool,
    case_exact: bool,
    mutability: &'static str,
    returned: &'static str,
    uniqueness: &'static str,
    canonical: &'static [&'static str],
    reference_types: &'static [&'static str],
    subs: Vec<A>,
}

fn a(name: &'static str, kind: &'static str) -> A {
    A {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        canonical: &[],
        reference_types: &[],
        subs: Vec::new(),
    }
}

fn s(name: &'static str) -> A {
    a(name, "string")
}

impl A {
    fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn mutability(mut self, m: &'static str) -> Self {
        self.mutability = m;
        self
    }
    fn unique(mut self, u: &'static str) -> Self {
        self.uniqueness = u;
        self
    }
    fn canonical(mut self, c: &'static [&'static str]) -> Self {
        self.canonical = c;
        self
    }
    fn refs(mut self, r: &'static [&'static str]) -> Self {
        self.reference_types = r;
        self
    }
    fn subs(mut self, subs: Vec<A>) -> Self {
        self.subs = subs;
        self
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": self.kind,
            "multiValued": self.multi,
            "description": "",
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        });
        if !self.canonical.is_empty() {
            v["canonicalValues"] = json!(self.canonical);
        }
        if !self.reference_types.is_empty() {
            v["referenceTypes"] = json!(self.reference_types);
        }
        if !self.subs.is_empty() {
            v["subAttributes"] = self.subs.iter().map(A::to_json).collect();
        }
        v
    }
}

/// `value`, `display`, `type`, `primary` of a multi-valued attribute.
fn multi_valued(name: &'static str, types: &'static [&'static str]) -> A {
    a(name, "complex").multi().subs(vec![
        s("value"),
        s("display"),
        s("type").canonical(types),
        a("primary", "boolean"),
    ])
}

fn schema(id: &str, name: &str, description: &str, attributes: &[A], base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attributes.iter().map(A::to_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")}
    })
}

pub fn schemas(base: &str) -> Vec<Value> {
    let user = [
        s("userName").required().unique("server"),
        a("name", "complex").subs(vec![
            s("formatted"),
            s("familyName"),
            s("givenName"),
            s("middleName"),
            s("honorificPrefix"),
            s("honorificSuffix"),
        ]),
        s("displayName"),
        s("nickName"),
        a("profileUrl", "reference").refs(&["external"]),
        s("title"),
        s("userType"),
        s("preferredLanguage"),
        s("locale"),
        s("timezone"),
        a("active", "boolean"),
        multi_valued("emails", &["work", "home", "other"]),
        multi_valued(
            "phoneNumbers",
            &["work", "home", "mobile", "fax", "pager", "other"],
        ),
        multi_valued(
            "ims",
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
        ),
        multi_valued("photos", &["photo", "thumbnail"]),
        a("addresses", "complex").multi().subs(vec![
            s("formatted"),
            s("streetAddress"),
            s("locality"),
            s("region"),
            s("postalCode"),
            s("country"),
            s("type").canonical(&["work", "home", "other"]),
            a("primary", "boolean"),
        ]),
        a("groups", "complex")
            .multi()
            .mutability("readOnly")
            .subs(vec![
                s("value").mutability("readOnly"),
                a("$ref", "reference")
                    .refs(&["Group"])
                    .mutability("readOnly"),
                s("display").mutability("readOnly"),
                s("type")
                    .canonical(&["direct", "indirect"])
                    .mutability("readOnly"),
            ]),
        multi_valued("entitlements", &[]),
        multi_valued("roles", &[]),
    ];
    let enterprise = [
        s("employeeNumber"),
        s("costCenter"),
        s("organization"),
        s("division"),
        s("department"),
        a("manager", "complex").subs(vec![
            s("value"),
            a("$ref", "reference").refs(&["User"]),
            s("displayName").mutability("readOnly"),
        ]),
    ];
    let group = [
        s("displayName").required(),
        a("members", "complex").multi().subs(vec![
            s("value").exact().mutability("immutable"),
            a("$ref", "reference")
                .refs(&["User"])
                .mutability("immutable"),
            s("display").mutability("readOnly"),
            s("type").canonical(&["User"]).mutability("immutable"),
        ]),
    ];
    vec![
        schema(USER_SCHEMA, "User", "User Account", &user, base),
        schema(GROUP_SCHEMA, "Group", "Group", &group, base),
        schema(
            ENTERPRISE_USER_SCHEMA,
            "EnterpriseUser",
            "Enterprise User",
            &enterprise,
            base,
        ),
    ]
}
