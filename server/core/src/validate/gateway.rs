//! Backends and model routes.

use ditto_types::api::*;

use super::*;
use crate::Result;

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
