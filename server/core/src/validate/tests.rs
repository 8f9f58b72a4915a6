use ditto_types::api::*;

use super::*;

fn fields(r: Result<()>) -> Vec<String> {
    match r {
        Err(Error::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected validation error, got {other:?}"),
    }
}

#[test]
fn slugs() {
    let ok = |s: &str| {
        create_tenant(&CreateTenant {
            slug: s.into(),
            name: "x".into(),
            time_zone: None,
        })
    };
    assert!(ok("acme").is_ok());
    assert!(ok("acme-2").is_ok());
    for bad in [
        "ac",
        "Acme",
        "1acme",
        "acme-",
        "ac me",
        "api",
        &"a".repeat(64),
    ] {
        assert_eq!(fields(ok(bad)), ["/slug"], "{bad}");
    }
}

#[test]
fn reports_every_invalid_field() {
    let body = CreateUser {
        email: "nope".into(),
        display_name: Some("".into()),
        external_id: Some("x".repeat(300)),
    };
    assert_eq!(
        fields(create_user(&body)),
        ["/email", "/display_name", "/external_id"]
    );
}

#[test]
fn emails() {
    let mut c = Checker::default();
    for good in ["a@b.co", "first.last+tag@sub.example.com"] {
        c.email("/e", good);
    }
    assert!(c.finish().is_ok());
    for bad in ["a@b", "@b.co", "a b@c.co", "a@.co", "a@b.co."] {
        let mut c = Checker::default();
        c.email("/e", bad);
        assert!(c.finish().is_err(), "{bad}");
    }
}

#[test]
fn time_zones() {
    let tenant = |tz: &str| CreateTenant {
        slug: "acme".into(),
        name: "Acme".into(),
        time_zone: Some(tz.into()),
    };
    assert!(create_tenant(&tenant("Europe/Paris")).is_ok());
    assert_eq!(fields(create_tenant(&tenant("Mars/Base"))), ["/time_zone"]);
}

#[test]
fn rate_limits_name_their_scope_and_limit_something() {
    let limit = CreateRateLimit {
        scope: LimitScope::Project,
        scope_id: None,
        model: Some("gpt 4".into()),
        rpm: Some(0),
        tpm: Some(TPM_MAX + 1),
        max_concurrent: None,
    };
    assert_eq!(
        fields(create_rate_limit(&limit)),
        ["/scope_id", "/model", "/rpm", "/tpm"]
    );
    let empty = CreateRateLimit {
        scope: LimitScope::Tenant,
        scope_id: None,
        model: None,
        rpm: None,
        tpm: None,
        max_concurrent: None,
    };
    assert_eq!(fields(create_rate_limit(&empty)), ["/"]);
    let tenant_with_id = CreateRateLimit {
        scope_id: Some(uuid::Uuid::now_v7()),
        rpm: Some(60),
        ..empty
    };
    assert_eq!(fields(create_rate_limit(&tenant_with_id)), ["/scope_id"]);
}

#[test]
fn budgets_are_exact_and_bounded() {
    let budget = |cost: &str| CreateBudget {
        scope: LimitScope::Tenant,
        scope_id: None,
        period: BudgetPeriod::Monthly,
        max_tokens: None,
        max_cost_usd: Some(cost.into()),
        soft_limit_percent: Some(80),
    };
    assert_eq!(
        create_budget(&budget("100.00")).unwrap(),
        Some(100 * crate::money::PICO_PER_USD)
    );
    for bad in ["0", "-5", "abc", "9000000.01", "0.0000000000001"] {
        let r = create_budget(&budget(bad)).map(|_| ());
        assert_eq!(fields(r), ["/max_cost_usd"], "{bad}");
    }
    let nothing = CreateBudget {
        max_cost_usd: None,
        soft_limit_percent: Some(100),
        ..budget("1")
    };
    assert_eq!(
        fields(create_budget(&nothing).map(|_| ())),
        ["/soft_limit_percent"]
    );
}

#[test]
fn usage_queries_widen_to_buckets() {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let params = |from: &str, to: &str, group_by: &str| UsageParams {
        from: Some(at(from)),
        to: Some(at(to)),
        group_by: Some(group_by.into()),
        interval: UsageInterval::Day,
    };
    let q = usage_query(
        &params(
            "2026-11-01T10:07:00Z",
            "2026-11-02T10:30:00Z",
            "model, key,model",
        ),
        false,
    )
    .unwrap();
    assert_eq!(q.from, at("2026-11-01T10:00:00Z"));
    assert_eq!(q.to, at("2026-11-02T10:30:00Z"));
    assert_eq!(q.group_by, [UsageDimension::Model, UsageDimension::Key]);
    let p = params("2026-11-01T00:00:00Z", "2026-11-01T00:00:01Z", "");
    assert_eq!(
        usage_query(&p, false).unwrap().to,
        at("2026-11-01T00:15:00Z")
    );

    let r = usage_query(
        &params("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", ""),
        false,
    );
    assert_eq!(fields(r.map(|_| ())), ["to"]);
    let r = usage_query(
        &params("2025-01-01T00:00:00Z", "2026-11-01T00:00:00Z", ""),
        false,
    );
    assert_eq!(fields(r.map(|_| ())), ["to"]);
    let p = params("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "tenant");
    assert_eq!(fields(usage_query(&p, false).map(|_| ())), ["group_by"]);
    assert!(usage_query(&p, true).is_ok());
    let p = params("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "colour");
    assert_eq!(fields(usage_query(&p, true).map(|_| ())), ["group_by"]);
    let missing = UsageParams {
        from: None,
        to: None,
        group_by: None,
        interval: UsageInterval::None,
    };
    assert_eq!(
        fields(usage_query(&missing, true).map(|_| ())),
        ["from", "to"]
    );
}

#[test]
fn page_limits() {
    assert_eq!(page_limit(None).unwrap(), PAGE_DEFAULT);
    assert_eq!(page_limit(Some(200)).unwrap(), 200);
    assert!(page_limit(Some(0)).is_err());
    assert!(page_limit(Some(201)).is_err());
}
