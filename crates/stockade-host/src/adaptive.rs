//! The adaptive concurrency limit behind `max_concurrency = "auto"`: a pure
//! state machine fed pressure signals and a clock by the engine.
//!
//! Borrowed from Netflix concurrency-limits' AIMD (research/queue-anchors.md
//! §4.1), driven by host pressure instead of request latency, because an
//! agent's "RTT" is minutes:
//! - **multiplicative decrease** when any signal reaches its *down* threshold
//!   (memory PSI `some` ≥ 10 % is the WARNING level of §4.3): `limit × 0.75`,
//!   never below `min`, at most once per `down_interval`;
//! - **additive increase** by one when every signal is below its *up*
//!   threshold *and* the pool is busy (queue non-empty and at the limit —
//!   Netflix's app-limited guard: an idle pool proves nothing about capacity),
//!   at most once per `up_interval` since the last change;
//! - **hold** in the band between the two thresholds (hysteresis), so the
//!   limit does not flap around one value.
//!
//! It starts at `min`, a slow start: capacity is earned, not assumed. A signal
//! that is `None` (PSI missing) neither raises nor lowers the limit.

use serde::Serialize;
use std::fmt;
use std::time::{Duration, Instant};

/// What the engine measured since the last observation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PressureSignals {
    /// PSI memory `some` avg10, percent.
    pub psi_memory_some_avg10: Option<f64>,
    /// PSI cpu `some` avg10, percent.
    pub psi_cpu_some_avg10: Option<f64>,
    /// Share of recent runs of this pool that failed, 0.0–1.0.
    pub failure_rate: Option<f64>,
    /// The queue is non-empty and the pool runs at its limit.
    pub busy: bool,
}

/// One signal, for reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// PSI memory `some` avg10.
    MemoryPressure,
    /// PSI cpu `some` avg10.
    CpuPressure,
    /// Failed runs / all runs.
    FailureRate,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::MemoryPressure => "memory pressure",
            Signal::CpuPressure => "cpu pressure",
            Signal::FailureRate => "failure rate",
        }
    }
}

/// Thresholds and pacing. Each signal has an *up* threshold (grow only below
/// it) and a higher *down* threshold (shrink at or above it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AdaptiveConfig {
    /// Memory PSI: grow below (percent).
    pub memory_up_below: f64,
    /// Memory PSI: shrink at or above (percent).
    pub memory_down_at: f64,
    /// CPU PSI: grow below (percent).
    pub cpu_up_below: f64,
    /// CPU PSI: shrink at or above (percent).
    pub cpu_down_at: f64,
    /// Failure rate: grow below.
    pub failure_up_below: f64,
    /// Failure rate: shrink at or above.
    pub failure_down_at: f64,
    /// The multiplicative decrease factor, in [0.5, 1): at most halve per step.
    pub backoff: f64,
    /// Minimum time between an increase and the previous change.
    pub up_interval: Duration,
    /// Minimum time between a decrease and the previous change. Shorter than
    /// `up_interval`: shedding load is urgent, adding it is not.
    pub down_interval: Duration,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            memory_up_below: 5.0,
            memory_down_at: 10.0,
            cpu_up_below: 60.0,
            cpu_down_at: 90.0,
            failure_up_below: 0.10,
            failure_down_at: 0.30,
            backoff: 0.75,
            // PSI avg10 needs ~10 s to reflect a change; waiting 30 s before
            // the next step lets the last one show.
            up_interval: Duration::from_secs(30),
            down_interval: Duration::from_secs(10),
        }
    }
}

/// Which way a change went (or would have gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// +1.
    Up,
    /// × backoff.
    Down,
}

/// Why the limit is what it is after an observation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LimitReason {
    /// Grew: every signal below its up threshold and the pool busy.
    Healthy,
    /// Shrank (or is held at `min`): a signal at or over its down threshold.
    Pressure {
        /// The signal.
        signal: Signal,
        /// Its value.
        value: f64,
        /// The down threshold it reached.
        threshold: f64,
    },
    /// Held: a signal between its up and down thresholds.
    Band {
        /// The signal.
        signal: Signal,
        /// Its value.
        value: f64,
    },
    /// Held: the pool is not using its limit, so growing proves nothing.
    NotBusy,
    /// Held: a change is due but the last one was too recent.
    Cooldown {
        /// The change that waits.
        direction: Direction,
        /// How long until it may happen.
        wait: Duration,
    },
    /// Held: already at `min` (under pressure) or `max` (healthy).
    AtBound {
        /// The bound.
        direction: Direction,
    },
}

impl fmt::Display for LimitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LimitReason::Healthy => write!(f, "host healthy and pool busy: one more slot"),
            LimitReason::Pressure { signal, value, threshold } => {
                write!(f, "{} {value:.1} reached {threshold:.1}: fewer slots", signal.name())
            }
            LimitReason::Band { signal, value } => {
                write!(f, "{} {value:.1} is between the thresholds: holding", signal.name())
            }
            LimitReason::NotBusy => write!(f, "pool not at its limit: holding"),
            LimitReason::Cooldown { direction, wait } => write!(
                f,
                "{} due in {:.0} s (last change too recent)",
                if direction == Direction::Up { "increase" } else { "decrease" },
                wait.as_secs_f64()
            ),
            LimitReason::AtBound { direction: Direction::Up } => write!(f, "at max: holding"),
            LimitReason::AtBound { direction: Direction::Down } => write!(f, "at min: holding"),
        }
    }
}

/// The outcome of one observation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decision {
    /// The limit now in force.
    pub limit: u32,
    /// Whether this observation changed it.
    pub changed: bool,
    /// Why.
    pub reason: LimitReason,
}

/// The adaptive limit of one pool.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveLimit {
    min: u32,
    max: u32,
    limit: u32,
    last_change: Option<Instant>,
    config: AdaptiveConfig,
}

impl AdaptiveLimit {
    /// A limit between `min` and `max` (swapped if given the wrong way round;
    /// `min` at least 1 so a pool is never starved), starting at `min`.
    pub fn new(min: u32, max: u32) -> AdaptiveLimit {
        AdaptiveLimit::with_config(min, max, AdaptiveConfig::default())
    }

    /// [`AdaptiveLimit::new`] with other thresholds.
    pub fn with_config(min: u32, max: u32, config: AdaptiveConfig) -> AdaptiveLimit {
        let (min, max) = (min.min(max).max(1), max.max(min).max(1));
        AdaptiveLimit { min, max, limit: min, last_change: None, config }
    }

    /// The limit in force.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Feed one set of signals measured at `now`.
    pub fn observe(&mut self, now: Instant, signals: PressureSignals) -> Decision {
        let hold = |limit, reason| Decision { limit, changed: false, reason };
        if let Some(reason) = self.over_down(&signals) {
            if self.limit <= self.min {
                return hold(self.limit, LimitReason::AtBound { direction: Direction::Down });
            }
            if let Some(wait) = self.wait(now, self.config.down_interval) {
                return hold(
                    self.limit,
                    LimitReason::Cooldown { direction: Direction::Down, wait },
                );
            }
            let backoff = self.config.backoff.clamp(0.5, 0.99);
            let shrunk = ((f64::from(self.limit) * backoff).floor() as u32).min(self.limit - 1);
            return self.change(now, shrunk.max(self.min), reason);
        }
        if let Some(band) = self.in_band(&signals) {
            return hold(self.limit, band);
        }
        if !signals.busy {
            return hold(self.limit, LimitReason::NotBusy);
        }
        if self.limit >= self.max {
            return hold(self.limit, LimitReason::AtBound { direction: Direction::Up });
        }
        if let Some(wait) = self.wait(now, self.config.up_interval) {
            return hold(self.limit, LimitReason::Cooldown { direction: Direction::Up, wait });
        }
        self.change(now, self.limit + 1, LimitReason::Healthy)
    }

    fn change(&mut self, now: Instant, limit: u32, reason: LimitReason) -> Decision {
        self.limit = limit;
        self.last_change = Some(now);
        Decision { limit, changed: true, reason }
    }

    /// Time still to wait before a change is allowed, if any.
    fn wait(&self, now: Instant, interval: Duration) -> Option<Duration> {
        let since = now.saturating_duration_since(self.last_change?);
        (since < interval).then(|| interval - since)
    }

    fn readings(&self, s: &PressureSignals) -> [(Signal, Option<f64>, f64, f64); 3] {
        let c = &self.config;
        [
            (Signal::MemoryPressure, s.psi_memory_some_avg10, c.memory_up_below, c.memory_down_at),
            (Signal::CpuPressure, s.psi_cpu_some_avg10, c.cpu_up_below, c.cpu_down_at),
            (Signal::FailureRate, s.failure_rate, c.failure_up_below, c.failure_down_at),
        ]
    }

    fn over_down(&self, s: &PressureSignals) -> Option<LimitReason> {
        self.readings(s).into_iter().find_map(|(signal, value, _, down)| {
            let value = value?;
            (value >= down).then_some(LimitReason::Pressure { signal, value, threshold: down })
        })
    }

    fn in_band(&self, s: &PressureSignals) -> Option<LimitReason> {
        self.readings(s).into_iter().find_map(|(signal, value, up, _)| {
            let value = value?;
            (value >= up).then_some(LimitReason::Band { signal, value })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALM: PressureSignals = PressureSignals {
        psi_memory_some_avg10: Some(0.5),
        psi_cpu_some_avg10: Some(10.0),
        failure_rate: Some(0.0),
        busy: true,
    };

    fn memory(psi: f64) -> PressureSignals {
        PressureSignals { psi_memory_some_avg10: Some(psi), ..CALM }
    }

    /// Observe every 10 s of fake time; return the limits after each step.
    fn script(limit: &mut AdaptiveLimit, start: Instant, steps: &[PressureSignals]) -> Vec<u32> {
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| limit.observe(start + Duration::from_secs(10 * (i as u64 + 1)), *s).limit)
            .collect()
    }

    #[test]
    fn starts_at_min_and_grows_by_one_per_up_interval_while_busy_and_calm() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(2, 5);
        assert_eq!(limit.limit(), 2);
        let first = limit.observe(t0, CALM);
        assert_eq!(first, Decision { limit: 3, changed: true, reason: LimitReason::Healthy });
        let soon = limit.observe(t0 + Duration::from_secs(5), CALM);
        assert_eq!(soon.limit, 3);
        assert!(
            matches!(soon.reason, LimitReason::Cooldown { direction: Direction::Up, wait } if wait == Duration::from_secs(25))
        );
        assert_eq!(limit.observe(t0 + Duration::from_secs(30), CALM).limit, 4);
        assert_eq!(limit.observe(t0 + Duration::from_secs(60), CALM).limit, 5);
        let top = limit.observe(t0 + Duration::from_secs(90), CALM);
        assert_eq!((top.limit, top.changed), (5, false));
        assert_eq!(top.reason, LimitReason::AtBound { direction: Direction::Up });
    }

    #[test]
    fn an_idle_pool_does_not_grow() {
        let mut limit = AdaptiveLimit::new(1, 10);
        let d = limit.observe(Instant::now(), PressureSignals { busy: false, ..CALM });
        assert_eq!((d.limit, d.reason), (1, LimitReason::NotBusy));
    }

    #[test]
    fn pressure_shrinks_multiplicatively_and_never_below_min() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(2, 40);
        limit.limit = 40;
        let limits = script(
            &mut limit,
            t0,
            &[memory(12.0), memory(12.0), memory(30.0), memory(30.0), memory(30.0)],
        );
        assert_eq!(limits, [30, 22, 16, 12, 9]);
        let mut limit = AdaptiveLimit::new(2, 40);
        limit.limit = 3;
        let limits = script(&mut limit, t0, &[memory(50.0), memory(50.0), memory(50.0)]);
        assert_eq!(limits, [2, 2, 2]);
        let d = limit.observe(t0 + Duration::from_secs(100), memory(50.0));
        assert_eq!(d.reason, LimitReason::AtBound { direction: Direction::Down });
    }

    #[test]
    fn the_band_between_thresholds_holds_so_the_limit_does_not_flap() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(1, 20);
        limit.limit = 10;
        // Oscillating between 6 % and 9 %: inside the band (up below 5, down at 10).
        let limits = script(&mut limit, t0, &[memory(6.0), memory(9.0), memory(6.0), memory(9.0)]);
        assert_eq!(limits, [10, 10, 10, 10]);
        let d = limit.observe(t0 + Duration::from_secs(100), memory(9.0));
        assert!(matches!(d.reason, LimitReason::Band { signal: Signal::MemoryPressure, .. }));
    }

    #[test]
    fn a_decrease_waits_out_the_down_interval_after_any_change() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(1, 20);
        limit.limit = 10;
        assert_eq!(limit.observe(t0, memory(15.0)).limit, 7);
        let d = limit.observe(t0 + Duration::from_secs(3), memory(15.0));
        assert_eq!(d.limit, 7);
        assert!(matches!(d.reason, LimitReason::Cooldown { direction: Direction::Down, .. }));
        assert_eq!(limit.observe(t0 + Duration::from_secs(10), memory(15.0)).limit, 5);
    }

    #[test]
    fn failures_and_cpu_pressure_also_shrink_and_missing_psi_is_neutral() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(1, 8);
        limit.limit = 8;
        let d = limit.observe(t0, PressureSignals { failure_rate: Some(0.5), ..CALM });
        assert_eq!(d.limit, 6);
        assert!(matches!(d.reason, LimitReason::Pressure { signal: Signal::FailureRate, .. }));
        let d = limit.observe(
            t0 + Duration::from_secs(10),
            PressureSignals { psi_cpu_some_avg10: Some(95.0), ..CALM },
        );
        assert_eq!(d.limit, 4);
        let blind = PressureSignals {
            psi_memory_some_avg10: None,
            psi_cpu_some_avg10: None,
            failure_rate: None,
            busy: true,
        };
        let d = limit.observe(t0 + Duration::from_secs(60), blind);
        assert_eq!((d.limit, d.reason), (5, LimitReason::Healthy));
    }

    #[test]
    fn a_scripted_overload_recovers_to_a_lower_plateau() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(1, 16);
        let mut timeline = Vec::new();
        for step in 0..40u64 {
            let now = t0 + Duration::from_secs(30 * step);
            // The host tolerates 6 agents: beyond that memory pressure climbs.
            let psi = if limit.limit() > 6 {
                20.0
            } else if limit.limit() == 6 {
                7.0
            } else {
                1.0
            };
            timeline.push(limit.observe(now, memory(psi)).limit);
        }
        assert!(timeline.iter().all(|&l| (1..=16).contains(&l)));
        assert_eq!(*timeline.last().unwrap(), 6, "{timeline:?}");
        assert!(timeline.iter().all(|&l| l <= 7), "never overshoots past 7: {timeline:?}");
    }

    #[test]
    fn bad_bounds_are_repaired() {
        let limit = AdaptiveLimit::new(0, 0);
        assert_eq!((limit.min, limit.max, limit.limit()), (1, 1, 1));
        let limit = AdaptiveLimit::new(9, 3);
        assert_eq!((limit.min, limit.max), (3, 9));
    }

    #[test]
    fn reasons_read_as_sentences() {
        let r =
            LimitReason::Pressure { signal: Signal::MemoryPressure, value: 12.34, threshold: 10.0 };
        assert_eq!(r.to_string(), "memory pressure 12.3 reached 10.0: fewer slots");
        let r = LimitReason::Cooldown { direction: Direction::Up, wait: Duration::from_secs(25) };
        assert_eq!(r.to_string(), "increase due in 25 s (last change too recent)");
    }
}
