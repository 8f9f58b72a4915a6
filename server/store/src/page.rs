//! Keyset (cursor) pagination. Rows are ordered by a sort column and then by
//! id (UUIDv7, so id order is creation order); the cursor carries the last
//! row's position, so pages stay stable while rows are added.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ditto_core::{Error, Result, validate};
use ditto_types::api::PageParams;
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// One sortable field of a resource: its public name and its text column
/// (`None` sorts by creation, i.e. by id alone).
pub(crate) type SortField = (&'static str, Option<&'static str>);

pub(crate) const BY_CREATION: SortField = ("created_at", None);

/// A validated page request.
#[derive(Debug)]
pub struct Keyset {
    field: &'static str,
    column: Option<&'static str>,
    descending: bool,
    limit: i64,
    after: Option<Position>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Position {
    /// The sort the cursor was made for, e.g. `-name`.
    s: String,
    /// The sort column's value, when sorting by a column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<String>,
    id: Uuid,
}

impl Keyset {
    /// Validates `limit`, `sort` and `cursor` against the resource's sortable
    /// fields (newest first by default).
    pub(crate) fn parse(params: &PageParams, fields: &[SortField]) -> Result<Self> {
        let limit = validate::page_limit(params.limit)?;
        let sort = params.sort.as_deref().unwrap_or("-created_at");
        let (descending, name) = match sort.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, sort),
        };
        let Some(&(field, column)) = fields.iter().find(|(f, _)| *f == name) else {
            let allowed: Vec<_> = fields.iter().map(|(f, _)| *f).collect();
            return Err(Error::invalid(
                "sort",
                "invalid_value",
                format!("must be one of {allowed:?}, optionally prefixed with '-' for descending"),
            ));
        };
        let after = match &params.cursor {
            None => None,
            Some(cursor) => {
                let position: Position = decode(cursor)?;
                if position.s != sort || position.v.is_some() != column.is_some() {
                    return Err(Error::invalid(
                        "cursor",
                        "sort_mismatch",
                        "the cursor was made for another sort order; pass the same `sort` as the first page",
                    ));
                }
                Some(position)
            }
        };
        Ok(Self {
            field,
            column,
            descending,
            limit,
            after,
        })
    }

    fn sort_name(&self) -> String {
        format!("{}{}", if self.descending { "-" } else { "" }, self.field)
    }

    /// Appends ` AND (position after the cursor)`.
    pub(crate) fn push_after(&self, qb: &mut QueryBuilder<Postgres>) {
        let Some(after) = &self.after else { return };
        let op = if self.descending { " < " } else { " > " };
        match (self.column, &after.v) {
            (Some(column), Some(value)) => {
                qb.push(format!(" AND ({column} COLLATE \"C\", id){op}("));
                qb.push_bind(value.clone());
                qb.push(" COLLATE \"C\", ");
                qb.push_bind(after.id);
                qb.push(")");
            }
            _ => {
                qb.push(format!(" AND id{op}"));
                qb.push_bind(after.id);
            }
        }
    }

    /// Appends ` ORDER BY … LIMIT n+1` (one extra row tells whether a next page exists).
    pub(crate) fn push_order_limit(&self, qb: &mut QueryBuilder<Postgres>) {
        let dir = if self.descending { "DESC" } else { "ASC" };
        match self.column {
            Some(column) => qb.push(format!(" ORDER BY {column} COLLATE \"C\" {dir}, id {dir}")),
            None => qb.push(format!(" ORDER BY id {dir}")),
        };
        qb.push(" LIMIT ");
        qb.push_bind(self.limit + 1);
    }

    /// Trims the extra row and makes the cursor for the next page.
    /// `position` gives a row's id and its sort column's value.
    pub(crate) fn finish<T>(
        &self,
        mut rows: Vec<T>,
        position: impl Fn(&T, Option<&'static str>) -> (Uuid, Option<String>),
    ) -> (Vec<T>, Option<String>) {
        let has_more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next = match rows.last() {
            Some(last) if has_more => {
                let (id, v) = position(last, self.column);
                Some(encode(&Position {
                    s: self.sort_name(),
                    v,
                    id,
                }))
            }
            _ => None,
        };
        (rows, next)
    }
}

/// Keyset pagination over a unique text column, for resources keyed by a
/// name rather than an id (model prices). Sorted by that name, ascending by
/// default.
#[derive(Debug)]
pub(crate) struct NameKeyset {
    column: &'static str,
    descending: bool,
    limit: i64,
    after: Option<String>,
    sort: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct NamePosition {
    s: String,
    v: String,
}

impl NameKeyset {
    pub(crate) fn parse(
        params: &PageParams,
        field: &'static str,
        column: &'static str,
    ) -> Result<Self> {
        let limit = validate::page_limit(params.limit)?;
        let sort = params.sort.as_deref().unwrap_or(field);
        let descending = match sort.strip_prefix('-') {
            Some(name) if name == field => true,
            None if sort == field => false,
            _ => {
                return Err(Error::invalid(
                    "sort",
                    "invalid_value",
                    format!("must be `{field}` or `-{field}`"),
                ));
            }
        };
        let after = match &params.cursor {
            None => None,
            Some(cursor) => {
                let position: NamePosition = decode(cursor)?;
                if position.s != sort {
                    return Err(Error::invalid(
                        "cursor",
                        "sort_mismatch",
                        "the cursor was made for another sort order; pass the same `sort` as the first page",
                    ));
                }
                Some(position.v)
            }
        };
        Ok(Self {
            column,
            descending,
            limit,
            after,
            sort: sort.to_owned(),
        })
    }

    /// Appends ` AND (position after the cursor)`.
    pub(crate) fn push_after(&self, qb: &mut QueryBuilder<Postgres>) {
        if let Some(after) = &self.after {
            let op = if self.descending { " < " } else { " > " };
            qb.push(format!(" AND {} COLLATE \"C\"{op}", self.column));
            qb.push_bind(after.clone());
            qb.push(" COLLATE \"C\"");
        }
    }

    /// Appends ` ORDER BY … LIMIT n+1`.
    pub(crate) fn push_order_limit(&self, qb: &mut QueryBuilder<Postgres>) {
        let dir = if self.descending { "DESC" } else { "ASC" };
        qb.push(format!(
            " ORDER BY {} COLLATE \"C\" {dir} LIMIT ",
            self.column
        ));
        qb.push_bind(self.limit + 1);
    }

    /// Trims the extra row and makes the cursor for the next page.
    pub(crate) fn finish<T>(
        &self,
        mut rows: Vec<T>,
        name: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        let has_more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next = match rows.last() {
            Some(last) if has_more => Some(encode(&NamePosition {
                s: self.sort.clone(),
                v: name(last),
            })),
            _ => None,
        };
        (rows, next)
    }
}

fn encode(position: &impl Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).expect("position serializes"))
}

fn decode<P: serde::de::DeserializeOwned>(cursor: &str) -> Result<P> {
    let invalid = || {
        Error::invalid(
            "cursor",
            "invalid_cursor",
            "not a cursor returned by this endpoint",
        )
    };
    if cursor.len() > 1024 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

impl crate::Store {
    /// A page of a tenant-owned table searchable by one text column: `q`
    /// matches it as a case-insensitive substring, and it is the non-default
    /// sort (`sort_name`). `select` is `SELECT … FROM table WHERE true`.
    pub(crate) async fn list_searchable<R>(
        &self,
        scope: &ditto_core::TenantScope,
        select: String,
        (sort_name, column): (&'static str, &'static str),
        q: Option<&str>,
        page: &PageParams,
        position: impl Fn(&R) -> (Uuid, String),
    ) -> Result<(Vec<R>, Option<String>)>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let keyset = Keyset::parse(page, &[BY_CREATION, (sort_name, Some(column))])?;
        let q = validate::search_term(q)?;
        let mut qb = QueryBuilder::new(select);
        if let Some(q) = q {
            qb.push(format!(" AND {column} ILIKE "))
                .push_bind(format!("%{}%", crate::tenants::like_escape(&q)));
        }
        keyset.push_after(&mut qb);
        keyset.push_order_limit(&mut qb);
        let mut tx = self.tenant_tx(scope).await?;
        let rows: Vec<R> = qb
            .build_query_as()
            .fetch_all(&mut *tx)
            .await
            .map_err(crate::error::db)?;
        tx.commit().await.map_err(crate::error::db)?;
        Ok(keyset.finish(rows, |r, col| {
            let (id, value) = position(r);
            (id, col.map(|_| value))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[SortField] = &[BY_CREATION, ("name", Some("name"))];

    fn params(sort: Option<&str>, cursor: Option<String>) -> PageParams {
        PageParams {
            limit: Some(2),
            cursor,
            sort: sort.map(str::to_owned),
        }
    }

    #[test]
    fn cursor_round_trips_and_is_bound_to_its_sort() {
        let ks = Keyset::parse(&params(Some("name"), None), FIELDS).unwrap();
        let rows = vec![
            (Uuid::now_v7(), "a"),
            (Uuid::now_v7(), "b"),
            (Uuid::now_v7(), "c"),
        ];
        let (rows, next) = ks.finish(rows, |r, col| (r.0, col.map(|_| r.1.to_owned())));
        assert_eq!(rows.len(), 2);
        let next = next.expect("a next page");
        let again = Keyset::parse(&params(Some("name"), Some(next.clone())), FIELDS).unwrap();
        assert_eq!(again.after.unwrap().v.as_deref(), Some("b"));
        assert!(Keyset::parse(&params(Some("-name"), Some(next)), FIELDS).is_err());
    }

    #[test]
    fn rejects_unknown_sorts_and_garbage_cursors() {
        assert!(Keyset::parse(&params(Some("email"), None), FIELDS).is_err());
        assert!(Keyset::parse(&params(None, Some("!!".into())), FIELDS).is_err());
        assert!(Keyset::parse(&params(None, Some("e30".into())), FIELDS).is_err());
    }

    #[test]
    fn name_cursors_carry_the_name_and_their_sort() {
        let page = |sort: Option<&str>, cursor: Option<String>| PageParams {
            limit: Some(1),
            cursor,
            sort: sort.map(str::to_owned),
        };
        let ks = NameKeyset::parse(&page(None, None), "model", "model").unwrap();
        let (rows, next) = ks.finish(vec!["a".to_owned(), "b".to_owned()], Clone::clone);
        assert_eq!(rows, ["a"]);
        let again = NameKeyset::parse(&page(None, next.clone()), "model", "model").unwrap();
        assert_eq!(again.after.as_deref(), Some("a"));
        assert!(NameKeyset::parse(&page(Some("-model"), next), "model", "model").is_err());
        assert!(NameKeyset::parse(&page(Some("created_at"), None), "model", "model").is_err());
    }

    #[test]
    fn last_page_has_no_cursor() {
        let ks = Keyset::parse(&params(None, None), FIELDS).unwrap();
        let (rows, next) = ks.finish(vec![Uuid::now_v7()], |id, _| (*id, None));
        assert_eq!(rows.len(), 1);
        assert!(next.is_none());
    }
}
