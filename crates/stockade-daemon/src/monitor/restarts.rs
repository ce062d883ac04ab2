//! [`RestartWatch`]: the restart-rate alert. A service restarting more than
//! `max_restarts` times within `restart_window` is crash-looping even when its
//! backoff and start limit keep it alive; one warning says so, one `cleared`
//! says when the old restarts have aged out of the window.

use super::Alert;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};
use stockade_proto::{ExitCause, ReplicaView};

#[derive(Debug, Default)]
struct Restarts {
    /// The sum of the replicas' restart counters at the last sample.
    total: u64,
    /// When the newest restarts were seen; at most `max + 1` are kept, all
    /// that deciding "more than `max` within the window" needs.
    seen: VecDeque<Instant>,
    alerting: bool,
    /// The latest exit cause seen: views show it only between runs
    /// (backoff, gave up), so it is kept from the samples that catch one.
    last_cause: Option<ExitCause>,
}

/// Restart history of every service.
#[derive(Debug)]
pub(crate) struct RestartWatch {
    max: u32,
    window: Duration,
    services: BTreeMap<String, Restarts>,
}

impl RestartWatch {
    pub(crate) fn new(max: u32, window: Duration) -> RestartWatch {
        RestartWatch { max, window, services: BTreeMap::new() }
    }

    /// Take one sample of the replicas' restart counters (read at `now`).
    /// Restarts are dated to the sample that first sees them, so with a 5 s
    /// interval the window is exact to 5 s.
    pub(crate) fn observe(&mut self, replicas: &[ReplicaView], now: Instant) -> Vec<Alert> {
        let mut totals: BTreeMap<&str, (u64, Option<&ExitCause>)> = BTreeMap::new();
        for r in replicas {
            let entry = totals.entry(r.service.as_str()).or_default();
            entry.0 += u64::from(r.restarts);
            entry.1 = r.last_cause.as_ref().or(entry.1);
        }
        let keep = self.max as usize + 1;
        let mut alerts = Vec::new();
        for (service, (total, last)) in totals {
            let state = self.services.entry(service.to_owned()).or_default();
            // A counter that went down was reset (`stockade restart`): the
            // restarts since then are unknown, so none are counted.
            let new = total.saturating_sub(state.total);
            state.total = total;
            if let Some(cause) = last {
                state.last_cause = Some(cause.clone());
            }
            for _ in 0..new.min(keep as u64) {
                state.seen.push_back(now);
            }
            while state.seen.len() > keep {
                state.seen.pop_front();
            }
            while state.seen.front().is_some_and(|t| now.duration_since(*t) > self.window) {
                state.seen.pop_front();
            }
            let over = state.seen.len() > self.max as usize;
            if over == state.alerting {
                continue;
            }
            state.alerting = over;
            let window = human(self.window);
            let message = if over {
                let cause = state
                    .last_cause
                    .as_ref()
                    .map(|c| format!("; last exit: {c}"))
                    .unwrap_or_default();
                format!(
                    "restart rate: more than {} restarts within {window}{cause}; see `stockade postmortem {service}`",
                    self.max
                )
            } else {
                format!("restart rate: at most {} restarts within {window} again", self.max)
            };
            let level = if over { "warning" } else { "cleared" };
            alerts.push(Alert { unit: service.to_owned(), level, message });
        }
        alerts
    }
}

/// "1h", "10m", "90s", "250ms".
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match () {
        _ if d.subsec_millis() != 0 || secs == 0 => format!("{}ms", d.as_millis()),
        _ if secs.is_multiple_of(3600) => format!("{}h", secs / 3600),
        _ if secs.is_multiple_of(60) => format!("{}m", secs / 60),
        _ => format!("{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_proto::{ExitCause, Limits, ServiceState};

    fn replica(index: u32, restarts: u32) -> ReplicaView {
        ReplicaView {
            service: "loop".into(),
            replica: index,
            state: ServiceState::Backoff,
            reason: None,
            run: None,
            pid: None,
            restarts,
            started_at: None,
            last_cause: Some(ExitCause::Exited { code: 7 }),
            usage: None,
            limits: Limits::default(),
        }
    }

    #[test]
    fn more_than_max_restarts_in_the_window_warns_once_then_clears() {
        let mut watch = RestartWatch::new(3, Duration::from_secs(3600));
        let t0 = Instant::now();
        let at = |minutes: u64| t0 + Duration::from_secs(60 * minutes);
        assert!(
            watch.observe(&[replica(0, 2), replica(1, 1)], at(0)).is_empty(),
            "3 is not more than 3"
        );
        // Both running at this sample: the cause comes from the last one seen.
        let (mut a, mut b) = (replica(0, 2), replica(1, 2));
        (a.last_cause, b.last_cause) = (None, None);
        let warned = watch.observe(&[a, b], at(1));
        assert_eq!(warned.len(), 1);
        assert_eq!(warned[0].level, "warning");
        assert_eq!(
            warned[0].message,
            "restart rate: more than 3 restarts within 1h; last exit: exited 7; see `stockade postmortem loop`"
        );
        assert!(
            watch.observe(&[replica(0, 9), replica(1, 9)], at(30)).is_empty(),
            "still one alert"
        );
        let calm = watch.observe(&[replica(0, 9), replica(1, 9)], at(95));
        assert_eq!(calm.iter().map(|a| a.level).collect::<Vec<_>>(), ["cleared"]);
    }

    #[test]
    fn a_reset_counter_counts_nothing() {
        let mut watch = RestartWatch::new(3, Duration::from_secs(60));
        let now = Instant::now();
        assert!(watch.observe(&[replica(0, 3)], now).is_empty());
        assert!(watch.observe(&[replica(0, 0)], now).is_empty());
        assert!(watch.observe(&[replica(0, 1)], now).len() == 1, "3 + 1 within the window");
        assert_eq!(human(Duration::from_millis(1500)), "1500ms");
        assert_eq!(human(Duration::from_secs(600)), "10m");
    }
}
