//! Budget periods: calendar days, ISO weeks (from Monday) and months in the
//! tenant's time zone, or the whole lifetime.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
pub use chrono_tz::Tz;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
    Lifetime,
}

impl Period {
    pub const ALL: [Period; 4] = [
        Period::Daily,
        Period::Weekly,
        Period::Monthly,
        Period::Lifetime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Lifetime => "lifetime",
        }
    }

    /// The period containing `now`: its start, and its end (exclusive) unless lifetime.
    pub fn window(self, zone: Tz, now: DateTime<Utc>) -> Window {
        let today = now.with_timezone(&zone).date_naive();
        let (first, next) = match self {
            Period::Lifetime => {
                return Window {
                    start: DateTime::UNIX_EPOCH,
                    end: None,
                };
            }
            Period::Daily => (today, today + Days::new(1)),
            Period::Weekly => {
                let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
                (monday, monday + Days::new(7))
            }
            Period::Monthly => {
                let first = today.with_day(1).unwrap_or(today);
                (first, first + Months::new(1))
            }
        };
        Window {
            start: midnight(zone, first),
            end: Some(midnight(zone, next)),
        }
    }
}

/// `[start, end)`; `end` is `None` for a lifetime budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// The first instant of `day` in `zone`. Where a zone skips midnight (a DST
/// jump at 00:00), the day starts at the first local time that exists.
fn midnight(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    let mut local = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..4 {
        if let Some(at) = zone.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

impl From<ditto_types::api::BudgetPeriod> for Period {
    fn from(p: ditto_types::api::BudgetPeriod) -> Self {
        use ditto_types::api::BudgetPeriod as B;
        match p {
            B::Daily => Period::Daily,
            B::Weekly => Period::Weekly,
            B::Monthly => Period::Monthly,
            B::Lifetime => Period::Lifetime,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Period::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| "must be one of daily, weekly, monthly, lifetime".into())
    }
}

/// A time zone name from the IANA database, such as `Europe/Paris` or `UTC`.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("`{name}` is not an IANA time zone name (e.g. `Europe/Paris`, `UTC`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn daily_follows_the_tenant_clock() {
        let paris = parse_zone("Europe/Paris").unwrap();
        // 23:30 UTC on Nov 30 is already Dec 1 in Paris.
        let w = Period::Daily.window(paris, at("2026-11-30T23:30:00Z"));
        assert_eq!(w.start, at("2026-11-30T23:00:00Z"));
        assert_eq!(w.end, Some(at("2026-12-01T23:00:00Z")));
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let utc = parse_zone("UTC").unwrap();
        let thursday = at("2026-11-26T12:00:00Z");
        let w = Period::Weekly.window(utc, thursday);
        assert_eq!(w.start, at("2026-11-23T00:00:00Z"));
        assert_eq!(w.end, Some(at("2026-11-30T00:00:00Z")));
        let m = Period::Monthly.window(utc, at("2026-12-31T23:59:59Z"));
        assert_eq!(m.start, at("2026-12-01T00:00:00Z"));
        assert_eq!(m.end, Some(at("2027-01-01T00:00:00Z")));
        assert_eq!(Period::Lifetime.window(utc, thursday).end, None);
    }

    #[test]
    fn a_day_across_a_dst_change_has_its_real_length() {
        let ny = parse_zone("America/New_York").unwrap();
        let w = Period::Daily.window(ny, at("2026-03-08T12:00:00Z"));
        assert_eq!(w.end.unwrap() - w.start, chrono::Duration::hours(23));
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_the_first_real_time() {
        // Santiago skipped 00:00-01:00 on 2022-09-11.
        let santiago = parse_zone("America/Santiago").unwrap();
        let w = Period::Daily.window(santiago, at("2022-09-11T12:00:00Z"));
        assert_eq!(w.start, at("2022-09-11T04:00:00Z"));
    }

    #[test]
    fn names_are_checked() {
        assert!(parse_zone("Mars/Olympus").unwrap_err().contains("IANA"));
        assert_eq!("weekly".parse::<Period>(), Ok(Period::Weekly));
        assert!("hourly".parse::<Period>().is_err());
    }
}
