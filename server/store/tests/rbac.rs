//! Role resolution against a real Postgres: changes reach other replicas,
//! and (ignored by default) the per-check cost at 1, 100 and 1 000 tenants.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ditto_core::{Actor, Permission};
use ditto_store::Store;
use ditto_testkit::TestDb;
use ditto_types::{ServiceAccountId, TenantId};
use sqlx::PgConnection;
use uuid::Uuid;

/// Creates `n` tenants, each with `accounts` service accounts bound in turn
/// to owner, admin, developer, viewer, operator, billing and a custom role
/// (usage:read, keys:read); returns each tenant with its accounts.
async fn populate(
    conn: &mut PgConnection,
    n: usize,
    accounts: usize,
) -> Vec<(TenantId, Vec<ServiceAccountId>)> {
    let mut out = Vec::new();
    let roles = [
        "owner",
        "admin",
        "developer",
        "viewer",
        "operator",
        "billing",
        "custom",
    ];
    for _ in 0..n {
        let tenant = Uuid::now_v7();
        sqlx::query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, 't')")
            .bind(tenant)
            .bind(format!("bench-{}", Uuid::now_v7().simple()))
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO roles (id, tenant_id, name, permissions)
             VALUES ($1, $2, 'custom', ARRAY['usage:read', 'keys:read'])",
        )
        .bind(Uuid::now_v7())
        .bind(tenant)
        .execute(&mut *conn)
        .await
        .unwrap();
        let ids: Vec<Uuid> = (0..accounts).map(|_| Uuid::now_v7()).collect();
        sqlx::query(
            "INSERT INTO service_accounts (id, tenant_id, name)
             SELECT id, $2, 'sa-' || ord FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, ord)",
        )
        .bind(&ids)
        .bind(tenant)
        .execute(&mut *conn)
        .await
        .unwrap();
        let bound: Vec<String> = (0..accounts)
            .map(|k| roles[k % roles.len()].to_owned())
            .collect();
        sqlx::query(
            "INSERT INTO role_bindings (id, tenant_id, role, service_account_id)
             SELECT gen_random_uuid(), $3, role, id
             FROM unnest($1::uuid[], $2::text[]) AS u(id, role)",
        )
        .bind(&ids)
        .bind(&bound)
        .bind(tenant)
        .execute(&mut *conn)
        .await
        .unwrap();
        out.push((
            TenantId(tenant),
            ids.into_iter().map(ServiceAccountId).collect(),
        ));
    }
    out
}

async fn listening(store: &Store) {
    // The listener starts with the first lookup.
    let _ = store
        .grants_of(
            TenantId::new(),
            Actor::ServiceAccount(ServiceAccountId::new()),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !store.policies().is_listening() {
        assert!(
            Instant::now() < deadline,
            "the policy listener never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_change_on_one_replica_reaches_the_others() {
    let db = TestDb::create().await;
    let replica_a = db.migrated_store().await;
    let replica_b = db.migrated_store().await;
    let mut conn = db.connect().await;
    let (tenant, accounts) = populate(&mut conn, 1, 7).await.remove(0);
    let account = accounts[2];
    let actor = Actor::ServiceAccount(account);
    listening(&replica_a).await;
    listening(&replica_b).await;

    // accounts[2] is a developer: keys yes, backends no.
    for replica in [&replica_a, &replica_b] {
        let g = replica.grants_of(tenant, actor).await.unwrap();
        assert!(g.contains(Permission::KeysWrite));
        assert!(!g.contains(Permission::BackendsWrite));
    }
    assert_eq!(replica_a.policies().loaded(), 1);

    // Another process (here: plain SQL) makes it an operator too.
    sqlx::query(
        "INSERT INTO role_bindings (id, tenant_id, role, service_account_id)
         VALUES (gen_random_uuid(), $1, 'operator', $2)",
    )
    .bind(tenant.0)
    .bind(account.0)
    .execute(&mut conn)
    .await
    .unwrap();
    for replica in [&replica_a, &replica_b] {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let g = replica.grants_of(tenant, actor).await.unwrap();
            if g.contains(Permission::BackendsWrite) {
                break;
            }
            assert!(Instant::now() < deadline, "the change never arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    // A custom role's permissions change the same way: accounts[6] holds
    // `custom` (usage:read, keys:read).
    let custom = Actor::ServiceAccount(accounts[6]);
    assert!(
        replica_b
            .grants_of(tenant, custom)
            .await
            .unwrap()
            .contains(Permission::KeysRead)
    );
    sqlx::query("UPDATE roles SET permissions = ARRAY['usage:read'] WHERE tenant_id = $1")
        .bind(tenant.0)
        .execute(&mut conn)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while replica_b
        .grants_of(tenant, custom)
        .await
        .unwrap()
        .contains(Permission::KeysRead)
    {
        assert!(Instant::now() < deadline, "the change never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `cargo test --release -p ditto-store --test rbac -- --ignored --nocapture`
#[tokio::test]
#[ignore = "a benchmark; run it on purpose"]
async fn bench_checks_per_tenant_count() {
    let db = TestDb::create().await;
    let store = db.migrated_store().await;
    let mut conn = db.connect().await;
    listening(&store).await;
    let mut populated = Vec::new();
    println!("tenants  bindings  cold load p50/p99  cached check p50/p99  casbin enforce p50/p99");
    for target in [1usize, 100, 1000] {
        let more = populate(&mut conn, target - populated.len(), 20).await;
        populated.extend(more.into_iter().map(|(t, ids)| (t, ids[2])));

        // Cold: each tenant's enforcer built from Postgres, once the
        // notifications of the inserts above have all arrived.
        let mut cold = Vec::new();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            store.policies().invalidate_all();
            cold.clear();
            for (tenant, account) in &populated {
                let t = Instant::now();
                store
                    .grants_of(*tenant, Actor::ServiceAccount(*account))
                    .await
                    .unwrap();
                cold.push(t.elapsed());
            }
            if store.policies().loaded() == populated.len() {
                break;
            }
        }
        assert_eq!(store.policies().loaded(), populated.len());

        // Warm: what a request pays, over random tenants.
        let perms = Permission::ALL;
        let mut warm = Vec::with_capacity(100_000);
        let mut enforce = Vec::with_capacity(10_000);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (tenant, account) = populated[(x as usize) % populated.len()];
            let p = perms[i % perms.len()];
            let t = Instant::now();
            let g = store
                .grants_of(tenant, Actor::ServiceAccount(account))
                .await
                .unwrap();
            std::hint::black_box(g.contains(p));
            warm.push(t.elapsed());
            if i % 10 == 0 {
                let policy = store.tenant_policy(tenant).await.unwrap();
                let subject = Actor::ServiceAccount(account).subject();
                let t = Instant::now();
                std::hint::black_box(policy.enforce(&subject, "tenant", p));
                enforce.push(t.elapsed());
            }
        }
        for v in [&mut cold, &mut warm, &mut enforce] {
            v.sort();
        }
        println!(
            "{:>7}  {:>8}  {:>8.1?}/{:<8.1?}  {:>9.2?}/{:<9.2?}  {:>9.1?}/{:<9.1?}",
            populated.len(),
            populated.len() * 20,
            percentile(&cold, 0.5),
            percentile(&cold, 0.99),
            percentile(&warm, 0.5),
            percentile(&warm, 0.99),
            percentile(&enforce, 0.5),
            percentile(&enforce, 0.99),
        );
    }
}
