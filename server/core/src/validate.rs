//! What valid input looks like. Each `check_*` collects every problem of a
//! request body, so a client can fix them all in one go.

use chrono::{DateTime, Utc};
use ditto_types::api::*;
use ditto_types::problem::FieldError;

use crate::{Error, Result};

/// Collects field errors.
#[derive(Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn fail(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        });
    }

    /// A display string: trimmed length within bounds, no control characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let len = value.trim().chars().count();
        if len < min {
            if min == 1 {
                self.fail(field, "required", "must not be empty");
            } else {
                self.fail(
                    field,
                    "too_short",
                    format!("must have at least {min} characters"),
                );
            }
        } else if value.chars().count() > max {
            self.fail(
                field,
                "too_long",
                format!("must have at most {max} characters"),
            );
        } else if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.fail(
                field,
                "invalid_characters",
                "must not contain control characters",
            );
        }
    }

    pub fn opt_text(&mut self, field: &str, value: Option<&str>, min: usize, max: usize) {
        if let Some(value) = value {
            self.text(field, value, min, max);
        }
    }

    pub fn slug(&mut self, field: &str, value: &str) {
        let ok_shape = (3..=63).contains(&value.len())
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && !value.ends_with('-')
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok_shape {
            self.fail(
                field,
                "invalid_format",
                "must be 3–63 characters of lowercase letters, digits and '-', \
                 starting with a letter and not ending with '-'",
            );
        } else if RESERVED_SLUGS.contains(&value) {
            self.fail(field, "reserved", format!("'{value}' is reserved"));
        }
    }

    pub fn email(&mut self, field: &str, value: &str) {
        let valid = value.len() <= 254
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            })
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if !valid {
            self.fail(
                field,
                "invalid_format",
                "must be an email address like name@example.com",
            );
        }
    }

    /// A model name: 1–200 characters, no spaces; `*` only where patterns are allowed.
    pub fn model(&mut self, field: &str, value: &str, allow_pattern: bool) {
        if value.is_empty() || value.chars().count() > 200 {
            self.fail(field, "invalid_length", "must have 1–200 characters");
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.fail(
                field,
                "invalid_characters",
                "must not contain spaces or control characters",
            );
        } else if !allow_pattern && value.contains('*') {
            self.fail(
                field,
                "invalid_characters",
                "must be a model name, not a pattern",
            );
        }
    }

    /// An allow-list of models (names or `*` patterns).
    pub fn models(&mut self, field: &str, values: Option<&[String]>) {
        let Some(values) = values else { return };
        if values.len() > MODELS_MAX {
            self.fail(
                field,
                "too_many",
                format!("must have at most {MODELS_MAX} entries"),
            );
            return;
        }
        for (i, value) in values.iter().enumerate() {
            self.model(&format!("{field}/{i}"), value, true);
        }
    }

    /// An upstream API root: http(s), a host, no credentials, query or fragment.
    pub fn base_url(&mut self, field: &str, value: &str) {
        match url::Url::parse(value) {
            Ok(u) if !matches!(u.scheme(), "http" | "https") || u.host().is_none() => self.fail(
                field,
                "invalid_format",
                "must be an http:// or https:// URL with a host",
            ),
            Ok(u) if !u.username().is_empty() || u.password().is_some() => self.fail(
                field,
                "credentials_in_url",
                "must not contain credentials; put the API key in `credentials`",
            ),
            Ok(u) if u.query().is_some() || u.fragment().is_some() => self.fail(
                field,
                "invalid_format",
                "must not have a query string or fragment",
            ),
            Ok(_) if value.len() > 2000 => {
                self.fail(field, "too_long", "must have at most 2000 characters")
            }
            Ok(_) => {}
            Err(e) => self.fail(field, "invalid_format", format!("is not a URL: {e}")),
        }
    }

    pub fn range(&mut self, field: &str, value: Option<u32>, min: u32, max: u32) {
        if value.is_some_and(|v| !(min..=max).contains(&v)) {
            self.fail(
                field,
                "out_of_range",
                format!("must be between {min} and {max}"),
            );
        }
    }

    pub fn future(&mut self, field: &str, value: Option<DateTime<Utc>>, now: DateTime<Utc>) {
        if value.is_some_and(|at| at <= now) {
            self.fail(field, "in_the_past", "must be in the future");
        }
    }

    pub fn range_u64(&mut self, field: &str, value: Option<u64>, min: u64, max: u64) {
        if value.is_some_and(|v| !(min..=max).contains(&v)) {
            self.fail(
                field,
                "out_of_range",
                format!("must be between {min} and {max}"),
            );
        }
    }

    /// An IANA time zone name.
    pub fn time_zone(&mut self, field: &str, value: Option<&str>) {
        if let Some(Err(message)) = value.map(crate::period::parse_zone) {
            self.fail(field, "invalid_value", message);
        }
    }

    /// `flag` and `other` cannot both be given.
    pub fn exclusive(&mut self, field: &str, flag: bool, other: bool, other_name: &str) {
        if flag && other {
            self.fail(
                field,
                "conflicting_fields",
                format!("cannot be combined with `{other_name}`"),
            );
        }
    }

    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// Slugs that would collide with routes or confuse people.
const RESERVED_SLUGS: &[&str] = &[
    "api", "admin", "www", "platform", "ditto", "static", "assets",
];

const NAME_MAX: usize = 100;
const MODELS_MAX: usize = 100;
const ROUTE_TARGETS_MAX: usize = 16;
const DESCRIPTION_MAX: usize = 1000;
const EXTERNAL_ID_MAX: usize = 255;

pub fn create_tenant(body: &CreateTenant) -> Result<()> {
    let mut c = Checker::default();
    c.slug("/slug", &body.slug);
    c.text("/name", &body.name, 1, 200);
    c.time_zone("/time_zone", body.time_zone.as_deref());
    c.finish()
}

pub fn update_tenant(body: &UpdateTenant) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, 200);
    c.time_zone("/time_zone", body.time_zone.as_deref());
    c.finish()
}

pub fn create_project(body: &CreateProject) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.finish()
}

pub fn update_project(body: &UpdateProject) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.finish()
}

pub fn create_user(body: &CreateUser) -> Result<()> {
    let mut c = Checker::default();
    c.email("/email", &body.email);
    c.opt_text("/display_name", body.display_name.as_deref(), 1, 200);
    c.opt_text(
        "/external_id",
        body.external_id.as_deref(),
        1,
        EXTERNAL_ID_MAX,
    );
    c.finish()
}

pub fn create_group(body: &CreateGroup) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, 200);
    c.opt_text(
        "/external_id",
        body.external_id.as_deref(),
        1,
        EXTERNAL_ID_MAX,
    );
    c.finish()
}

pub fn update_group(body: &UpdateGroup) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, 200);
    c.opt_text(
        "/external_id",
        body.external_id.as_deref(),
        1,
        EXTERNAL_ID_MAX,
    );
    c.finish()
}

pub fn update_user(body: &UpdateUser) -> Result<()> {
    let mut c = Checker::default();
    if let Some(email) = &body.email {
        c.email("/email", email);
    }
    c.opt_text("/display_name", body.display_name.as_deref(), 1, 200);
    c.opt_text(
        "/external_id",
        body.external_id.as_deref(),
        1,
        EXTERNAL_ID_MAX,
    );
    c.finish()
}

pub fn create_service_account(body: &CreateServiceAccount) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    if let Some(role) = &body.role {
        c.role_name("/role", role);
    }
    c.finish()
}

// ---------------------------------------------------------------- roles

impl Checker {
    /// A role's name: lowercase letters, digits, `_` and `-`, starting with
    /// a letter, at most 63 characters.
    pub fn role_name(&mut self, field: &str, name: &str) {
        let ok = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok {
            self.fail(
                field,
                "invalid_value",
                "must be 1–63 lowercase letters, digits, `_` or `-`, starting with a letter",
            );
        }
    }

    /// Permission names a tenant role may carry.
    fn tenant_permissions(&mut self, field: &str, names: &[String]) {
        if names.is_empty() {
            self.fail(field, "required", "must name at least one permission");
        }
        for (i, name) in names.iter().enumerate() {
            match crate::Permission::parse(name) {
                None => self.fail(
                    &format!("{field}/{i}"),
                    "unknown_permission",
                    format!("`{name}` is not in the permission catalogue"),
                ),
                Some(p) if p.is_platform_only() => self.fail(
                    &format!("{field}/{i}"),
                    "platform_only",
                    format!("`{name}` is for platform principals only"),
                ),
                Some(_) => {}
            }
        }
    }
}

pub fn create_role(body: &CreateRole) -> Result<()> {
    let mut c = Checker::default();
    c.role_name("/name", &body.name);
    if crate::rbac::is_builtin(&body.name) {
        c.fail("/name", "reserved", "is the name of a built-in role");
    }
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.tenant_permissions("/permissions", &body.permissions);
    c.finish()
}

pub fn update_role(body: &UpdateRole) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    if let Some(p) = &body.permissions {
        c.tenant_permissions("/permissions", p);
    }
    c.finish()
}

pub fn create_role_binding(body: &CreateRoleBinding) -> Result<()> {
    let mut c = Checker::default();
    c.role_name("/role", &body.role);
    c.finish()
}

pub fn update_service_account(body: &UpdateServiceAccount) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, NAME_MAX);
    c.opt_text(
        "/description",
        body.description.as_deref(),
        0,
        DESCRIPTION_MAX,
    );
    c.finish()
}

pub fn create_access_token(body: &CreateAccessToken, now: DateTime<Utc>) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.future("/expires_at", body.expires_at, now);
    c.finish()
}

pub fn create_api_key(body: &CreateApiKey, now: DateTime<Utc>) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.models("/allowed_models", body.allowed_models.as_deref());
    c.future("/expires_at", body.expires_at, now);
    if body.owner_user_id.is_some() && body.owner_service_account_id.is_some() {
        c.fail(
            "/owner_service_account_id",
            "conflicting_owner",
            "a key has at most one owner: give owner_user_id or owner_service_account_id, not both",
        );
    }
    c.finish()
}

pub fn update_api_key(body: &UpdateApiKey) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, NAME_MAX);
    c.models("/allowed_models", body.allowed_models.as_deref());
    c.exclusive(
        "/clear_allowed_models",
        body.clear_allowed_models,
        body.allowed_models.is_some(),
        "allowed_models",
    );
    c.finish()
}

const CREDENTIALS_MAX: usize = 4096;

fn credentials(c: &mut Checker, value: Option<&str>) {
    if let Some(value) = value {
        if value.is_empty() || value.len() > CREDENTIALS_MAX {
            c.fail(
                "/credentials",
                "invalid_length",
                format!("must have 1–{CREDENTIALS_MAX} characters"),
            );
        } else if value
            .chars()
            .any(|ch| ch.is_whitespace() || ch.is_control())
        {
            c.fail(
                "/credentials",
                "invalid_characters",
                "must not contain spaces or control characters",
            );
        }
    }
}

pub fn create_backend(body: &CreateBackend) -> Result<()> {
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, NAME_MAX);
    c.base_url("/base_url", &body.base_url);
    credentials(&mut c, body.credentials.as_deref());
    c.range("/timeout_ms", body.timeout_ms, 100, 600_000);
    c.range("/connect_timeout_ms", body.connect_timeout_ms, 50, 60_000);
    c.range("/max_in_flight", body.max_in_flight, 1, 100_000);
    c.finish()
}

pub fn update_backend(body: &UpdateBackend) -> Result<()> {
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, NAME_MAX);
    if let Some(url) = &body.base_url {
        c.base_url("/base_url", url);
    }
    credentials(&mut c, body.credentials.as_deref());
    c.exclusive(
        "/clear_credentials",
        body.clear_credentials,
        body.credentials.is_some(),
        "credentials",
    );
    c.range("/timeout_ms", body.timeout_ms, 100, 600_000);
    c.range("/connect_timeout_ms", body.connect_timeout_ms, 50, 60_000);
    c.range("/max_in_flight", body.max_in_flight, 1, 100_000);
    c.exclusive(
        "/clear_max_in_flight",
        body.clear_max_in_flight,
        body.max_in_flight.is_some(),
        "max_in_flight",
    );
    c.finish()
}

fn route_parts(
    c: &mut Checker,
    model: Option<&str>,
    aliases: Option<&[String]>,
    targets: Option<&[RouteTarget]>,
    fallbacks: Option<&[RouteFallback]>,
) {
    if let Some(model) = model {
        c.model("/model", model, true);
    }
    if let Some(aliases) = aliases {
        if aliases.len() > 32 {
            c.fail("/aliases", "too_many", "must have at most 32 entries");
        }
        for (i, alias) in aliases.iter().enumerate() {
            c.model(&format!("/aliases/{i}"), alias, false);
            if aliases[..i].contains(alias) || Some(alias.as_str()) == model {
                c.fail(&format!("/aliases/{i}"), "duplicate", "is listed twice");
            }
        }
    }
    if let Some(targets) = targets {
        if targets.is_empty() || targets.len() > ROUTE_TARGETS_MAX {
            c.fail(
                "/targets",
                "invalid_length",
                format!("must have 1–{ROUTE_TARGETS_MAX} entries"),
            );
        } else if targets.iter().all(|t| t.weight == 0) {
            c.fail(
                "/targets",
                "no_weight",
                "at least one target needs a weight above 0",
            );
        }
        for (i, target) in targets.iter().enumerate() {
            c.range(
                &format!("/targets/{i}/weight"),
                Some(target.weight),
                0,
                10_000,
            );
            if let Some(m) = &target.upstream_model {
                c.model(&format!("/targets/{i}/upstream_model"), m, false);
            }
        }
    }
    if let Some(fallbacks) = fallbacks {
        if fallbacks.len() > ROUTE_TARGETS_MAX {
            c.fail(
                "/fallbacks",
                "too_many",
                format!("must have at most {ROUTE_TARGETS_MAX} entries"),
            );
        }
        for (i, fallback) in fallbacks.iter().enumerate() {
            if let Some(m) = &fallback.upstream_model {
                c.model(&format!("/fallbacks/{i}/upstream_model"), m, false);
            }
        }
    }
}

pub fn create_route(body: &CreateRoute) -> Result<()> {
    let mut c = Checker::default();
    route_parts(
        &mut c,
        Some(&body.model),
        Some(&body.aliases),
        Some(&body.targets),
        Some(&body.fallbacks),
    );
    c.finish()
}

pub fn update_route(body: &UpdateRoute) -> Result<()> {
    let mut c = Checker::default();
    route_parts(
        &mut c,
        body.model.as_deref(),
        body.aliases.as_deref(),
        body.targets.as_deref(),
        body.fallbacks.as_deref(),
    );
    c.finish()
}

// ---------------------------------------------------------------- limits and budgets

pub const RPM_MAX: u32 = 100_000_000;
pub const TPM_MAX: u64 = 100_000_000_000;
pub const MAX_CONCURRENT_MAX: u32 = 1_000_000;
pub const BUDGET_TOKENS_MAX: u64 = 1_000_000_000_000_000;
/// The largest budget, in USD; in pico-USD it still fits an `i64`.
pub const BUDGET_USD_MAX: i64 = 9_000_000;
const _: () = assert!(BUDGET_USD_MAX < i64::MAX / crate::money::PICO_PER_USD);

/// A scope names its project, user or key, and only then.
fn limit_scope(c: &mut Checker, scope: LimitScope, scope_id: Option<uuid::Uuid>) {
    match (scope, scope_id) {
        (LimitScope::Tenant, Some(_)) => c.fail(
            "/scope_id",
            "not_allowed",
            "must be absent (or null) for the tenant scope",
        ),
        (LimitScope::Tenant, None) | (_, Some(_)) => {}
        (other, None) => c.fail(
            "/scope_id",
            "required",
            format!("the id of the {} this applies to", other.as_str()),
        ),
    }
}

fn rate_limit_values(
    c: &mut Checker,
    rpm: Option<u32>,
    tpm: Option<u64>,
    max_concurrent: Option<u32>,
) {
    c.range("/rpm", rpm, 1, RPM_MAX);
    c.range_u64("/tpm", tpm, 1, TPM_MAX);
    c.range("/max_concurrent", max_concurrent, 1, MAX_CONCURRENT_MAX);
}

/// A rate limit limits something: at least one of its three limits is set.
pub fn rate_limit_has_a_limit(
    rpm: Option<u32>,
    tpm: Option<u64>,
    max_concurrent: Option<u32>,
) -> Result<()> {
    if rpm.is_none() && tpm.is_none() && max_concurrent.is_none() {
        return Err(Error::invalid(
            "/",
            "required",
            "at least one of `rpm`, `tpm` and `max_concurrent` is required",
        ));
    }
    Ok(())
}

pub fn create_rate_limit(body: &CreateRateLimit) -> Result<()> {
    let mut c = Checker::default();
    limit_scope(&mut c, body.scope, body.scope_id);
    if let Some(model) = &body.model {
        c.model("/model", model, false);
    }
    rate_limit_values(&mut c, body.rpm, body.tpm, body.max_concurrent);
    c.finish()?;
    rate_limit_has_a_limit(body.rpm, body.tpm, body.max_concurrent)
}

pub fn update_rate_limit(body: &UpdateRateLimit) -> Result<()> {
    let mut c = Checker::default();
    if let Some(model) = &body.model {
        c.model("/model", model, false);
    }
    c.exclusive(
        "/clear_model",
        body.clear_model,
        body.model.is_some(),
        "model",
    );
    rate_limit_values(&mut c, body.rpm, body.tpm, body.max_concurrent);
    c.exclusive("/clear_rpm", body.clear_rpm, body.rpm.is_some(), "rpm");
    c.exclusive("/clear_tpm", body.clear_tpm, body.tpm.is_some(), "tpm");
    c.exclusive(
        "/clear_max_concurrent",
        body.clear_max_concurrent,
        body.max_concurrent.is_some(),
        "max_concurrent",
    );
    c.finish()
}

/// A budget amount in pico-USD: positive, at most [`BUDGET_USD_MAX`], exact.
fn budget_cost(c: &mut Checker, text: Option<&str>) -> Option<i64> {
    let text = text?;
    match crate::money::parse_usd(text) {
        Ok(0) => c.fail("/max_cost_usd", "out_of_range", "must be more than 0"),
        Ok(pico) if pico > BUDGET_USD_MAX * crate::money::PICO_PER_USD => c.fail(
            "/max_cost_usd",
            "out_of_range",
            format!("must be at most {BUDGET_USD_MAX}"),
        ),
        Ok(pico) => return Some(pico),
        Err(message) => c.fail("/max_cost_usd", "invalid_amount", message),
    }
    None
}

fn budget_values(c: &mut Checker, max_tokens: Option<u64>, soft_limit_percent: Option<u8>) {
    c.range_u64("/max_tokens", max_tokens, 1, BUDGET_TOKENS_MAX);
    c.range(
        "/soft_limit_percent",
        soft_limit_percent.map(u32::from),
        1,
        99,
    );
}

/// A budget caps something: tokens, money or both.
pub fn budget_has_a_cap(max_tokens: Option<u64>, max_cost_pico: Option<i64>) -> Result<()> {
    if max_tokens.is_none() && max_cost_pico.is_none() {
        return Err(Error::invalid(
            "/",
            "required",
            "at least one of `max_tokens` and `max_cost_usd` is required",
        ));
    }
    Ok(())
}

/// Checks a new budget; returns its maximum cost in pico-USD.
pub fn create_budget(body: &CreateBudget) -> Result<Option<i64>> {
    let mut c = Checker::default();
    limit_scope(&mut c, body.scope, body.scope_id);
    budget_values(&mut c, body.max_tokens, body.soft_limit_percent);
    let max_cost_pico = budget_cost(&mut c, body.max_cost_usd.as_deref());
    c.finish()?;
    budget_has_a_cap(body.max_tokens, max_cost_pico)?;
    Ok(max_cost_pico)
}

/// Checks a budget change; returns the new maximum cost in pico-USD, if one is set.
pub fn update_budget(body: &UpdateBudget) -> Result<Option<i64>> {
    let mut c = Checker::default();
    budget_values(&mut c, body.max_tokens, body.soft_limit_percent);
    let max_cost_pico = budget_cost(&mut c, body.max_cost_usd.as_deref());
    c.exclusive(
        "/clear_max_tokens",
        body.clear_max_tokens,
        body.max_tokens.is_some(),
        "max_tokens",
    );
    c.exclusive(
        "/clear_max_cost_usd",
        body.clear_max_cost_usd,
        body.max_cost_usd.is_some(),
        "max_cost_usd",
    );
    c.exclusive(
        "/clear_soft_limit_percent",
        body.clear_soft_limit_percent,
        body.soft_limit_percent.is_some(),
        "soft_limit_percent",
    );
    c.finish()?;
    Ok(max_cost_pico)
}

// ---------------------------------------------------------------- usage

/// Usage is kept in buckets of this many seconds.
pub const USAGE_BUCKET_SECS: i64 = 15 * 60;
/// The longest range one usage query may cover.
pub const USAGE_MAX_DAYS: i64 = 400;
/// The most rows one usage query returns.
pub const USAGE_MAX_ROWS: usize = 10_000;

/// A checked usage query: whole buckets, known dimensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// In the order asked, without repeats.
    pub group_by: Vec<UsageDimension>,
    pub interval: UsageInterval,
}

fn bucket_floor(at: DateTime<Utc>) -> DateTime<Utc> {
    let secs = at.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(USAGE_BUCKET_SECS), 0).unwrap_or(at)
}

fn bucket_ceil(at: DateTime<Utc>) -> DateTime<Utc> {
    let floor = bucket_floor(at);
    if floor == at {
        at
    } else {
        floor + chrono::Duration::seconds(USAGE_BUCKET_SECS)
    }
}

/// Checks a usage query. `across_tenants` allows grouping by tenant.
pub fn usage_query(params: &UsageParams, across_tenants: bool) -> Result<UsageQuery> {
    let mut c = Checker::default();
    let mut group_by = Vec::new();
    for name in params.group_by.as_deref().unwrap_or("").split(',') {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        match UsageDimension::ALL.into_iter().find(|d| d.as_str() == name) {
            Some(UsageDimension::Tenant) if !across_tenants => c.fail(
                "group_by",
                "invalid_value",
                "`tenant` is only for usage across tenants (/api/v1/usage)",
            ),
            Some(d) if !group_by.contains(&d) => group_by.push(d),
            Some(_) => {}
            None => {
                let allowed: Vec<_> = UsageDimension::ALL
                    .into_iter()
                    .filter(|d| across_tenants || *d != UsageDimension::Tenant)
                    .map(UsageDimension::as_str)
                    .collect();
                c.fail(
                    "group_by",
                    "invalid_value",
                    format!(
                        "`{}` is not a dimension; use a comma-separated list of {}",
                        name.chars().take(50).collect::<String>(),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }
    // Optional to the extractor so that they are checked after authorization.
    let (Some(raw_from), Some(raw_to)) = (params.from, params.to) else {
        if params.from.is_none() {
            c.fail("from", "required", "the start of the range (RFC 3339)");
        }
        if params.to.is_none() {
            c.fail("to", "required", "the end of the range (RFC 3339)");
        }
        return Err(Error::Validation(c.errors));
    };
    let (from, to) = (bucket_floor(raw_from), bucket_ceil(raw_to));
    if raw_from >= raw_to {
        c.fail("to", "invalid_range", "must be after `from`");
    } else if to - from > chrono::Duration::days(USAGE_MAX_DAYS) {
        c.fail(
            "to",
            "invalid_range",
            format!("the range must be at most {USAGE_MAX_DAYS} days"),
        );
    }
    c.finish()?;
    Ok(UsageQuery {
        from,
        to,
        group_by,
        interval: params.interval,
    })
}

/// Default and maximum page sizes of list endpoints.
pub const PAGE_DEFAULT: i64 = 50;
pub const PAGE_MAX: i64 = 200;

pub fn page_limit(limit: Option<i64>) -> Result<i64> {
    match limit {
        None => Ok(PAGE_DEFAULT),
        Some(n) if (1..=PAGE_MAX).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            "limit",
            "out_of_range",
            format!("must be between 1 and {PAGE_MAX}"),
        )),
    }
}

/// Free-text search terms are bounded so they cannot become expensive scans.
pub fn search_term(q: Option<&str>) -> Result<Option<String>> {
    match q.map(str::trim) {
        None | Some("") => Ok(None),
        Some(q) if q.chars().count() > 100 => Err(Error::invalid(
            "q",
            "too_long",
            "must have at most 100 characters",
        )),
        Some(q) => Ok(Some(q.to_owned())),
    }
}

#[cfg(test)]
mod tests {
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
}
