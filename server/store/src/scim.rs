//! SCIM filters and sorting as SQL. A filter's AST (`ditto_scim::filter`)
//! is walked into a WHERE clause whose every value is a bind parameter;
//! attribute paths map to columns, to the user's kept SCIM attributes
//! (`users.scim`, jsonb), or to group memberships. An attribute nothing
//! maps to is an `invalidFilter` error, not a silent empty result.

use chrono::{DateTime, Utc};
use ditto_core::{Error, Result};
use ditto_scim::filter::{AttrPath, CompareOp, Filter, is_case_exact};
use ditto_types::problem::FieldError;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Postgres, QueryBuilder};

use crate::error::db;
use crate::tenants::like_escape;
use crate::tx::Tx;

/// What a list asks for (RFC 7644 §3.4.2).
#[derive(Clone, Debug, Default)]
pub struct ScimQuery {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    /// 1-based.
    pub start_index: i64,
    /// Already capped.
    pub count: i64,
}

/// A page of a SCIM list.
#[derive(Clone, Debug)]
pub struct ScimPage<T> {
    pub total: i64,
    pub items: Vec<T>,
}

pub(crate) fn scim_error(scim_type: &str, message: impl Into<String>) -> Error {
    Error::Validation(vec![FieldError {
        field: "/".into(),
        code: scim_type.into(),
        message: message.into(),
    }])
}

/// One page of `table`'s rows (`columns`) that `query` asks for, and how
/// many rows its filter matches; `resolve` maps the filter's and `sortBy`'s
/// attribute paths. Without `sortBy` the oldest come first.
pub(crate) async fn list_rows<R>(
    tx: &mut Tx,
    table: &str,
    columns: &str,
    query: &ScimQuery,
    resolve: fn(&AttrPath) -> Result<Target>,
) -> Result<(i64, Vec<R>)>
where
    R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let mut alias = 0;
    let mut count_qb = QueryBuilder::new(format!("SELECT count(*) FROM {table} WHERE true"));
    let mut qb = QueryBuilder::new(format!("SELECT {columns} FROM {table} WHERE true"));
    if let Some(filter) = &query.filter {
        count_qb.push(" AND ");
        push_filter(&mut count_qb, filter, &resolve, &mut alias)?;
        qb.push(" AND ");
        push_filter(&mut qb, filter, &resolve, &mut alias)?;
    }
    let order = match &query.sort_by {
        Some(path) => sort_expr(&resolve(path)?)?,
        None => format!("{table}.created_at"),
    };
    let dir = if query.descending { "DESC" } else { "ASC" };
    qb.push(format!(
        " ORDER BY {order} {dir} NULLS LAST, {table}.id {dir} LIMIT "
    ))
    .push_bind(query.count)
    .push(" OFFSET ")
    .push_bind(query.start_index.max(1) - 1);
    let total: i64 = count_qb
        .build_query_scalar()
        .fetch_one(&mut **tx)
        .await
        .map_err(db)?;
    let rows = if query.count > 0 {
        qb.build_query_as().fetch_all(&mut **tx).await.map_err(db)?
    } else {
        Vec::new()
    };
    Ok((total, rows))
}

/// A SCIM id that is not a UUID names no `what` (404, like an unknown one).
pub(crate) fn parse_id(id: &str, what: &'static str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(id).map_err(|_| Error::NotFound(what))
}

fn invalid_filter(message: impl Into<String>) -> Error {
    scim_error("invalidFilter", message)
}

/// What an attribute path is in SQL.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// A text column (or text expression).
    Text {
        expr: String,
        case_exact: bool,
    },
    Bool(String),
    Time(String),
    /// A jsonb expression holding one value.
    Json(String),
    /// The elements of a jsonb array; `sub` is compared in each.
    Elements {
        array: String,
        sub: String,
    },
    /// A relation: `from_where` is `FROM … WHERE <correlation>` and the
    /// element sub-attributes resolve through `element`.
    Related {
        from_where: &'static str,
        sub: Option<String>,
        element: fn(&AttrPath) -> Option<Target>,
    },
}

/// Multi-valued attributes of complex values (RFC 7643 §4.1.2).
const MULTI_VALUED: &[&str] = &[
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
];

/// A literal key for a jsonb path, safe to inline (it passed attribute-name
/// validation: letters, digits, `_`, `-`, `$`), quoted anyway.
fn key(name: &str) -> String {
    format!("'{}'", name.replace('\'', "''"))
}

/// The kept SCIM attributes (`doc`, a jsonb expression) at `path`.
pub(crate) fn json_target(doc: &str, path: &AttrPath, core_schema: &str) -> Target {
    let base = match &path.schema {
        Some(s) if !s.eq_ignore_ascii_case(core_schema) => format!("{doc}->{}", key(s)),
        _ => doc.to_owned(),
    };
    let attr = format!("{base}->{}", key(&path.attr));
    if MULTI_VALUED
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&path.attr))
    {
        return Target::Elements {
            array: format!(
                "CASE WHEN jsonb_typeof({attr}) = 'array' THEN {attr} ELSE '[]'::jsonb END"
            ),
            sub: path.sub.clone().unwrap_or_else(|| "value".into()),
        };
    }
    match &path.sub {
        Some(sub) => Target::Json(format!("{attr}->{}", key(sub))),
        None => Target::Json(attr),
    }
}

/// Walks `filter` into `qb`; `resolve` maps attribute paths, `alias` numbers
/// nested element aliases.
pub(crate) fn push_filter(
    qb: &mut QueryBuilder<Postgres>,
    filter: &Filter,
    resolve: &dyn Fn(&AttrPath) -> Result<Target>,
    alias: &mut usize,
) -> Result<()> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            qb.push("(");
            push_filter(qb, a, resolve, alias)?;
            qb.push(if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            });
            push_filter(qb, b, resolve, alias)?;
            qb.push(")");
        }
        Filter::Not(inner) => {
            qb.push("NOT COALESCE((");
            push_filter(qb, inner, resolve, alias)?;
            qb.push("), false)");
        }
        Filter::Present(path) => {
            let target = resolve(path)?;
            push_present(qb, &target, alias)?;
        }
        Filter::Compare { path, op, value } => {
            let target = resolve(path)?;
            push_compare(qb, &target, *op, value, is_case_exact(path), alias)?;
        }
        Filter::ValuePath { attr, filter } => match resolve(attr)? {
            Target::Elements { array, .. } => {
                *alias += 1;
                let e = format!("e{alias}");
                qb.push(format!(
                    "EXISTS (SELECT 1 FROM jsonb_array_elements({array}) {e} WHERE "
                ));
                let elem = e.clone();
                let inner = move |p: &AttrPath| -> Result<Target> {
                    if p.sub.is_some() || p.schema.is_some() {
                        return Err(invalid_filter(format!("`{p}` is not a sub-attribute")));
                    }
                    Ok(Target::Json(format!("{elem}->{}", key(&p.attr))))
                };
                push_filter(qb, filter, &inner, alias)?;
                qb.push(")");
            }
            Target::Related {
                from_where,
                element,
                ..
            } => {
                qb.push(format!("EXISTS (SELECT 1 {from_where} AND "));
                let inner = move |p: &AttrPath| -> Result<Target> {
                    element(p)
                        .ok_or_else(|| invalid_filter(format!("`{p}` is not a sub-attribute")))
                };
                push_filter(qb, filter, &inner, alias)?;
                qb.push(")");
            }
            _ => {
                return Err(invalid_filter(format!(
                    "`{attr}` is not a multi-valued attribute"
                )));
            }
        },
    }
    Ok(())
}

fn push_present(qb: &mut QueryBuilder<Postgres>, target: &Target, alias: &mut usize) -> Result<()> {
    match target {
        Target::Text { expr, .. } => {
            qb.push(format!("({expr} IS NOT NULL AND {expr} <> '')"));
        }
        Target::Bool(expr) | Target::Time(expr) => {
            qb.push(format!("({expr} IS NOT NULL)"));
        }
        Target::Json(expr) => {
            qb.push(format!(
                "(COALESCE(jsonb_typeof({expr}), 'null') <> 'null' AND {expr} NOT IN ('\"\"'::jsonb, '[]'::jsonb, '{{}}'::jsonb))"
            ));
        }
        Target::Elements { array, sub } => {
            *alias += 1;
            let e = format!("e{alias}");
            qb.push(format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements({array}) {e} WHERE "
            ));
            push_present(qb, &Target::Json(format!("{e}->{}", key(sub))), alias)?;
            qb.push(")");
        }
        Target::Related {
            from_where,
            sub,
            element,
        } => {
            qb.push(format!("EXISTS (SELECT 1 {from_where}"));
            if let Some(sub) = sub {
                let t = element(&AttrPath::simple(sub))
                    .ok_or_else(|| invalid_filter(format!("`{sub}` is not a sub-attribute")))?;
                qb.push(" AND ");
                push_present(qb, &t, alias)?;
            }
            qb.push(")");
        }
    }
    Ok(())
}

fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "LIKE",
    }
}

fn push_text(
    qb: &mut QueryBuilder<Postgres>,
    expr: &str,
    op: CompareOp,
    value: &Value,
    case_exact: bool,
) -> Result<()> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => {
            qb.push(if op == CompareOp::Eq {
                format!("({expr} IS NULL)")
            } else {
                format!("({expr} IS NOT NULL)")
            });
            return Ok(());
        }
        other => other.to_string(),
    };
    let (lhs, text) = if case_exact {
        (expr.to_owned(), text)
    } else {
        (format!("lower({expr})"), text.to_lowercase())
    };
    match op {
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let escaped = like_escape(&text);
            let pattern = match op {
                CompareOp::Co => format!("%{escaped}%"),
                CompareOp::Sw => format!("{escaped}%"),
                _ => format!("%{escaped}"),
            };
            qb.push(format!("({lhs} LIKE "))
                .push_bind(pattern)
                .push(")");
        }
        CompareOp::Ne => {
            qb.push(format!("({expr} IS NULL OR {lhs} <> "))
                .push_bind(text)
                .push(")");
        }
        _ => {
            qb.push(format!("({lhs} {} ", sql_op(op)))
                .push_bind(text)
                .push(")");
        }
    }
    Ok(())
}

fn push_compare(
    qb: &mut QueryBuilder<Postgres>,
    target: &Target,
    op: CompareOp,
    value: &Value,
    case_exact: bool,
    alias: &mut usize,
) -> Result<()> {
    match target {
        Target::Text {
            expr,
            case_exact: exact,
        } => push_text(qb, expr, op, value, *exact)?,
        Target::Bool(expr) => {
            let b = ditto_scim::resource::boolean(value)
                .ok_or_else(|| invalid_filter("this attribute compares with true or false"))?;
            match op {
                CompareOp::Eq => qb.push(format!("({expr} = ")).push_bind(b).push(")"),
                CompareOp::Ne => qb.push(format!("({expr} <> ")).push_bind(b).push(")"),
                _ => return Err(invalid_filter("booleans compare only with eq and ne")),
            };
        }
        Target::Time(expr) => {
            let at: DateTime<Utc> = value
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| {
                    invalid_filter("this attribute compares with an RFC 3339 date-time")
                })?;
            if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                return Err(invalid_filter(
                    "date-times compare with eq, ne, gt, ge, lt and le",
                ));
            }
            // Rendered with millisecond precision, so compared that way.
            qb.push(format!(
                "(date_trunc('milliseconds', {expr}) {} ",
                sql_op(op)
            ))
            .push_bind(at)
            .push(")");
        }
        Target::Json(expr) => match value {
            Value::String(_) | Value::Null => {
                push_text(qb, &format!("({expr} #>> '{{}}')"), op, value, case_exact)?;
            }
            Value::Number(n) => {
                let n = n
                    .as_f64()
                    .ok_or_else(|| invalid_filter("the number is out of range"))?;
                let num = format!(
                    "(CASE WHEN jsonb_typeof({expr}) = 'number' THEN ({expr} #>> '{{}}')::double precision END)"
                );
                if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                    return Err(invalid_filter(
                        "numbers compare with eq, ne, gt, ge, lt and le",
                    ));
                }
                if op == CompareOp::Ne {
                    qb.push(format!("({num} IS NULL OR {num} <> "))
                        .push_bind(n)
                        .push(")");
                } else {
                    qb.push(format!("({num} {} ", sql_op(op)))
                        .push_bind(n)
                        .push(")");
                }
            }
            Value::Bool(b) => {
                let lhs = format!(
                    "(CASE WHEN jsonb_typeof({expr}) = 'boolean' THEN ({expr} #>> '{{}}')::boolean END)"
                );
                match op {
                    CompareOp::Eq => qb.push(format!("({lhs} = ")).push_bind(*b).push(")"),
                    _ => qb
                        .push(format!("({lhs} IS NULL OR {lhs} <> "))
                        .push_bind(*b)
                        .push(")"),
                };
            }
            _ => {
                return Err(invalid_filter(
                    "compare with a string, number, boolean or null",
                ));
            }
        },
        Target::Elements { array, sub } => {
            // `ne`: no element equals the value.
            let (negate, op) = if op == CompareOp::Ne {
                (true, CompareOp::Eq)
            } else {
                (false, op)
            };
            *alias += 1;
            let e = format!("e{alias}");
            qb.push(format!(
                "({}EXISTS (SELECT 1 FROM jsonb_array_elements({array}) {e} WHERE ",
                if negate { "NOT " } else { "" }
            ));
            push_compare(
                qb,
                &Target::Json(format!("{e}->{}", key(sub))),
                op,
                value,
                case_exact,
                alias,
            )?;
            qb.push("))");
        }
        Target::Related {
            from_where,
            sub,
            element,
        } => {
            let (negate, op) = if op == CompareOp::Ne {
                (true, CompareOp::Eq)
            } else {
                (false, op)
            };
            let sub = sub.clone().unwrap_or_else(|| "value".into());
            let t = element(&AttrPath::simple(&sub))
                .ok_or_else(|| invalid_filter(format!("`{sub}` is not a sub-attribute")))?;
            qb.push(format!(
                "({}EXISTS (SELECT 1 {from_where} AND ",
                if negate { "NOT " } else { "" }
            ));
            push_compare(qb, &t, op, value, case_exact, alias)?;
            qb.push("))");
        }
    }
    Ok(())
}

/// The ORDER BY expression for `sortBy` (single values only).
pub(crate) fn sort_expr(target: &Target) -> Result<String> {
    Ok(match target {
        Target::Text {
            expr,
            case_exact: false,
        } => format!("lower({expr})"),
        Target::Text { expr, .. } | Target::Bool(expr) | Target::Time(expr) => expr.clone(),
        Target::Json(expr) => format!("({expr} #>> '{{}}')"),
        Target::Elements { array, sub } => format!(
            "(SELECT s->>{} FROM jsonb_array_elements({array}) s
              ORDER BY (s->>'primary') = 'true' DESC NULLS LAST LIMIT 1)",
            key(sub)
        ),
        Target::Related { .. } => {
            return Err(scim_error("invalidValue", "cannot sort by this attribute"));
        }
    })
}
