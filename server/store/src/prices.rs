//! Model prices: the platform's defaults, shared with every tenant, and each
//! tenant's own prices, which override the defaults for the same model name.

use chrono::{DateTime, Utc};
use ditto_core::money::format_usd_per_million_tokens;
use ditto_core::pricing::Price;
use ditto_core::{Error, PlatformScope, Result, SharedScope, TenantScope, validate};
use ditto_types::api::{ModelPrice, ModelPricePage, PageParams, PriceSource};
use sqlx::{FromRow, QueryBuilder};

use crate::audit::{self, Change};
use crate::page::NameKeyset;
use crate::tenants::like_escape;
use crate::tx::Tx;
use crate::{Store, error::db};

const COLUMNS: &str =
    "model, input_pico, output_pico, cached_input_pico, max_output_tokens, created_at, updated_at";

#[derive(FromRow)]
struct Row {
    model: String,
    input_pico: i64,
    output_pico: i64,
    cached_input_pico: Option<i64>,
    max_output_tokens: Option<i32>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    source: String,
}

impl From<Row> for ModelPrice {
    fn from(r: Row) -> Self {
        ModelPrice {
            model: r.model,
            input_usd_per_million_tokens: format_usd_per_million_tokens(r.input_pico),
            output_usd_per_million_tokens: format_usd_per_million_tokens(r.output_pico),
            cached_input_usd_per_million_tokens: r
                .cached_input_pico
                .map(format_usd_per_million_tokens),
            max_output_tokens: r.max_output_tokens.map(|v| v as u32),
            source: if r.source == "tenant" {
                PriceSource::Tenant
            } else {
                PriceSource::Platform
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(FromRow)]
struct Upserted {
    #[sqlx(flatten)]
    row: Row,
    inserted: bool,
}

/// One of the two price lists.
#[derive(Clone, Copy)]
enum List {
    Platform,
    Tenant,
}

impl List {
    fn table(self) -> &'static str {
        match self {
            Self::Platform => "model_prices",
            Self::Tenant => "tenant_model_prices",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Tenant => "tenant",
        }
    }

    /// The leading key columns and their values on insert.
    fn key(self) -> (&'static str, &'static str) {
        match self {
            Self::Platform => ("", ""),
            Self::Tenant => ("tenant_id, ", "ditto_current_tenant(), "),
        }
    }

    fn select(self) -> String {
        format!(
            "SELECT {COLUMNS}, '{}' AS source FROM {} WHERE true",
            self.source(),
            self.table()
        )
    }
}

const UPSERT: &str = "ON CONFLICT ({key}model) DO UPDATE SET input_pico = EXCLUDED.input_pico,
    output_pico = EXCLUDED.output_pico, cached_input_pico = EXCLUDED.cached_input_pico,
    max_output_tokens = EXCLUDED.max_output_tokens, updated_at = now()";

fn upsert(list: List) -> String {
    UPSERT.replace("{key}", list.key().0)
}

async fn list_page(
    tx: &mut Tx,
    select: String,
    q: Option<&str>,
    page: &PageParams,
) -> Result<ModelPricePage> {
    let keyset = NameKeyset::parse(page, "model", "model")?;
    let q = validate::search_term(q)?;
    let mut qb = QueryBuilder::new(select);
    if let Some(q) = q {
        qb.push(" AND model ILIKE ")
            .push_bind(format!("%{}%", like_escape(&q)));
    }
    keyset.push_after(&mut qb);
    keyset.push_order_limit(&mut qb);
    let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut **tx).await.map_err(db)?;
    let (rows, next_cursor) = keyset.finish(rows, |r| r.model.clone());
    Ok(ModelPricePage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    })
}

async fn get(tx: &mut Tx, list: List, model: &str) -> Result<ModelPrice> {
    let row: Option<Row> = sqlx::query_as(sql!("{} AND model = $1", list.select()))
        .bind(model)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    row.map(Into::into).ok_or(Error::NotFound("model price"))
}

/// Sets a price; returns it and whether it is new.
async fn put(tx: &mut Tx, list: List, model: &str, price: &Price) -> Result<(ModelPrice, bool)> {
    let (key_columns, key_values) = list.key();
    let done: Upserted = sqlx::query_as(sql!(
        "INSERT INTO {table} ({key_columns}model, input_pico, output_pico, cached_input_pico, max_output_tokens)
         VALUES ({key_values}$1, $2, $3, $4, $5) {upsert}
         RETURNING {COLUMNS}, '{source}' AS source, (xmax = 0) AS inserted",
        table = list.table(),
        upsert = upsert(list),
        source = list.source(),
    ))
    .bind(model)
    .bind(price.input)
    .bind(price.output)
    .bind(price.cached_input)
    .bind(price.max_output_tokens)
    .fetch_one(&mut **tx)
    .await
    .map_err(db)?;
    Ok((done.row.into(), done.inserted))
}

/// Sets many prices in one statement; returns how many.
async fn import(tx: &mut Tx, list: List, prices: &[(String, Price)]) -> Result<u32> {
    if prices.is_empty() {
        return Ok(0);
    }
    fn column<T>(prices: &[(String, Price)], f: impl Fn(&(String, Price)) -> T) -> Vec<T> {
        prices.iter().map(f).collect()
    }
    let (key_columns, key_values) = list.key();
    let done = sqlx::query(sql!(
        "INSERT INTO {table} ({key_columns}model, input_pico, output_pico, cached_input_pico, max_output_tokens)
         SELECT {key_values}m, i, o, c, x
         FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::int[]) AS p (m, i, o, c, x)
         {upsert}",
        table = list.table(),
        upsert = upsert(list),
    ))
    .bind(column(prices, |(m, _)| m.clone()))
    .bind(column(prices, |(_, p)| p.input))
    .bind(column(prices, |(_, p)| p.output))
    .bind(column(prices, |(_, p)| p.cached_input))
    .bind(column(prices, |(_, p)| p.max_output_tokens))
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(u32::try_from(done.rows_affected()).unwrap_or(u32::MAX))
}

async fn delete(tx: &mut Tx, list: List, model: &str) -> Result<()> {
    let done = sqlx::query(sql!("DELETE FROM {} WHERE model = $1", list.table()))
        .bind(model)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound("model price"));
    }
    Ok(())
}

impl Store {
    /// The platform's default prices, sorted by model name.
    pub async fn list_model_prices(
        &self,
        scope: &SharedScope,
        q: Option<&str>,
        page: &PageParams,
    ) -> Result<ModelPricePage> {
        let mut tx = self.shared_tx(scope).await?;
        let prices = list_page(&mut tx, List::Platform.select(), q, page).await?;
        tx.commit().await.map_err(db)?;
        Ok(prices)
    }

    pub async fn get_model_price(&self, scope: &SharedScope, model: &str) -> Result<ModelPrice> {
        let mut tx = self.shared_tx(scope).await?;
        let price = get(&mut tx, List::Platform, model).await?;
        tx.commit().await.map_err(db)?;
        Ok(price)
    }

    /// Sets a platform price; returns it and whether it is new.
    pub async fn put_model_price(
        &self,
        scope: &PlatformScope,
        model: &str,
        price: &Price,
    ) -> Result<(ModelPrice, bool)> {
        let mut tx = self.platform_tx(scope).await?;
        let before = audit::image(&mut tx, "model_prices", "model", model).await?;
        let done = put(&mut tx, List::Platform, model, price).await?;
        let after = audit::image(&mut tx, "model_prices", "model", model).await?;
        let change = Change::new("model_prices.put", "model_price")
            .target(model)
            .before(before)
            .after(after);
        audit::record_platform(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(done)
    }

    pub async fn delete_model_price(&self, scope: &PlatformScope, model: &str) -> Result<()> {
        let mut tx = self.platform_tx(scope).await?;
        let before = audit::image(&mut tx, "model_prices", "model", model).await?;
        delete(&mut tx, List::Platform, model).await?;
        let change = Change::new("model_prices.delete", "model_price")
            .target(model)
            .before(before);
        audit::record_platform(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)
    }

    /// Creates or replaces platform prices in one transaction.
    pub async fn import_model_prices(
        &self,
        scope: &PlatformScope,
        prices: &[(String, Price)],
    ) -> Result<u32> {
        let mut tx = self.platform_tx(scope).await?;
        let n = import(&mut tx, List::Platform, prices).await?;
        let change = Change::new("model_prices.import", "model_price")
            .after(Some(serde_json::json!({ "imported": n })));
        audit::record_platform(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    /// The tenant's own prices or, when `effective`, the prices that apply
    /// to it: the platform's, with the tenant's in place of them.
    pub async fn list_tenant_model_prices(
        &self,
        scope: &TenantScope,
        q: Option<&str>,
        effective: bool,
        page: &PageParams,
    ) -> Result<ModelPricePage> {
        let select = if effective {
            format!(
                "SELECT * FROM (
                     SELECT {COLUMNS}, 'tenant' AS source FROM tenant_model_prices
                     UNION ALL
                     SELECT {COLUMNS}, 'platform' AS source FROM model_prices p
                     WHERE NOT EXISTS (SELECT 1 FROM tenant_model_prices t WHERE t.model = p.model)
                 ) prices WHERE true"
            )
        } else {
            List::Tenant.select()
        };
        let mut tx = self.tenant_tx(scope).await?;
        let prices = list_page(&mut tx, select, q, page).await?;
        tx.commit().await.map_err(db)?;
        Ok(prices)
    }

    pub async fn get_tenant_model_price(
        &self,
        scope: &TenantScope,
        model: &str,
    ) -> Result<ModelPrice> {
        let mut tx = self.tenant_tx(scope).await?;
        let price = get(&mut tx, List::Tenant, model).await?;
        tx.commit().await.map_err(db)?;
        Ok(price)
    }

    pub async fn put_tenant_model_price(
        &self,
        scope: &TenantScope,
        model: &str,
        price: &Price,
    ) -> Result<(ModelPrice, bool)> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image(&mut tx, "tenant_model_prices", "model", model).await?;
        let done = put(&mut tx, List::Tenant, model, price).await?;
        let after = audit::image(&mut tx, "tenant_model_prices", "model", model).await?;
        let change = Change::new("tenant_model_prices.put", "tenant_model_price")
            .target(model)
            .before(before)
            .after(after);
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(done)
    }

    pub async fn delete_tenant_model_price(&self, scope: &TenantScope, model: &str) -> Result<()> {
        let mut tx = self.tenant_tx(scope).await?;
        let before = audit::image(&mut tx, "tenant_model_prices", "model", model).await?;
        delete(&mut tx, List::Tenant, model).await?;
        let change = Change::new("tenant_model_prices.delete", "tenant_model_price")
            .target(model)
            .before(before);
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)
    }

    pub async fn import_tenant_model_prices(
        &self,
        scope: &TenantScope,
        prices: &[(String, Price)],
    ) -> Result<u32> {
        let mut tx = self.tenant_tx(scope).await?;
        let n = import(&mut tx, List::Tenant, prices).await?;
        let change = Change::new("tenant_model_prices.import", "tenant_model_price")
            .after(Some(serde_json::json!({ "imported": n })));
        audit::record(&mut tx, scope, change).await?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }
}
