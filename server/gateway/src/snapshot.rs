//! The gateway's view of the world: every tenant's keys, backends and
//! routes, in memory, swapped atomically as a whole or one tenant at a time.
//! The request path reads it and never touches the database.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ditto_core::crypto::MasterKey;
use ditto_store::gateway::{GatewayBackendRow, GatewayKeyRow, GatewayRows};
use ditto_types::api::Route;
use uuid::Uuid;

use crate::backend::{Backend, Registry};
use crate::glob;
use crate::rules::{Prices, Rules};

#[derive(Default)]
pub struct Snapshot {
    by_slug: HashMap<String, Arc<Tenant>>,
    slug_by_id: HashMap<Uuid, String>,
    /// Platform default prices; a tenant's own prices override them.
    pub platform_prices: Arc<Prices>,
}

pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub active: bool,
    /// Keys by public id.
    pub keys: HashMap<String, Arc<Key>>,
    pub routes: RouteTable,
    pub backends: Vec<Arc<Backend>>,
    pub rules: Rules,
    /// Database time of the load: every change committed earlier is here.
    pub loaded_as_of: DateTime<Utc>,
}

pub struct Key {
    pub key_id: Uuid,
    pub project_id: Uuid,
    pub owner_user_id: Option<Uuid>,
    pub owner_service_account_id: Option<Uuid>,
    pub secret_hash: Vec<u8>,
    pub expires_at: Option<DateTime<Utc>>,
    pub key_models: Option<Vec<String>>,
    pub project_models: Option<Arc<[String]>>,
}

impl Key {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Whether both the key's and its project's allow-lists admit `model`.
    pub fn allows(&self, model: &str) -> bool {
        let admits = |list: Option<&[String]>| {
            list.is_none_or(|l| l.iter().any(|p| glob::matches(p, model)))
        };
        admits(self.project_models.as_deref()) && admits(self.key_models.as_deref())
    }
}

/// One backend of a route, with the model name to send it.
pub struct Target {
    pub backend: Arc<Backend>,
    pub weight: u32,
    pub upstream_model: Option<String>,
}

pub struct RouteEntry {
    /// The route's public name (or pattern).
    pub model: String,
    pub created_at: DateTime<Utc>,
    pub primaries: Vec<Target>,
    pub fallbacks: Vec<Target>,
}

/// Exact names (models and aliases) first, then patterns, most specific first.
#[derive(Default)]
pub struct RouteTable {
    exact: HashMap<String, Arc<RouteEntry>>,
    patterns: Vec<Arc<RouteEntry>>,
}

impl RouteTable {
    pub fn resolve(&self, model: &str) -> Option<&Arc<RouteEntry>> {
        self.exact.get(model).or_else(|| {
            self.patterns
                .iter()
                .find(|r| glob::matches(&r.model, model))
        })
    }

    /// The route of an exact public name (model or alias).
    pub fn exact(&self, name: &str) -> Option<&Arc<RouteEntry>> {
        self.exact.get(name)
    }

    /// Every exact public name with its route, for `/v1/models`.
    pub fn names(&self) -> impl Iterator<Item = (&String, &Arc<RouteEntry>)> {
        self.exact.iter()
    }
}

impl Snapshot {
    pub fn tenant(&self, slug: &str) -> Option<&Arc<Tenant>> {
        self.by_slug.get(slug)
    }

    pub fn tenant_count(&self) -> usize {
        self.by_slug.len()
    }

    pub fn key_count(&self) -> usize {
        self.by_slug.values().map(|t| t.keys.len()).sum()
    }

    /// Tenants with at least one budget (whose reservations may need reaping).
    pub fn tenants_with_budgets(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.by_slug
            .values()
            .filter(|t| t.rules.has_budgets())
            .map(|t| t.id)
    }

    /// Every backend of every tenant.
    pub fn backends(&self) -> impl Iterator<Item = &Arc<Backend>> {
        self.by_slug.values().flat_map(|t| t.backends.iter())
    }

    /// A snapshot of everything in `rows`.
    pub fn build(
        mut rows: GatewayRows,
        registry: &Registry,
        master_key: Option<&MasterKey>,
    ) -> Self {
        let mut snapshot = Snapshot {
            platform_prices: Arc::new(take_platform_prices(&mut rows)),
            ..Snapshot::default()
        };
        for tenant in build_tenants(rows, registry, master_key) {
            snapshot.insert(tenant);
        }
        snapshot
    }

    /// A copy with one tenant replaced (or removed, when `rows` has none).
    pub fn with_tenant(
        &self,
        id: Uuid,
        mut rows: GatewayRows,
        registry: &Registry,
        master_key: Option<&MasterKey>,
    ) -> Self {
        let mut next = Snapshot {
            by_slug: self.by_slug.clone(),
            slug_by_id: self.slug_by_id.clone(),
            platform_prices: Arc::new(take_platform_prices(&mut rows)),
        };
        if let Some(slug) = next.slug_by_id.remove(&id) {
            next.by_slug.remove(&slug);
        }
        for tenant in build_tenants(rows, registry, master_key) {
            next.insert(tenant);
        }
        next
    }

    fn insert(&mut self, tenant: Tenant) {
        self.slug_by_id.insert(tenant.id, tenant.slug.clone());
        self.by_slug.insert(tenant.slug.clone(), Arc::new(tenant));
    }
}

/// Removes the platform's prices from `rows`, leaving the tenants' own.
fn take_platform_prices(rows: &mut GatewayRows) -> Prices {
    let (platform, own) = std::mem::take(&mut rows.prices)
        .into_iter()
        .partition::<Vec<_>, _>(|p| p.tenant_id.is_none());
    rows.prices = own;
    platform
        .iter()
        .map(|row| (row.model.clone(), row.into()))
        .collect()
}

fn group<T>(rows: Vec<T>, tenant: impl Fn(&T) -> Uuid) -> HashMap<Uuid, Vec<T>> {
    let mut groups: HashMap<Uuid, Vec<T>> = HashMap::new();
    for row in rows {
        groups.entry(tenant(&row)).or_default().push(row);
    }
    groups
}

fn build_tenants(
    rows: GatewayRows,
    registry: &Registry,
    master_key: Option<&MasterKey>,
) -> Vec<Tenant> {
    let GatewayRows {
        as_of,
        tenants,
        keys,
        backends,
        routes,
        limits,
        budgets,
        prices,
    } = rows;
    let mut limits = group(limits, |l| l.tenant_id);
    let mut budgets = group(budgets, |b| b.tenant_id);
    let mut prices = group(prices, |p| p.tenant_id.unwrap_or_default());
    let mut keys_by_tenant: HashMap<Uuid, Vec<GatewayKeyRow>> = HashMap::new();
    for key in keys {
        keys_by_tenant.entry(key.tenant_id).or_default().push(key);
    }
    let mut backends_by_tenant: HashMap<Uuid, Vec<GatewayBackendRow>> = HashMap::new();
    for backend in backends {
        backends_by_tenant
            .entry(backend.tenant_id)
            .or_default()
            .push(backend);
    }
    let mut routes_by_tenant: HashMap<Uuid, Vec<Route>> = HashMap::new();
    for route in routes {
        routes_by_tenant
            .entry(route.tenant_id.0)
            .or_default()
            .push(route);
    }
    tenants
        .into_iter()
        .map(|t| {
            let backends: HashMap<Uuid, Arc<Backend>> = backends_by_tenant
                .remove(&t.id)
                .unwrap_or_default()
                .into_iter()
                .map(|row| (row.id, registry.backend(row, master_key)))
                .collect();
            Tenant {
                keys: build_keys(keys_by_tenant.remove(&t.id).unwrap_or_default()),
                routes: build_routes(
                    routes_by_tenant.remove(&t.id).unwrap_or_default(),
                    &backends,
                ),
                backends: backends.into_values().collect(),
                rules: Rules::build(
                    ditto_core::period::parse_zone(&t.time_zone).unwrap_or(chrono_tz::UTC),
                    limits.remove(&t.id).unwrap_or_default(),
                    budgets.remove(&t.id).unwrap_or_default(),
                    prices.remove(&t.id).unwrap_or_default(),
                ),
                loaded_as_of: as_of,
                id: t.id,
                slug: t.slug,
                active: t.active,
            }
        })
        .collect()
}

fn build_keys(rows: Vec<GatewayKeyRow>) -> HashMap<String, Arc<Key>> {
    // Keys of one project share its allow-list.
    let mut project_lists: HashMap<Uuid, Option<Arc<[String]>>> = HashMap::new();
    rows.into_iter()
        .map(|row| {
            let project_models = project_lists
                .entry(row.project_id)
                .or_insert_with(|| row.project_models.map(Arc::from))
                .clone();
            let key = Key {
                key_id: row.key_id,
                project_id: row.project_id,
                owner_user_id: row.owner_user_id,
                owner_service_account_id: row.owner_service_account_id,
                secret_hash: row.secret_hash,
                expires_at: row.expires_at,
                key_models: row.key_models,
                project_models,
            };
            (row.public_id, Arc::new(key))
        })
        .collect()
}

fn build_routes(routes: Vec<Route>, backends: &HashMap<Uuid, Arc<Backend>>) -> RouteTable {
    let mut table = RouteTable::default();
    for route in routes {
        let target = |backend: &ditto_types::BackendId, weight: u32, upstream: &Option<String>| {
            backends.get(&backend.0).map(|b| Target {
                backend: b.clone(),
                weight,
                upstream_model: upstream.clone(),
            })
        };
        let entry = Arc::new(RouteEntry {
            primaries: route
                .targets
                .iter()
                .filter_map(|t| target(&t.backend_id, t.weight, &t.upstream_model))
                .collect(),
            fallbacks: route
                .fallbacks
                .iter()
                .filter_map(|f| target(&f.backend_id, 0, &f.upstream_model))
                .collect(),
            model: route.model.clone(),
            created_at: route.created_at,
        });
        if route.model.contains('*') {
            table.patterns.push(entry.clone());
        } else {
            table.exact.insert(route.model.clone(), entry.clone());
        }
        for alias in route.aliases {
            table.exact.entry(alias).or_insert_with(|| entry.clone());
        }
    }
    table
        .patterns
        .sort_by_key(|r| std::cmp::Reverse(glob::specificity(&r.model)));
    table
}
