//! The SCIM filter language (RFC 7644 §3.4.2.2) parsed into a small AST.
//!
//! ```text
//! filter    = or
//! or        = and *("or" and)
//! and       = unary *("and" unary)
//! unary     = "not" "(" filter ")" / "(" filter ")" / valuePath / attrExp
//! valuePath = attrPath "[" filter "]" ["." subAttr (compareOp value / "pr")]
//! attrExp   = attrPath ("pr" / compareOp value)
//! ```
//!
//! `emails[type eq "work"].value eq "a@b"` (a sub-attribute after the
//! brackets) is accepted and means "an element with type work and that
//! value". Inside brackets, paths name sub-attributes of the elements.
//! Storage turns the AST into SQL with bound values; [`Filter::matches`]
//! evaluates it against a JSON resource, for PATCH value filters.

use serde_json::Value;

use crate::ScimError;

/// Filters longer than this are refused (they only cost).
pub const MAX_FILTER_LEN: usize = 4096;
const MAX_DEPTH: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// Some element of the multi-valued `attr` matches `filter`, whose
    /// paths name the element's sub-attributes.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

/// `[schema:]attr[.sub]`. Names keep the case they were written in; SCIM
/// attribute names are case-insensitive, so compare with
/// [`AttrPath::is`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrPath {
    /// A schema URN prefix, e.g. the enterprise extension's.
    pub schema: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn simple(attr: &str) -> Self {
        Self {
            schema: None,
            attr: attr.to_owned(),
            sub: None,
        }
    }

    /// Parses `[urn:…:]attr[.sub]`.
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let bad = || ScimError::invalid_path(format!("`{text}` is not an attribute path"));
        // An extension's URN alone names the extension's object.
        if text.eq_ignore_ascii_case(crate::ENTERPRISE_USER_SCHEMA) {
            return Ok(Self::simple(crate::ENTERPRISE_USER_SCHEMA));
        }
        let (schema, rest) = if text.len() > 4 && text[..4].eq_ignore_ascii_case("urn:") {
            let (schema, rest) = text.rsplit_once(':').ok_or_else(bad)?;
            // `urn:…:User` alone names the extension object itself.
            (Some(schema.to_owned()), rest)
        } else {
            (None, text)
        };
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
        };
        if !name_ok(attr) || !sub.is_none_or(name_ok) {
            return Err(bad());
        }
        Ok(Self {
            schema,
            attr: attr.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    /// Whether this path names `attr` (and `sub`), ignoring case.
    pub fn is(&self, attr: &str, sub: Option<&str>) -> bool {
        self.attr.eq_ignore_ascii_case(attr)
            && match (&self.sub, sub) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
    }
}

impl std::fmt::Display for AttrPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(s) = &self.schema {
            write!(f, "{s}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Value(Value),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    /// `].sub`: the sub-attribute after a value path's brackets.
    Dot,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ScimError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '[' => {
                out.push(Token::OpenBracket);
                i += 1;
            }
            ']' => {
                out.push(Token::CloseBracket);
                i += 1;
                if chars.get(i) == Some(&'.') {
                    out.push(Token::Dot);
                    i += 1;
                }
            }
            '"' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(ScimError::invalid_filter("a string is not closed"));
                }
                i += 1;
                let quoted: String = chars[start..i].iter().collect();
                let value: String = serde_json::from_str(&quoted)
                    .map_err(|_| ScimError::invalid_filter(format!("bad string {quoted}")))?;
                out.push(Token::Value(Value::String(value)));
            }
            _ => {
                let start = i;
                while i < chars.len() && !" \t\n\r()[]\"".contains(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let number = word
                    .starts_with(|c: char| c.is_ascii_digit() || c == '-')
                    .then(|| serde_json::from_str::<serde_json::Number>(&word).ok())
                    .flatten();
                match (word.to_ascii_lowercase().as_str(), number) {
                    (_, Some(n)) => out.push(Token::Value(Value::Number(n))),
                    ("true", _) => out.push(Token::Value(Value::Bool(true))),
                    ("false", _) => out.push(Token::Value(Value::Bool(false))),
                    ("null", _) => out.push(Token::Value(Value::Null)),
                    _ => out.push(Token::Word(word)),
                }
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, want: Token, what: &str) -> Result<(), ScimError> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            _ => Err(ScimError::invalid_filter(format!("expected {what}"))),
        }
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ScimError::invalid_filter("the filter nests too deeply"));
        }
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.keyword("not") {
            self.pos += 1;
            self.expect(Token::Open, "`(` after `not`")?;
            let inner = self.or()?;
            self.expect(Token::Close, "`)`")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::Close, "`)`")?;
            return Ok(inner);
        }
        let path = match self.next() {
            Some(Token::Word(w)) => AttrPath::parse(&w)
                .map_err(|_| ScimError::invalid_filter(format!("`{w}` is not an attribute")))?,
            _ => return Err(ScimError::invalid_filter("expected an attribute")),
        };
        if self.peek() == Some(&Token::OpenBracket) {
            self.pos += 1;
            if path.sub.is_some() {
                return Err(ScimError::invalid_filter(
                    "a value filter applies to a multi-valued attribute, not a sub-attribute",
                ));
            }
            let inner = self.or()?;
            self.expect(Token::CloseBracket, "`]`")?;
            let filter = if self.peek() == Some(&Token::Dot) {
                self.pos += 1;
                let sub = match self.next() {
                    Some(Token::Word(w)) => AttrPath::parse(&w).map_err(|_| {
                        ScimError::invalid_filter(format!("`{w}` is not a sub-attribute"))
                    })?,
                    _ => return Err(ScimError::invalid_filter("expected a sub-attribute")),
                };
                let then = self.comparison(sub)?;
                Filter::And(Box::new(inner), Box::new(then))
            } else {
                inner
            };
            return Ok(Filter::ValuePath {
                attr: path,
                filter: Box::new(filter),
            });
        }
        self.comparison(path)
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, ScimError> {
        let op = match self.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                return Ok(Filter::Present(path));
            }
            Some(Token::Word(w)) => CompareOp::parse(&w).ok_or_else(|| {
                ScimError::invalid_filter(format!("`{w}` is not a comparison operator"))
            })?,
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "expected an operator after `{path}`"
                )));
            }
        };
        let value = match self.next() {
            Some(Token::Value(v)) => v,
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "expected a value after `{path}`"
                )));
            }
        };
        if matches!(value, Value::Null) && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return Err(ScimError::invalid_filter(
                "null compares only with eq and ne",
            ));
        }
        if matches!(value, Value::Bool(_)) && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return Err(ScimError::invalid_filter(
                "booleans compare only with eq and ne",
            ));
        }
        Ok(Filter::Compare { path, op, value })
    }
}

impl Filter {
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        if text.len() > MAX_FILTER_LEN {
            return Err(ScimError::invalid_filter(format!(
                "the filter is longer than {MAX_FILTER_LEN} characters"
            )));
        }
        let mut p = Parser {
            tokens: tokenize(text)?,
            pos: 0,
            depth: 0,
        };
        if p.tokens.is_empty() {
            return Err(ScimError::invalid_filter("the filter is empty"));
        }
        let filter = p.or()?;
        if p.pos != p.tokens.len() {
            return Err(ScimError::invalid_filter(
                "unexpected text after the filter",
            ));
        }
        Ok(filter)
    }

    /// Whether `resource` (a JSON object) matches. Strings compare
    /// case-insensitively except `id`, `externalId` and `value`s of
    /// references, as the attributes' `caseExact` says.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(a) => !a.matches(resource),
            Filter::Present(path) => values_at(resource, path).iter().any(|v| present(v)),
            Filter::Compare { path, op, value } => {
                let found = values_at(resource, path);
                let exact = is_case_exact(path);
                match op {
                    CompareOp::Ne => !found
                        .iter()
                        .any(|v| compare(v, CompareOp::Eq, value, exact)),
                    _ => found.iter().any(|v| compare(v, *op, value, exact)),
                }
            }
            Filter::ValuePath { attr, filter } => elements_at(resource, attr)
                .iter()
                .any(|element| filter.matches(element)),
        }
    }
}

/// Attributes whose strings compare exactly (RFC 7643 `caseExact`).
pub fn is_case_exact(path: &AttrPath) -> bool {
    (path.schema.is_none() && path.is("id", None))
        || path.is("externalId", None)
        || path
            .sub
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("value") || s == "$ref")
            && (path.attr.eq_ignore_ascii_case("members")
                || path.attr.eq_ignore_ascii_case("groups"))
        || (path.attr.eq_ignore_ascii_case("value") && path.sub.is_none())
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Looks a key up ignoring case.
pub fn get_ci<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The elements of the attribute `path` names (one for a single value).
fn elements_at<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let base = match &path.schema {
        Some(schema)
            if !schema.eq_ignore_ascii_case(crate::USER_SCHEMA)
                && !schema.eq_ignore_ascii_case(crate::GROUP_SCHEMA) =>
        {
            match get_ci(resource, schema) {
                Some(b) => b,
                None => return Vec::new(),
            }
        }
        _ => resource,
    };
    let Some(top) = get_ci(base, &path.attr) else {
        return Vec::new();
    };
    match top {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// Every value `path` reaches in `resource`; multi-valued attributes
/// contribute each element (and each element's sub-attribute).
pub fn values_at<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let elements = elements_at(resource, path);
    match &path.sub {
        None => {
            // A multi-valued attribute of complex values compares by `value`.
            elements
                .into_iter()
                .map(|e| {
                    if e.is_object() {
                        get_ci(e, "value").unwrap_or(e)
                    } else {
                        e
                    }
                })
                .collect()
        }
        Some(sub) => elements
            .into_iter()
            .filter_map(|e| get_ci(e, sub))
            .collect(),
    }
}

fn compare(found: &Value, op: CompareOp, want: &Value, exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordering = match (found, want) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = if exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Co => return a.contains(&b),
                CompareOp::Sw => return a.starts_with(&b),
                CompareOp::Ew => return a.ends_with(&b),
                _ => {}
            }
            // Timestamps compare as instants.
            match (
                chrono::DateTime::parse_from_rfc3339(&a),
                chrono::DateTime::parse_from_rfc3339(&b),
            ) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => a.cmp(&b),
            }
        }
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => return false,
        },
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => return false,
    };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn cmp(attr: &str, op: CompareOp, value: Value) -> Filter {
        Filter::Compare {
            path: AttrPath::parse(attr).unwrap(),
            op,
            value,
        }
    }

    #[test]
    fn parses_comparisons_and_presence() {
        assert_eq!(
            Filter::parse(r#"userName eq "bjensen""#).unwrap(),
            cmp("userName", CompareOp::Eq, json!("bjensen"))
        );
        assert_eq!(
            Filter::parse("title pr").unwrap(),
            Filter::Present(AttrPath::simple("title"))
        );
        assert_eq!(
            Filter::parse(r#"name.familyName CO "O'Malley""#).unwrap(),
            cmp("name.familyName", CompareOp::Co, json!("O'Malley"))
        );
        assert_eq!(
            Filter::parse("meta.lastModified gt \"2011-05-13T04:42:34Z\"").unwrap(),
            cmp(
                "meta.lastModified",
                CompareOp::Gt,
                json!("2011-05-13T04:42:34Z")
            )
        );
        assert_eq!(
            Filter::parse("active eq true").unwrap(),
            cmp("active", CompareOp::Eq, json!(true))
        );
        assert_eq!(
            Filter::parse("x.y le 4.5").unwrap(),
            cmp("x.y", CompareOp::Le, json!(4.5))
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let f = Filter::parse(r#"a eq "1" or b eq "2" and c eq "3""#).unwrap();
        assert_eq!(
            f,
            Filter::Or(
                Box::new(cmp("a", CompareOp::Eq, json!("1"))),
                Box::new(Filter::And(
                    Box::new(cmp("b", CompareOp::Eq, json!("2"))),
                    Box::new(cmp("c", CompareOp::Eq, json!("3"))),
                )),
            )
        );
        let g = Filter::parse(r#"(a eq "1" or b eq "2") and not (c pr)"#).unwrap();
        assert_eq!(
            g,
            Filter::And(
                Box::new(Filter::Or(
                    Box::new(cmp("a", CompareOp::Eq, json!("1"))),
                    Box::new(cmp("b", CompareOp::Eq, json!("2"))),
                )),
                Box::new(Filter::Not(Box::new(Filter::Present(AttrPath::simple(
                    "c"
                ))))),
            )
        );
    }

    #[test]
    fn parses_value_paths_and_schema_prefixes() {
        let f = Filter::parse(r#"emails[type eq "work" and value co "@example.com"]"#).unwrap();
        let Filter::ValuePath { attr, filter } = f else {
            panic!("not a value path")
        };
        assert_eq!(attr, AttrPath::simple("emails"));
        assert!(matches!(*filter, Filter::And(..)));

        let f = Filter::parse(r#"emails[type eq "work"].value eq "a@b.c""#).unwrap();
        assert_eq!(
            f,
            Filter::ValuePath {
                attr: AttrPath::simple("emails"),
                filter: Box::new(Filter::And(
                    Box::new(cmp("type", CompareOp::Eq, json!("work"))),
                    Box::new(cmp("value", CompareOp::Eq, json!("a@b.c"))),
                )),
            }
        );

        let f = Filter::parse(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42""#,
        )
        .unwrap();
        let Filter::Compare { path, .. } = f else {
            panic!("not a comparison")
        };
        assert_eq!(
            path.schema.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(path.attr, "employeeNumber");
        let f = Filter::parse(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m""#,
        )
        .unwrap();
        let Filter::Compare { path, .. } = f else {
            panic!("not a comparison")
        };
        assert_eq!(path.sub.as_deref(), Some("value"));
    }

    #[test]
    fn strings_take_json_escapes() {
        assert_eq!(
            Filter::parse(r#"displayName eq "a \"quoted\" (name) and [more]""#).unwrap(),
            cmp(
                "displayName",
                CompareOp::Eq,
                json!("a \"quoted\" (name) and [more]")
            )
        );
    }

    #[test]
    fn refuses_malformed_filters() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName xx "a""#,
            r#"userName eq "a"#,
            r#"(userName eq "a""#,
            r#"userName eq "a")"#,
            r#"emails[type eq "work""#,
            r#"not userName eq "a""#,
            r#"userName eq "a" and"#,
            r#"active gt true"#,
            r#"x co null"#,
            r#"1abc eq "x""#,
            r#"userName eq bareword"#,
        ] {
            let err = Filter::parse(bad).unwrap_err();
            assert_eq!(
                (err.status, err.scim_type),
                (400, Some("invalidFilter")),
                "{bad}"
            );
        }
        let deep = format!("{}a pr{}", "(".repeat(40), ")".repeat(40));
        assert!(Filter::parse(&deep).is_err());
        assert!(Filter::parse(&"a pr or ".repeat(1000)).is_err());
    }

    #[test]
    fn evaluates_against_json() {
        let user = json!({
            "id": "ABC",
            "userName": "BJensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [
                {"type": "work", "value": "bjensen@example.com"},
                {"type": "home", "value": "babs@home.example"}
            ],
            "active": true,
            "meta": {"lastModified": "2026-01-02T00:00:00Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}
        });
        let yes = [
            r#"userName eq "bjensen@example.com""#,
            r#"username sw "bjen""#,
            r#"name.givenName ew "ARA""#,
            r#"emails co "home.example""#,
            r#"emails[type eq "work"].value eq "bjensen@example.com""#,
            r#"emails[type eq "home" and value ew ".example"]"#,
            r#"active eq true"#,
            r#"meta.lastModified gt "2025-12-31T23:00:00+00:00""#,
            r#"not (title pr)"#,
            r#"title pr or name pr"#,
            r#"userName ne "other""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7""#,
        ];
        for f in yes {
            assert!(Filter::parse(f).unwrap().matches(&user), "{f}");
        }
        let no = [
            r#"id eq "abc""#,
            r#"emails[type eq "work"].value eq "babs@home.example""#,
            r#"active eq false"#,
            r#"meta.lastModified lt "2026-01-01T00:00:00Z""#,
            r#"title pr"#,
            r#"userName ne "BJENSEN@example.com""#,
        ];
        for f in no {
            assert!(!Filter::parse(f).unwrap().matches(&user), "{f}");
        }
    }
}
