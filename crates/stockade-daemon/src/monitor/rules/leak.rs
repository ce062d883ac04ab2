//! [`LeakWatch`]: the leak detector. Per service replica, a [`Trend`] of its
//! memory; `memory_leak` fires when the trend is rising, spans at least
//! `min_span`, and at its slope the usage reaches the replica's memory limit
//! within the horizon:
//!
//! > memory of `worker` grows 40 MiB/h; its 2 GiB limit is ~3 h away
//!
//! It resolves when the trend flattens (or the limit moves beyond twice the
//! horizon) and when the replica restarts: a new run starts a new trend, so a
//! restart is never read as memory going down.

use super::Change;
use super::trend::Trend;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use stockade_proto::RunId;

/// The alert name of the leak detector.
pub(crate) const LEAK_ALERT: &str = "memory_leak";

/// One replica's memory at one sample.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MemorySample {
    /// `worker[0]`.
    pub unit: String,
    /// How messages name it: `worker`, or `worker[1]` when it has siblings.
    pub name: String,
    /// The live run.
    pub run: RunId,
    /// `memory_current`, bytes; `None` when it could not be read this time
    /// (the run is still live, so its trend is kept).
    pub bytes: Option<u64>,
    /// The box's memory limit, bytes.
    pub limit: u64,
}

#[derive(Debug)]
struct Watched {
    run: RunId,
    name: String,
    trend: Trend,
    firing: bool,
}

/// Memory trends of every service replica.
#[derive(Debug)]
pub(crate) struct LeakWatch {
    horizon: Duration,
    min_span: Duration,
    replicas: BTreeMap<String, Watched>,
}

impl LeakWatch {
    pub(crate) fn new(horizon: Duration, min_span: Duration) -> LeakWatch {
        LeakWatch { horizon, min_span, replicas: BTreeMap::new() }
    }

    /// Judge trends by `horizon` and `min_span` from now on (a reload);
    /// every trend is kept.
    pub(crate) fn set_bounds(&mut self, horizon: Duration, min_span: Duration) {
        (self.horizon, self.min_span) = (horizon, min_span);
    }

    /// Stop watching (a reload turned `[monitor] enabled` off): every
    /// firing leak resolves, and no trend is kept.
    pub(crate) fn stop(&mut self) -> Vec<Change> {
        let changes = (self.replicas.iter().filter(|(_, w)| w.firing))
            .map(|(unit, w)| {
                let message = format!(
                    "memory of `{}`: the leak detector is off ([monitor] enabled = false since a reload)",
                    w.name
                );
                leak_change(unit, false, message)
            })
            .collect();
        self.replicas.clear();
        changes
    }

    /// Take one sample of every live replica with a memory limit, at `now`.
    pub(crate) fn observe(&mut self, samples: &[MemorySample], now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        let live: BTreeMap<&str, RunId> =
            samples.iter().map(|s| (s.unit.as_str(), s.run)).collect();
        // A replica whose run ended or changed: its trend is over.
        self.replicas.retain(|unit, w| {
            let same = live.get(unit.as_str()) == Some(&w.run);
            if !same && w.firing {
                let message = format!(
                    "memory of `{}`: its run {} ended; a new run starts a new trend",
                    w.name, w.run
                );
                changes.push(leak_change(unit, false, message));
            }
            same
        });
        for sample in samples {
            let watched = self.replicas.entry(sample.unit.clone()).or_insert_with(|| Watched {
                run: sample.run,
                name: sample.name.clone(),
                trend: Trend::new(now),
                firing: false,
            });
            let Some(bytes) = sample.bytes else { continue };
            watched.trend.push(now, bytes);
            if let Some(change) = self.judge(&sample.unit, sample.limit) {
                changes.push(change);
            }
        }
        changes
    }

    fn judge(&mut self, unit: &str, limit: u64) -> Option<Change> {
        let (horizon, min_span) = (self.horizon, self.min_span);
        let w = self.replicas.get_mut(unit)?;
        let estimate = w.trend.estimate()?;
        if estimate.span < min_span {
            return None;
        }
        let now_bytes = w.trend.last()? as f64;
        let away = (estimate.slope > 0.0).then(|| {
            Duration::from_secs_f64(((limit as f64 - now_bytes).max(0.0)) / estimate.slope)
        });
        let per_hour = estimate.slope * 3600.0;
        let leaking = estimate.rising && away.is_some_and(|a| a <= horizon);
        // Hysteresis: once firing, it takes a flat trend or twice the horizon.
        let calm = !estimate.rising || away.is_none_or(|a| a > horizon * 2);
        if leaking && !w.firing {
            w.firing = true;
            let message = format!(
                "memory of `{}` grows {}/h; its {} limit is ~{} away",
                w.name,
                mib(per_hour),
                size(limit),
                eta(away.unwrap_or_default())
            );
            return Some(leak_change(unit, true, message));
        }
        if w.firing && calm {
            w.firing = false;
            let message = format!(
                "memory of `{}` no longer heads for its {} limit (trend {}/h)",
                w.name,
                size(limit),
                mib(per_hour)
            );
            return Some(leak_change(unit, false, message));
        }
        None
    }
}

fn leak_change(unit: &str, firing: bool, message: String) -> Change {
    Change { alert: LEAK_ALERT.to_owned(), unit: unit.to_owned(), firing, message }
}

/// "40 MiB": a rate's amount, always in MiB so rates compare at a glance.
fn mib(bytes: f64) -> String {
    format!("{:.0} MiB", bytes / (1u64 << 20) as f64)
}

/// "2 GiB", "256 MiB", "1.5 GiB".
pub(super) fn size(bytes: u64) -> String {
    let gib = bytes as f64 / (1u64 << 30) as f64;
    if gib >= 1.0 {
        if bytes.is_multiple_of(1 << 30) {
            format!("{gib:.0} GiB")
        } else {
            format!("{gib:.1} GiB")
        }
    } else {
        format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

/// "3 h", "12 min", "25 s".
fn eta(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn sample(run: u64, bytes: u64) -> MemorySample {
        MemorySample {
            unit: "worker[0]".into(),
            name: "worker".into(),
            run: RunId(run),
            bytes: Some(bytes),
            limit: 2048 * MIB,
        }
    }

    /// Feed `minutes` of samples every 30 s of a run growing `per_hour` MiB/h
    /// from `from` MiB; return the changes with the minute they came at.
    fn feed(
        watch: &mut LeakWatch,
        t0: Instant,
        run: u64,
        range: std::ops::Range<u64>,
        bytes: impl Fn(u64) -> u64,
    ) -> Vec<(u64, Change)> {
        let mut out = Vec::new();
        for half_minutes in range {
            let at = t0 + Duration::from_secs(30 * half_minutes);
            for c in watch.observe(&[sample(run, bytes(half_minutes))], at) {
                out.push((half_minutes / 2, c));
            }
        }
        out
    }

    #[test]
    fn a_leak_heading_for_the_limit_within_the_horizon_fires_with_its_rate() {
        let mut watch = LeakWatch::new(Duration::from_secs(6 * 3600), Duration::from_secs(600));
        let t0 = Instant::now();
        // 40 MiB/h from 1,900 MiB: the 2 GiB limit is ~3.7 h away; with a
        // wobble of up to 6 MiB.
        let changes =
            feed(&mut watch, t0, 1, 0..60, |k| 1900 * MIB + k * 40 * MIB / 120 + (k % 3) * 3 * MIB);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let (minute, change) = &changes[0];
        assert!(change.firing);
        assert!(*minute >= 10, "not before min_span: minute {minute}");
        assert_eq!(change.unit, "worker[0]");
        assert!(
            change.message.starts_with("memory of `worker` grows 4")
                && change.message.contains("MiB/h; its 2 GiB limit is ~3 h away"),
            "{}",
            change.message
        );
    }

    #[test]
    fn a_slow_leak_far_from_the_limit_and_a_flat_sawtooth_do_not_fire() {
        let t0 = Instant::now();
        let mut watch = LeakWatch::new(Duration::from_secs(6 * 3600), Duration::from_secs(600));
        // 40 MiB/h from 200 MiB: the limit is ~46 h away.
        assert!(feed(&mut watch, t0, 1, 0..240, |k| 200 * MIB + k * 40 * MIB / 120).is_empty());
        let mut watch = LeakWatch::new(Duration::from_secs(6 * 3600), Duration::from_secs(1800));
        // A GC sawtooth between 1.5 and 1.9 GiB every 10 minutes.
        let tooth = |k: u64| 1536 * MIB + (k % 20) * 20 * MIB;
        assert!(feed(&mut watch, t0, 1, 0..480, tooth).is_empty());
    }

    #[test]
    fn a_restart_resolves_and_starts_a_new_trend() {
        let mut watch = LeakWatch::new(Duration::from_secs(6 * 3600), Duration::from_secs(600));
        let t0 = Instant::now();
        let fired = feed(&mut watch, t0, 1, 0..40, |k| 1900 * MIB + k * MIB);
        assert_eq!(fired.iter().filter(|(_, c)| c.firing).count(), 1, "{fired:?}");
        // Run 2 starts low: no "memory went down" trend from the old run.
        let after = feed(&mut watch, t0, 2, 40..60, |k| 100 * MIB + (k - 40) * 10);
        assert_eq!(after.len(), 1, "{after:?}");
        assert!(!after[0].1.firing);
        assert!(after[0].1.message.contains("its run 1 ended"), "{}", after[0].1.message);
    }

    #[test]
    fn an_unreadable_sample_keeps_the_trend_and_the_alert() {
        let mut watch = LeakWatch::new(Duration::from_secs(6 * 3600), Duration::from_secs(600));
        let t0 = Instant::now();
        let fired = feed(&mut watch, t0, 1, 0..40, |k| 1900 * MIB + k * MIB);
        assert_eq!(fired.len(), 1, "{fired:?}");
        let unreadable = MemorySample { bytes: None, ..sample(1, 0) };
        assert!(watch.observe(&[unreadable], t0 + Duration::from_secs(1230)).is_empty());
        let more = feed(&mut watch, t0, 1, 42..50, |k| 1900 * MIB + k * MIB);
        assert!(more.is_empty(), "same run, same trend, still firing: {more:?}");
    }

    #[test]
    fn a_trend_that_flattens_resolves() {
        let mut watch = LeakWatch::new(Duration::from_secs(6 * 3600), Duration::from_secs(600));
        let t0 = Instant::now();
        let grow = |k: u64| 1800 * MIB + k.min(60) * 2 * MIB;
        let changes = feed(&mut watch, t0, 1, 0..600, grow);
        let kinds: Vec<bool> = changes.iter().map(|(_, c)| c.firing).collect();
        assert_eq!(kinds, [true, false], "{changes:?}");
        assert!(changes[1].1.message.contains("no longer heads for its 2 GiB limit"));
    }

    #[test]
    fn amounts_read_naturally() {
        assert_eq!(mib(40.0 * MIB as f64), "40 MiB");
        assert_eq!(mib(36_000.0 * MIB as f64), "36000 MiB");
        assert_eq!(size(256 * MIB), "256 MiB");
        assert_eq!(size(2048 * MIB), "2 GiB");
        assert_eq!(eta(Duration::from_secs(25)), "25 s");
        assert_eq!(eta(Duration::from_secs(3 * 3600 + 100)), "3 h");
    }
}
