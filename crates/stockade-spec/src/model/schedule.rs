//! A job template's schedule: `every = "10m"` or `cron = "*/10 * * * *"`
//! (in `timezone`, default UTC), with `overlap`, `catch_up` and `args`.
//!
//! A schedule is a sequence of *slots* (wall-clock instants in Unix
//! milliseconds). `every` slots are the multiples of the period since the Unix
//! epoch, so `every = "10m"` fires at :00, :10, :20 … UTC and a restart finds
//! the same grid again. `cron` slots are the expression's matches in the time
//! zone, with its DST rules (croner follows the OCPS rules: a time skipped by
//! a spring-forward fires once at the first valid moment, a repeated hour of a
//! fall-back fires once).

use std::time::Duration;

use croner::Cron;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use stockade_proto::UnixMillis;

/// A validated `every` or `cron` schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// When it fires.
    pub rule: ScheduleRule,
    /// What a slot does while an earlier scheduled run is still queued or running.
    pub overlap: Overlap,
    /// What slots missed while the daemon was down become.
    pub catch_up: CatchUp,
    /// Arguments appended to the command of each scheduled run.
    pub args: Vec<String>,
}

/// `every` or `cron`.
#[derive(Debug, Clone)]
pub enum ScheduleRule {
    /// `every = "10m"`: a fixed period, never zero.
    Every(Duration),
    /// `cron = "…"` in `timezone`.
    Cron {
        /// The expression as written.
        expr: String,
        /// The parsed expression.
        cron: Box<Cron>,
        /// The time zone's name as written (`UTC` when absent).
        tz_name: String,
        /// The time zone.
        tz: TimeZone,
    },
}

impl PartialEq for ScheduleRule {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ScheduleRule::Every(a), ScheduleRule::Every(b)) => a == b,
            (
                ScheduleRule::Cron { expr: a, tz_name: ta, .. },
                ScheduleRule::Cron { expr: b, tz_name: tb, .. },
            ) => a == b && ta == tb,
            _ => false,
        }
    }
}

/// `overlap`: a slot that comes while a run of the same schedule is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// Drop the slot (a `schedule_skipped` event says so).
    #[default]
    Skip,
    /// Keep one pending slot and submit it once the live runs are done.
    Queue,
    /// Submit anyway: runs may overlap (the pool still limits them).
    Allow,
}

impl Overlap {
    /// The spelling of each value in a spec.
    pub const NAMES: [&'static str; 3] = ["skip", "queue", "allow"];

    /// The value named `name`.
    pub fn from_name(name: &str) -> Option<Overlap> {
        match name {
            "skip" => Some(Overlap::Skip),
            "queue" => Some(Overlap::Queue),
            "allow" => Some(Overlap::Allow),
            _ => None,
        }
    }

    /// How a spec writes it.
    pub fn as_str(self) -> &'static str {
        Overlap::NAMES[self as usize]
    }
}

/// `catch_up`: slots missed while the daemon was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// Drop them; the next slot after the start fires as usual.
    #[default]
    None,
    /// Run once at start for all of them together.
    One,
}

impl CatchUp {
    /// The spelling of each value in a spec.
    pub const NAMES: [&'static str; 2] = ["none", "one"];

    /// The value named `name`.
    pub fn from_name(name: &str) -> Option<CatchUp> {
        match name {
            "none" => Some(CatchUp::None),
            "one" => Some(CatchUp::One),
            _ => None,
        }
    }

    /// How a spec writes it.
    pub fn as_str(self) -> &'static str {
        CatchUp::NAMES[self as usize]
    }
}

/// Why a `cron` or `timezone` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// croner refused the expression.
    #[error("{0}")]
    Cron(String),
    /// The expression parses but never matches (`0 0 31 2 *`).
    #[error("it never fires")]
    Never,
    /// No such IANA time zone.
    #[error("no time zone `{0}` in the time zone database")]
    TimeZone(String),
}

/// Parse a 5-field cron expression (an optional leading seconds field makes
/// it 6) and check that it fires at least once.
pub fn parse_cron(expr: &str, tz: &TimeZone) -> Result<Cron, ScheduleError> {
    let cron = croner::parser::CronParser::new()
        .parse(expr)
        .map_err(|e| ScheduleError::Cron(e.to_string()))?;
    let now = Timestamp::now().to_zoned(tz.clone());
    cron.find_next_occurrence(&now, false).map_err(|_| ScheduleError::Never)?;
    Ok(cron)
}

/// The IANA time zone `name` (`UTC`, `Europe/Berlin`).
pub fn parse_timezone(name: &str) -> Result<TimeZone, ScheduleError> {
    TimeZone::get(name).map_err(|_| ScheduleError::TimeZone(name.to_owned()))
}

impl Schedule {
    /// The first slot strictly after `after`; `None` if there is none (a cron
    /// expression whose matches ran out, or a time out of range).
    pub fn next_after(&self, after: UnixMillis) -> Option<UnixMillis> {
        match &self.rule {
            ScheduleRule::Every(period) => {
                let period = period_millis(*period);
                (after / period).checked_add(1)?.checked_mul(period)
            }
            ScheduleRule::Cron { cron, tz, .. } => {
                let at = zoned(after, tz)?;
                let next = cron.find_next_occurrence(&at, false).ok()?;
                u64::try_from(next.timestamp().as_millisecond()).ok()
            }
        }
    }

    /// The last slot at or before `at`, if any.
    pub fn last_at_or_before(&self, at: UnixMillis) -> Option<UnixMillis> {
        match &self.rule {
            ScheduleRule::Every(period) => {
                let period = period_millis(*period);
                Some(at / period * period)
            }
            ScheduleRule::Cron { cron, tz, .. } => {
                let at = zoned(at, tz)?;
                let previous = cron.find_previous_occurrence(&at, true).ok()?;
                u64::try_from(previous.timestamp().as_millisecond()).ok()
            }
        }
    }

    /// How `status` shows the rule: `every 10m`, `cron */10 * * * * (Europe/Berlin)`.
    pub fn describe(&self) -> String {
        match &self.rule {
            ScheduleRule::Every(period) => format!("every {}", crate::format_duration(*period)),
            ScheduleRule::Cron { expr, tz_name, .. } => format!("cron {expr} ({tz_name})"),
        }
    }
}

/// A period in milliseconds, at least 1 (a validated `every` is never zero).
fn period_millis(period: Duration) -> u64 {
    u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn zoned(at: UnixMillis, tz: &TimeZone) -> Option<jiff::Zoned> {
    let ms = i64::try_from(at).ok()?;
    Some(Timestamp::from_millisecond(ms).ok()?.to_zoned(tz.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(expr: &str, tz: &str) -> Schedule {
        let zone = parse_timezone(tz).unwrap();
        let parsed = parse_cron(expr, &zone).unwrap();
        Schedule {
            rule: ScheduleRule::Cron {
                expr: expr.into(),
                cron: Box::new(parsed),
                tz_name: tz.into(),
                tz: zone,
            },
            overlap: Overlap::Skip,
            catch_up: CatchUp::None,
            args: vec![],
        }
    }

    fn ms(text: &str) -> UnixMillis {
        text.parse::<Timestamp>().unwrap().as_millisecond() as u64
    }

    #[test]
    fn every_slots_are_multiples_of_the_period_since_the_epoch() {
        let every = Schedule {
            rule: ScheduleRule::Every(Duration::from_secs(600)),
            overlap: Overlap::Skip,
            catch_up: CatchUp::None,
            args: vec![],
        };
        let t = ms("2026-03-29T00:03:00Z");
        assert_eq!(every.next_after(t), Some(ms("2026-03-29T00:10:00Z")));
        assert_eq!(every.next_after(ms("2026-03-29T00:10:00Z")), Some(ms("2026-03-29T00:20:00Z")));
        assert_eq!(every.last_at_or_before(t), Some(ms("2026-03-29T00:00:00Z")));
        assert_eq!(every.describe(), "every 10m");
    }

    #[test]
    fn cron_in_berlin_follows_the_spring_forward() {
        // 2026-03-29: Berlin goes from 02:00 CET straight to 03:00 CEST.
        let daily = cron("30 2 * * *", "Europe/Berlin");
        // 28 March 02:30 CET = 01:30 UTC.
        assert_eq!(daily.next_after(ms("2026-03-28T00:00:00Z")), Some(ms("2026-03-28T01:30:00Z")));
        // 29 March has no 02:30: it fires once at the first valid moment,
        // 03:00 CEST = 01:00 UTC, never twice and never skipped.
        let spring = daily.next_after(ms("2026-03-28T01:30:00Z")).unwrap();
        assert_eq!(spring, ms("2026-03-29T01:00:00Z"));
        // 30 March 02:30 CEST = 00:30 UTC: an hour earlier in UTC than before the change.
        assert_eq!(daily.next_after(spring), Some(ms("2026-03-30T00:30:00Z")));
        assert_eq!(daily.describe(), "cron 30 2 * * * (Europe/Berlin)");
    }

    #[test]
    fn a_cron_that_never_fires_and_an_unknown_zone_are_refused() {
        let utc = parse_timezone("UTC").unwrap();
        assert_eq!(parse_cron("0 0 31 2 *", &utc).unwrap_err(), ScheduleError::Never);
        assert!(matches!(parse_cron("61 * * * *", &utc), Err(ScheduleError::Cron(_))));
        assert!(matches!(parse_timezone("Mars/Olympus"), Err(ScheduleError::TimeZone(_))));
    }
}
