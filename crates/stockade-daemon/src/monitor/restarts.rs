//! [`RestartWatch`]: the restart-rate alert. A service restarting more than
//! `max_restarts` times within `restart_window` is crash-looping even when its
//! backoff and start limit keep it alive; one warning says so, one `cleared`
//! says when the old restarts have aged out of the window.
//!
//! It follows the engine's event broadcast: every replica that goes to
//! `backoff` to restart is one restart, dated when the event arrives
//! ([`RestartWatch::on_event`]); the monitor's samples only age the window
//! ([`RestartWatch::tick`]).

use super::Alert;
use super::rules::human;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};
use stockade_proto::{Event, EventKind, ServiceState};

/// The `reason` of a replica's move to `backoff` after a requested restart
/// (`stockade restart`): not a crash, so not counted.
const ASKED: &str = "stopped";

/// If `event` is a replica going to `backoff` to restart after a run that
/// ended on its own: the service and how the run ended (`exited 7`).
pub(crate) fn restart_of(event: &Event) -> Option<(&str, Option<&str>)> {
    let EventKind::ServiceState { state: ServiceState::Backoff, reason, .. } = &event.kind else {
        return None;
    };
    let cause = reason.as_deref().and_then(|r| r.strip_prefix("restarting after "));
    (cause != Some(ASKED)).then_some((event.unit.as_str(), cause))
}

#[derive(Debug, Default)]
struct Restarts {
    /// When the newest restarts were seen; at most `max + 1` are kept, all
    /// that deciding "more than `max` within the window" needs.
    seen: VecDeque<Instant>,
    alerting: bool,
    /// How the latest restarted run ended.
    last_cause: Option<String>,
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

    /// Judge by `max` and `window` from now on (a reload); the restarts
    /// seen are kept.
    pub(crate) fn set_limits(&mut self, max: u32, window: Duration) {
        (self.max, self.window) = (max, window);
    }

    /// Stop watching (a reload turned `[monitor] enabled` off): a `cleared`
    /// for every service warned about, and nothing kept.
    pub(crate) fn stop(&mut self) -> Vec<Alert> {
        let alerts = (self.services.iter().filter(|(_, s)| s.alerting))
            .map(|(service, _)| Alert {
                unit: service.clone(),
                level: "cleared",
                message: "restart rate alert over: [monitor] enabled = false since a reload"
                    .to_owned(),
            })
            .collect();
        self.services.clear();
        alerts
    }

    /// Count `event` if it is a restart (received at `now`).
    pub(crate) fn on_event(&mut self, event: &Event, now: Instant) -> Vec<Alert> {
        let Some((service, cause)) = restart_of(event) else { return Vec::new() };
        let keep = self.max as usize + 1;
        let state = self.services.entry(service.to_owned()).or_default();
        state.seen.push_back(now);
        while state.seen.len() > keep {
            state.seen.pop_front();
        }
        if let Some(cause) = cause {
            state.last_cause = Some(cause.to_owned());
        }
        self.judge(service, now).into_iter().collect()
    }

    /// Age every window to `now`.
    pub(crate) fn tick(&mut self, now: Instant) -> Vec<Alert> {
        let services: Vec<String> = self.services.keys().cloned().collect();
        services.iter().filter_map(|s| self.judge(s, now)).collect()
    }

    fn judge(&mut self, service: &str, now: Instant) -> Option<Alert> {
        let state = self.services.get_mut(service)?;
        while state.seen.front().is_some_and(|t| now.duration_since(*t) > self.window) {
            state.seen.pop_front();
        }
        let over = state.seen.len() > self.max as usize;
        if over == state.alerting {
            return None;
        }
        state.alerting = over;
        let window = human(self.window);
        let message = if over {
            let cause =
                state.last_cause.as_ref().map(|c| format!("; last exit: {c}")).unwrap_or_default();
            format!(
                "restart rate: more than {} restarts within {window}{cause}; see `stockade postmortem {service}`",
                self.max
            )
        } else {
            format!("restart rate: at most {} restarts within {window} again", self.max)
        };
        let level = if over { "warning" } else { "cleared" };
        Some(Alert { unit: service.to_owned(), level, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_proto::Seq;

    fn backoff(service: &str, reason: &str) -> Event {
        Event {
            seq: Seq(1),
            at: 0,
            unit: service.into(),
            kind: EventKind::ServiceState {
                replica: 0,
                state: ServiceState::Backoff,
                reason: Some(reason.into()),
            },
        }
    }

    #[test]
    fn more_than_max_restarts_in_the_window_warns_once_then_clears() {
        let mut watch = RestartWatch::new(3, Duration::from_secs(3600));
        let t0 = Instant::now();
        let at = |minutes: u64| t0 + Duration::from_secs(60 * minutes);
        for m in 0..3 {
            assert!(
                watch.on_event(&backoff("loop", "restarting after exited 7"), at(m)).is_empty()
            );
        }
        assert!(watch.tick(at(4)).is_empty(), "3 is not more than 3");
        let warned = watch.on_event(&backoff("loop", "restarting after exited 7"), at(5));
        assert_eq!(warned.len(), 1, "the fourth restart warns when its event arrives");
        assert_eq!(warned[0].level, "warning");
        assert_eq!(
            warned[0].message,
            "restart rate: more than 3 restarts within 1h; last exit: exited 7; see `stockade postmortem loop`"
        );
        assert!(watch.on_event(&backoff("loop", "restarting after exited 7"), at(30)).is_empty());
        assert!(watch.tick(at(61)).is_empty(), "restarts at 2, 5 and 30 min still make 4 with 30");
        let calm = watch.tick(at(63));
        assert_eq!(calm.iter().map(|a| a.level).collect::<Vec<_>>(), ["cleared"]);
    }

    #[test]
    fn a_requested_restart_and_other_events_count_nothing() {
        let mut watch = RestartWatch::new(1, Duration::from_secs(60));
        let now = Instant::now();
        assert!(watch.on_event(&backoff("a", "restarting after stopped"), now).is_empty());
        assert!(watch.on_event(&backoff("a", "restarting after stopped"), now).is_empty());
        let running = Event {
            kind: EventKind::ServiceState {
                replica: 0,
                state: ServiceState::Running,
                reason: None,
            },
            ..backoff("a", "")
        };
        assert!(watch.on_event(&running, now).is_empty());
        assert!(watch.on_event(&backoff("a", "restarting after exited 1"), now).is_empty());
        assert_eq!(watch.on_event(&backoff("a", "restarting after exited 1"), now).len(), 1);
        assert_eq!(human(Duration::from_millis(1500)), "1500ms");
        assert_eq!(human(Duration::from_secs(600)), "10m");
    }
}
