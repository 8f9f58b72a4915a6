//! Row-level security, migrations and the usage ledger, against a real Postgres.

#![allow(clippy::unwrap_used)]

use ditto_core::{
    Actor, Ctx, Grants, Permission, PlatformRole, Principal, TenantRef, TenantScope, secrets,
};
use ditto_store::{MIGRATOR, Store, testing};
use ditto_testkit::TestDb;
use ditto_types::api::{CreateApiKey, CreateProject, CreateTenant, CreateUser, TenantStatus};
use ditto_types::{ServiceAccountId, TenantId};
use sqlx::Row;

fn platform_admin() -> Ctx {
    Ctx {
        principal: Principal {
            actor: Actor::ServiceAccount(ServiceAccountId::new()),
            tenant_id: None,
            platform_role: Some(PlatformRole::Admin),
            grants: Grants::NONE,
            limit: None,
        },
        request_id: "test".into(),
        session: None,
    }
}

fn scope(id: TenantId) -> TenantScope {
    platform_admin()
        .tenant(
            TenantRef {
                id,
                status: TenantStatus::Active,
            },
            Permission::KeysWrite,
        )
        .unwrap()
}

/// A tenant with a project, a user and two keys; returns its id.
async fn seeded_tenant(store: &Store, slug: &str) -> TenantId {
    let platform = platform_admin().platform(Permission::TenantsWrite).unwrap();
    let tenant = store
        .create_tenant(
            &platform,
            &CreateTenant {
                slug: slug.into(),
                name: slug.into(),
                time_zone: None,
            },
        )
        .await
        .unwrap();
    let scope = scope(tenant.id);
    let project = store
        .create_project(
            &scope,
            &CreateProject {
                name: "main".into(),
                description: None,
                allowed_models: None,
            },
        )
        .await
        .unwrap();
    let user = store
        .create_user(
            &scope,
            &CreateUser {
                email: format!("dev@{slug}.example"),
                display_name: None,
                external_id: None,
            },
        )
        .await
        .unwrap();
    for name in ["one", "two"] {
        let body = CreateApiKey {
            project_id: project.id,
            name: name.into(),
            owner_user_id: Some(user.id),
            owner_service_account_id: None,
            expires_at: None,
            allowed_models: None,
        };
        store
            .create_api_key(&scope, &body, &secrets::mint_api_key())
            .await
            .unwrap();
    }
    tenant.id
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_are_idempotent() {
    let db = TestDb::create().await;
    let store = db.migrated_store().await;
    store.readiness().await.unwrap();
    store.migrate().await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(applied as usize, MIGRATOR.iter().count());
    store.readiness().await.unwrap();
}

#[tokio::test]
async fn readiness_reports_a_database_without_migrations() {
    let db = TestDb::create().await;
    let store = Store::connect_lazy(db.options.clone(), &Default::default());
    let err = store.readiness().await.unwrap_err();
    assert!(err.contains("ditto migrate"), "{err}");
}

#[tokio::test]
async fn a_tenant_transaction_sees_and_writes_only_its_own_rows() {
    let db = TestDb::create().await;
    let store = db.migrated_store().await;
    let a = seeded_tenant(&store, "tenant-a").await;
    let b = seeded_tenant(&store, "tenant-b").await;

    let mut tx = testing::tenant_tx(&store, &scope(a)).await.unwrap();
    // No WHERE clause: row-level security alone keeps tenant B out.
    let rows = sqlx::query("SELECT * FROM api_keys")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.get::<uuid::Uuid, _>("tenant_id"), a.0);
    }
    let tenants: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM tenants")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, vec![a.0]);

    // Writing or changing tenant B's rows is impossible.
    let b_project: uuid::Uuid = sqlx::query_scalar("SELECT id FROM projects WHERE tenant_id = $1")
        .bind(b.0)
        .fetch_optional(&mut *tx)
        .await
        .unwrap()
        .unwrap_or_else(uuid::Uuid::now_v7);
    let insert = sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, project_id, name, public_id, secret_hash)
         VALUES ($1, $2, $3, 'intruder', 'intruderintruder', $4)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(b.0)
    .bind(b_project)
    .bind(vec![0u8; 32])
    .execute(&mut *tx)
    .await
    .unwrap_err();
    let code = insert
        .as_database_error()
        .and_then(|e| e.code())
        .unwrap_or_default();
    assert_eq!(code, "42501", "expected an RLS violation, got {insert}");
    tx.rollback().await.unwrap();

    let mut tx = testing::tenant_tx(&store, &scope(a)).await.unwrap();
    let updated = sqlx::query("UPDATE api_keys SET name = 'stolen' WHERE tenant_id = $1")
        .bind(b.0)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    let deleted = sqlx::query("DELETE FROM projects")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1, "only tenant A's project");
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn every_tenant_table_is_under_forced_row_level_security() {
    let db = TestDb::create().await;
    let store = db.migrated_store().await;
    let a = seeded_tenant(&store, "tenant-a").await;
    seeded_tenant(&store, "tenant-b").await;

    let tables: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity
         FROM pg_class c JOIN information_schema.columns col
           ON col.table_name = c.relname AND col.column_name = 'tenant_id' AND col.table_schema = 'public'
         WHERE c.relkind = 'r' ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let names: Vec<&str> = tables.iter().map(|(n, ..)| n.as_str()).collect();
    for expected in [
        "api_keys",
        "projects",
        "role_bindings",
        "service_accounts",
        "users",
        "groups",
        "group_members",
        "access_tokens",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let mut tx = testing::tenant_tx(&store, &scope(a)).await.unwrap();
    for (table, enabled, forced) in &tables {
        assert!(*enabled && *forced, "{table} is not under forced RLS");
        let foreign: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE tenant_id IS DISTINCT FROM $1"
        )))
        .bind(a.0)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(foreign, 0, "{table} shows another tenant's rows");
    }
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn the_application_roles_cannot_bypass_rls() {
    let db = TestDb::create().await;
    let store = db.migrated_store().await;
    let roles: Vec<(String, bool, bool, bool)> = sqlx::query_as(
        "SELECT rolname::text, rolbypassrls, rolsuper, rolcanlogin FROM pg_roles
         WHERE rolname IN ('ditto_app', 'ditto_platform') ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(roles.len(), 2);
    for (name, bypass, superuser, login) in roles {
        assert!(!bypass && !superuser && !login, "{name} is too powerful");
    }
    // A transaction that switched role but named no tenant sees nothing.
    let mut tx = store.pool().begin().await.unwrap();
    seeded_tenant(&store, "tenant-a").await;
    sqlx::query("SET LOCAL ROLE ditto_app")
        .execute(&mut *tx)
        .await
        .unwrap();
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(visible, 0);
}

#[tokio::test]
async fn usage_inserts_are_idempotent_by_request_id() {
    let db = TestDb::create().await;
    let store = db.migrated_store().await;
    let tenant = seeded_tenant(&store, "tenant-a").await;
    let event = |id: uuid::Uuid| ditto_store::gateway::UsageEvent {
        request_id: id,
        tenant_id: tenant.0,
        project_id: uuid::Uuid::now_v7(),
        key_id: uuid::Uuid::now_v7(),
        user_id: None,
        service_account_id: None,
        endpoint: "chat/completions".into(),
        model: Some("tab\there\nand \\ quotes'".into()),
        backend_id: None,
        status: 200,
        attempts: 1,
        streamed: false,
        prompt_tokens: 3,
        completion_tokens: 4,
        cached_tokens: 0,
        latency_ms: 5,
        ttfb_ms: Some(2),
        error_kind: None,
        cost_pico: 1_500_000,
        created_at: chrono::Utc::now(),
    };
    let first: Vec<_> = (0..3).map(|_| event(uuid::Uuid::now_v7())).collect();
    store.insert_usage(&first).await.unwrap();
    // A retried batch that partly landed already: nothing doubles, nothing is lost.
    let mut retry = first.clone();
    retry.push(event(uuid::Uuid::now_v7()));
    store.insert_usage(&retry).await.unwrap();
    let (count, tokens): (i64, i64) = sqlx::query_as(
        "SELECT count(*), sum(prompt_tokens + completion_tokens)::bigint FROM usage_events",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((count, tokens), (4, 28));
    let model: String = sqlx::query_scalar("SELECT model FROM usage_events LIMIT 1")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(model, "tab\there\nand \\ quotes'");
    // The rollups count each event once, replays included, to the pico-dollar.
    let (requests, tokens, cost): (i64, i64, i64) = sqlx::query_as(
        "SELECT sum(requests)::bigint, sum(prompt_tokens + completion_tokens)::bigint,
                sum(cost_pico)::bigint FROM usage_rollups",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((requests, tokens, cost), (4, 28, 6_000_000));
}

#[tokio::test]
async fn an_audit_export_holds_no_transaction_while_its_reader_waits() {
    use futures_util::StreamExt;
    let db = TestDb::create().await;
    let store = db.migrated_store().await;
    let tenant = seeded_tenant(&store, "acme").await;
    let (_, stream) = store.export_audit_events(&scope(tenant)).await.unwrap();
    let mut stream = Box::pin(stream);
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.seq, 1);
    // The reader stalls here: no connection of the pool is left in a
    // transaction on its behalf.
    let idle: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(idle, 0, "an export held a transaction open");
    // Events recorded after the export began are the next export's.
    seeded_tenant_extra(&store, tenant).await;
    let rest: Vec<_> = stream.collect().await;
    let seqs: Vec<i64> = rest.into_iter().map(|e| e.unwrap().seq).collect();
    assert!(!seqs.is_empty());
    assert_eq!(seqs, (2..2 + seqs.len() as i64).collect::<Vec<_>>());
    let (_, again) = store.export_audit_events(&scope(tenant)).await.unwrap();
    let head = again.collect::<Vec<_>>().await.len() as i64;
    assert!(*seqs.last().unwrap() < head, "later events were left out");
}

/// Records one more audit event in `tenant` (a project).
async fn seeded_tenant_extra(store: &Store, tenant: TenantId) {
    store
        .create_project(
            &scope(tenant),
            &CreateProject {
                name: "later".into(),
                description: None,
                allowed_models: None,
            },
        )
        .await
        .unwrap();
}
