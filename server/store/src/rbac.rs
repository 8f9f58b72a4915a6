//! Role-based access control with Casbin, one enforcer per tenant.
//!
//! Casbin holds a tenant's role graph with domains: subjects (`sa:<id>`,
//! `user:<id>`, `group:<id>`) hold roles (`role:<name>`) in a domain
//! (`tenant`, or `project:<id>` for a binding on one project), and users
//! inherit their groups' roles. A principal's tenant-wide permissions are
//! resolved once (Casbin's implicit roles, then the role table of
//! `ditto_core::rbac` or the tenant's custom roles) and cached, so a request
//! costs a map lookup. A tenant's enforcer and cache are dropped when its
//! roles, bindings or group memberships change: at once on the replica that
//! made the change, and through `LISTEN ditto_policy` on every other one.
//! While the listener is down nothing is cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use casbin::{Adapter, CoreApi, DefaultModel, Enforcer, Filter, MgmtApi, Model, RbacApi};
use ditto_core::rbac::builtin_grants;
use ditto_core::{Actor, Error, Grants, Permission, Result};
use ditto_types::TenantId;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::{Store, error::db};

/// The channel announcing that a tenant's policies changed.
pub const POLICY_CHANNEL: &str = "ditto_policy";

/// Casbin's RBAC-with-domains model. Permissions are the catalogue's names.
const MODEL: &str = "
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.act == p.act
";

/// The Casbin domain of tenant-wide bindings.
pub const TENANT_DOMAIN: &str = "tenant";

/// The Casbin domain of bindings on one project.
pub fn project_domain(project: Uuid) -> String {
    format!("project:{project}")
}

/// One tenant's policies, ready to answer.
pub struct TenantPolicy {
    enforcer: Enforcer,
    custom: HashMap<String, Grants>,
    /// Projects some role is bound on.
    projects: Vec<Uuid>,
    resolved: RwLock<HashMap<Actor, Grants>>,
}

impl TenantPolicy {
    /// Builds the enforcer from the tenant's rows in Postgres.
    pub async fn load(pool: &PgPool, tenant: TenantId) -> Result<Self> {
        let custom = custom_roles(pool, tenant).await?;
        let model = DefaultModel::from_str(MODEL).await.map_err(casbin_error)?;
        let adapter = PgAdapter {
            pool: pool.clone(),
            tenant,
        };
        let enforcer = Enforcer::new(model, adapter).await.map_err(casbin_error)?;
        let mut projects: Vec<Uuid> = enforcer
            .get_grouping_policy()
            .iter()
            .filter_map(|rule| rule.get(2)?.strip_prefix("project:")?.parse().ok())
            .collect();
        projects.sort_unstable();
        projects.dedup();
        Ok(Self {
            enforcer,
            custom,
            projects,
            resolved: RwLock::new(HashMap::new()),
        })
    }

    /// What `actor` holds tenant-wide, through every role bound to it (or
    /// to its groups) in the `tenant` domain. Cached.
    pub fn grants(&self, actor: Actor) -> Grants {
        if let Some(g) = self.resolved.read().expect("lock").get(&actor) {
            return *g;
        }
        let grants = self.resolve(&actor.subject(), TENANT_DOMAIN);
        self.resolved.write().expect("lock").insert(actor, grants);
        grants
    }

    /// Everything `actor` holds anywhere in the tenant: tenant-wide, and on
    /// every project a role is bound to it (or its groups).
    pub fn reach(&self, actor: Actor) -> Grants {
        let subject = actor.subject();
        self.projects
            .iter()
            .map(|p| self.resolve(&subject, &project_domain(*p)))
            .fold(self.grants(actor), Grants::union)
    }

    /// The projects where `actor` holds `permission` through roles bound on
    /// the project (to it or its groups).
    pub fn projects_granting(&self, actor: Actor, permission: Permission) -> Vec<Uuid> {
        let subject = actor.subject();
        self.projects
            .iter()
            .copied()
            .filter(|p| {
                self.resolve(&subject, &project_domain(*p))
                    .contains(permission)
            })
            .collect()
    }

    /// What `subject` holds in `domain`, straight from Casbin.
    pub fn resolve(&self, subject: &str, domain: &str) -> Grants {
        self.enforcer
            .get_implicit_roles_for_user(subject, Some(domain))
            .iter()
            .filter_map(|role| role.strip_prefix("role:"))
            .filter_map(|role| builtin_grants(role).or_else(|| self.custom.get(role).copied()))
            .fold(Grants::NONE, Grants::union)
    }

    /// The roles `subject` holds in `domain`, directly or through groups.
    pub fn roles(&self, subject: &str, domain: &str) -> Vec<String> {
        let mut roles: Vec<String> = self
            .enforcer
            .get_implicit_roles_for_user(subject, Some(domain))
            .into_iter()
            .filter_map(|r| r.strip_prefix("role:").map(str::to_owned))
            .collect();
        roles.sort();
        roles
    }

    /// One Casbin decision, without the cache (for comparison and tests).
    pub fn enforce(&self, subject: &str, domain: &str, permission: Permission) -> bool {
        self.enforcer
            .enforce((subject, domain, permission.as_str()))
            .unwrap_or(false)
    }
}

/// The policy cache of one process: a [`TenantPolicy`] per tenant in use.
#[derive(Default)]
pub struct Policies {
    tenants: RwLock<HashMap<TenantId, Arc<TenantPolicy>>>,
    /// Bumped by every invalidation, so a load that raced one is not kept.
    generation: AtomicU64,
    listening: AtomicBool,
    listener_started: AtomicBool,
}

impl Policies {
    pub fn invalidate(&self, tenant: TenantId) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.tenants.write().expect("lock").remove(&tenant);
    }

    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.tenants.write().expect("lock").clear();
    }

    /// Whether changes made by other replicas are being heard (and so
    /// whether anything is cached).
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// How many tenants have a loaded enforcer.
    pub fn loaded(&self) -> usize {
        self.tenants.read().expect("lock").len()
    }

    fn cached(&self, tenant: TenantId) -> Option<Arc<TenantPolicy>> {
        self.tenants.read().expect("lock").get(&tenant).cloned()
    }
}

impl Store {
    /// The policies of `tenant`: cached, or loaded from Postgres.
    pub async fn tenant_policy(&self, tenant: TenantId) -> Result<Arc<TenantPolicy>> {
        self.start_policy_listener();
        let policies = &self.policies;
        if let Some(p) = policies.cached(tenant) {
            return Ok(p);
        }
        let generation = policies.generation.load(Ordering::SeqCst);
        let loaded = Arc::new(TenantPolicy::load(&self.pool, tenant).await?);
        if policies.listening.load(Ordering::SeqCst)
            && policies.generation.load(Ordering::SeqCst) == generation
        {
            policies
                .tenants
                .write()
                .expect("lock")
                .insert(tenant, loaded.clone());
        }
        Ok(loaded)
    }

    /// What `actor` may do in `tenant` (tenant-wide bindings).
    pub async fn grants_of(&self, tenant: TenantId, actor: Actor) -> Result<Grants> {
        Ok(self.tenant_policy(tenant).await?.grants(actor))
    }

    /// Everything `actor` holds in `tenant`, on any project included: what
    /// a principal must hold to act on it (reset its password, mint its
    /// tokens, end its sessions). An admin of one project outranks a member
    /// with only `users:write` as surely as a tenant-wide admin does.
    pub async fn reach_of(&self, tenant: TenantId, actor: Actor) -> Result<Grants> {
        Ok(self.tenant_policy(tenant).await?.reach(actor))
    }

    /// What `subject` (`group:<id>`, …) holds tenant-wide in `tenant`.
    pub async fn grants_of_subject(&self, tenant: TenantId, subject: &str) -> Result<Grants> {
        Ok(self
            .tenant_policy(tenant)
            .await?
            .resolve(subject, TENANT_DOMAIN))
    }

    /// The projects of `tenant` where `actor` holds `permission` through
    /// roles bound on the project.
    pub async fn projects_granting(
        &self,
        tenant: TenantId,
        actor: Actor,
        permission: Permission,
    ) -> Result<Vec<Uuid>> {
        Ok(self
            .tenant_policy(tenant)
            .await?
            .projects_granting(actor, permission))
    }

    /// What `actor` holds in one project of `tenant`: its tenant-wide
    /// grants and those of roles bound to it (or its groups) on the project.
    pub async fn grants_in_project(
        &self,
        tenant: TenantId,
        actor: Actor,
        project: Uuid,
    ) -> Result<Grants> {
        let policy = self.tenant_policy(tenant).await?;
        Ok(policy
            .grants(actor)
            .union(policy.resolve(&actor.subject(), &project_domain(project))))
    }

    /// Drops what this process resolved for `tenant`; other replicas hear
    /// of the change through the database trigger.
    pub(crate) fn policies_changed(&self, tenant: TenantId) {
        self.policies.invalidate(tenant);
    }

    /// The process's policy cache (for benchmarks and tests).
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Starts, once per store, the task that drops a tenant's cached
    /// policies when another replica changes them.
    fn start_policy_listener(&self) {
        if self.policies.listener_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.policies
                .listener_started
                .store(false, Ordering::SeqCst);
            return;
        };
        let pool = self.pool.clone();
        let policies = Arc::downgrade(&self.policies);
        runtime.spawn(listen(pool, policies));
    }
}

async fn listen(pool: PgPool, policies: Weak<Policies>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(mut l) => match l.listen(POLICY_CHANNEL).await {
                Ok(()) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for policy changes; retrying");
                    if !pause(&policies).await {
                        return;
                    }
                    continue;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for policy changes; retrying");
                if !pause(&policies).await {
                    return;
                }
                continue;
            }
        };
        // Anything may have changed while we were not listening.
        match policies.upgrade() {
            Some(p) => {
                p.invalidate_all();
                p.listening.store(true, Ordering::SeqCst);
            }
            None => return,
        }
        loop {
            match tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await {
                Err(_) => {
                    if policies.strong_count() == 0 {
                        return;
                    }
                }
                Ok(Ok(Some(n))) => {
                    let Some(p) = policies.upgrade() else { return };
                    match n.payload().parse::<Uuid>() {
                        Ok(id) => p.invalidate(TenantId(id)),
                        Err(_) => p.invalidate_all(),
                    }
                }
                // The connection dropped: forget everything, reconnect.
                Ok(Ok(None)) | Ok(Err(_)) => {
                    let Some(p) = policies.upgrade() else { return };
                    p.listening.store(false, Ordering::SeqCst);
                    p.invalidate_all();
                    break;
                }
            }
        }
    }
}

/// Waits before a retry; false once nobody uses the policies any more.
async fn pause(policies: &Weak<Policies>) -> bool {
    tokio::time::sleep(Duration::from_secs(1)).await;
    policies.strong_count() > 0
}

async fn custom_roles(pool: &PgPool, tenant: TenantId) -> Result<HashMap<String, Grants>> {
    let mut tx = platform_read(pool).await?;
    let rows: Vec<(String, Vec<String>)> =
        sqlx::query_as("SELECT name, permissions FROM roles WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|(name, perms)| (name, grants_from_names(&perms)))
        .collect())
}

/// Permission names stored in the database; unknown names (a permission
/// since removed from the catalogue) grant nothing.
pub fn grants_from_names(names: &[String]) -> Grants {
    let ps: Vec<Permission> = names.iter().filter_map(|n| Permission::parse(n)).collect();
    Grants::of(&ps)
}

/// Reading policies is system work, like authentication: the platform role,
/// filtered to one tenant by the queries.
async fn platform_read(pool: &PgPool) -> Result<crate::tx::Tx> {
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query("SELECT set_config('role', 'ditto_platform', true)")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    Ok(tx)
}

/// A role binding: role, project, and one of user, group, service account.
type BindingRow = (
    String,
    Option<Uuid>,
    Option<Uuid>,
    Option<Uuid>,
    Option<Uuid>,
);

/// A Casbin adapter over our own tables (sqlx 0.9), loading one tenant.
/// Policies are written through the repositories, not through Casbin, so
/// the write half is refused.
struct PgAdapter {
    pool: PgPool,
    tenant: TenantId,
}

impl PgAdapter {
    async fn rules(&self) -> Result<(Vec<Vec<String>>, Vec<Vec<String>>)> {
        let mut tx = platform_read(&self.pool).await?;
        let custom: Vec<(String, Vec<String>)> =
            sqlx::query_as("SELECT name, permissions FROM roles WHERE tenant_id = $1")
                .bind(self.tenant.0)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        let bindings: Vec<BindingRow> = sqlx::query_as(
            "SELECT role, project_id, user_id, group_id, service_account_id
                 FROM role_bindings WHERE tenant_id = $1",
        )
        .bind(self.tenant.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let members: Vec<(Uuid, Uuid)> =
            sqlx::query_as("SELECT user_id, group_id FROM group_members WHERE tenant_id = $1")
                .bind(self.tenant.0)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        tx.commit().await.map_err(db)?;

        let mut p = Vec::new();
        for role in ditto_core::rbac::TENANT_ROLES {
            let grants = builtin_grants(role.name).unwrap_or_default();
            for perm in grants.iter() {
                p.push(vec![
                    format!("role:{}", role.name),
                    perm.as_str().to_owned(),
                ]);
            }
        }
        for (name, perms) in &custom {
            for perm in grants_from_names(perms).iter() {
                p.push(vec![format!("role:{name}"), perm.as_str().to_owned()]);
            }
        }
        let mut g = Vec::new();
        let mut group_domains: HashMap<Uuid, Vec<String>> = HashMap::new();
        for (role, project, user, group, account) in bindings {
            let domain = project.map_or_else(|| TENANT_DOMAIN.to_owned(), project_domain);
            let subject = match (user, group, account) {
                (Some(u), _, _) => format!("user:{u}"),
                (_, Some(gr), _) => {
                    group_domains.entry(gr).or_default().push(domain.clone());
                    format!("group:{gr}")
                }
                (_, _, Some(sa)) => format!("sa:{sa}"),
                _ => continue,
            };
            g.push(vec![subject, format!("role:{role}"), domain]);
        }
        for (user, group) in members {
            for domain in group_domains.get(&group).into_iter().flatten() {
                g.push(vec![
                    format!("user:{user}"),
                    format!("group:{group}"),
                    domain.clone(),
                ]);
            }
        }
        Ok((p, g))
    }
}

#[async_trait]
impl Adapter for PgAdapter {
    async fn load_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        let (p, g) = self
            .rules()
            .await
            .map_err(|e| casbin::Error::AdapterError(casbin::error::AdapterError(Box::new(e))))?;
        for rule in p {
            m.add_policy("p", "p", rule);
        }
        for rule in g {
            m.add_policy("g", "g", rule);
        }
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        m: &mut dyn Model,
        _f: Filter<'a>,
    ) -> casbin::Result<()> {
        self.load_policy(m).await
    }

    async fn save_policy(&mut self, _m: &mut dyn Model) -> casbin::Result<()> {
        Ok(())
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        Ok(())
    }

    /// The adapter reads one tenant, but that is its whole world: Casbin
    /// loads a filtered adapter's policy only on request.
    fn is_filtered(&self) -> bool {
        false
    }

    async fn add_policy(&mut self, _: &str, _: &str, _: Vec<String>) -> casbin::Result<bool> {
        Ok(false)
    }

    async fn add_policies(
        &mut self,
        _: &str,
        _: &str,
        _: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Ok(false)
    }

    async fn remove_policy(&mut self, _: &str, _: &str, _: Vec<String>) -> casbin::Result<bool> {
        Ok(false)
    }

    async fn remove_policies(
        &mut self,
        _: &str,
        _: &str,
        _: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Ok(false)
    }

    async fn remove_filtered_policy(
        &mut self,
        _: &str,
        _: &str,
        _: usize,
        _: Vec<String>,
    ) -> casbin::Result<bool> {
        Ok(false)
    }
}

fn casbin_error(e: casbin::Error) -> Error {
    Error::Internal(format!("casbin: {e}"))
}
