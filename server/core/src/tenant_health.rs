//! Tenant health for platform operators: which window a query may cover,
//! and when a tenant's error rate makes it degraded or failing.

use chrono::Duration;
use ditto_types::api::TenantHealthState;

use crate::{Error, Result};

/// The window when none is asked for.
pub const WINDOW_DEFAULT: Duration = Duration::hours(24);
/// Shorter windows hold too few requests to say anything.
pub const WINDOW_MIN: Duration = Duration::minutes(5);
/// Latency percentiles read every event of the window: longer windows are
/// for usage reports, which sum the roll-ups instead.
pub const WINDOW_MAX: Duration = Duration::days(7);

/// From this share of failed requests a tenant is degraded.
pub const DEGRADED_ERROR_RATE: f64 = 0.05;
/// From this share it is failing.
pub const FAILING_ERROR_RATE: f64 = 0.25;

/// Parses `90m`, `24h` or `7d` into a window within the bounds.
pub fn window(raw: Option<&str>) -> Result<Duration> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(WINDOW_DEFAULT);
    };
    let invalid = |message: &str| Error::invalid("window", "invalid_value", message);
    let split = raw.len().saturating_sub(1);
    let (number, unit) = (raw.get(..split).unwrap_or(""), raw.get(split..));
    let count: i64 = match number.parse() {
        Ok(n) if !number.starts_with('+') => n,
        _ => {
            return Err(invalid(
                "must be a whole number followed by m, h or d, like 24h",
            ));
        }
    };
    let window = match unit {
        Some("m") => Duration::try_minutes(count),
        Some("h") => Duration::try_hours(count),
        Some("d") => Duration::try_days(count),
        _ => {
            return Err(invalid(
                "must be a whole number followed by m, h or d, like 24h",
            ));
        }
    };
    match window {
        Some(w) if (WINDOW_MIN..=WINDOW_MAX).contains(&w) => Ok(w),
        _ => Err(Error::invalid(
            "window",
            "out_of_range",
            "must be from 5 minutes (5m) to 7 days (7d)",
        )),
    }
}

/// The share of failed requests, 0 without requests.
pub fn error_rate(requests: u64, errors: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
    }
}

/// How a tenant fared: idle without requests, then by its error rate.
pub fn state(requests: u64, errors: u64) -> TenantHealthState {
    let rate = error_rate(requests, errors);
    if requests == 0 {
        TenantHealthState::Idle
    } else if rate >= FAILING_ERROR_RATE {
        TenantHealthState::Failing
    } else if rate >= DEGRADED_ERROR_RATE {
        TenantHealthState::Degraded
    } else {
        TenantHealthState::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_minutes_hours_or_days_within_bounds() {
        assert_eq!(window(None).unwrap(), Duration::hours(24));
        assert_eq!(window(Some("90m")).unwrap(), Duration::minutes(90));
        assert_eq!(window(Some("1h")).unwrap(), Duration::hours(1));
        assert_eq!(window(Some("7d")).unwrap(), Duration::days(7));
        assert_eq!(window(Some("5m")).unwrap(), Duration::minutes(5));
        for bad in [
            "", "h", "24", "24x", "+1h", "1.5h", "h24", "24 h", "²h", "1²",
        ] {
            let Err(Error::Validation(errors)) = window(Some(bad)) else {
                panic!("{bad:?} was accepted");
            };
            assert_eq!(errors[0].code, "invalid_value", "{bad:?}");
        }
        for far in ["4m", "0h", "-1h", "8d", "169h", "99999999999999999d"] {
            let Err(Error::Validation(errors)) = window(Some(far)) else {
                panic!("{far:?} was accepted");
            };
            assert_eq!(errors[0].field, "window");
        }
    }

    #[test]
    fn the_error_rate_decides_the_state() {
        assert_eq!(state(0, 0), TenantHealthState::Idle);
        assert_eq!(state(100, 4), TenantHealthState::Healthy);
        assert_eq!(state(100, 5), TenantHealthState::Degraded);
        assert_eq!(state(100, 24), TenantHealthState::Degraded);
        assert_eq!(state(100, 25), TenantHealthState::Failing);
        assert_eq!(state(1, 1), TenantHealthState::Failing);
        assert_eq!(error_rate(0, 0), 0.0);
        assert_eq!(error_rate(8, 2), 0.25);
    }
}
