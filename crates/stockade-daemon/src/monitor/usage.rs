//! [`UsageWatch`]: the usage thresholds, applied to every live replica at
//! every sample. It keeps one [`Level`] per (replica, resource) and the last
//! cpu counter per replica, and turns level changes into [`Alert`]s.

use super::Alert;
use super::level::Level;
use super::reading::{CpuMark, Reading, Resource};
use std::collections::BTreeMap;
use std::time::Instant;
use stockade_proto::{Limits, ReplicaView, RunId};
use stockade_spec::Thresholds;

/// (service, replica index).
type ReplicaKey = (String, u32);

#[derive(Debug, Clone, Copy)]
struct Tracked {
    run: RunId,
    level: Level,
}

/// Threshold state of every live replica.
#[derive(Debug)]
pub(crate) struct UsageWatch {
    thresholds: Thresholds,
    levels: BTreeMap<(ReplicaKey, Resource), Tracked>,
    cpu: BTreeMap<ReplicaKey, CpuMark>,
}

impl UsageWatch {
    pub(crate) fn new(thresholds: Thresholds) -> UsageWatch {
        UsageWatch { thresholds, levels: BTreeMap::new(), cpu: BTreeMap::new() }
    }

    /// Take one sample of every replica (read at `now`) and return the
    /// alerts it raises: one per change of level, none while a level holds.
    pub(crate) fn observe(&mut self, replicas: &[ReplicaView], now: Instant) -> Vec<Alert> {
        let live: BTreeMap<ReplicaKey, RunId> = replicas
            .iter()
            .filter_map(|r| Some(((r.service.clone(), r.replica), r.run?)))
            .collect();
        let mut alerts = Vec::new();
        // An alert about a run that has ended is over: say so, rather than
        // leave a warning open forever. A replica whose usage could not be
        // read this once keeps its level (same run, still live).
        self.levels.retain(|(key, resource), tracked| {
            if live.get(key) == Some(&tracked.run) {
                return true;
            }
            if tracked.level != Level::Normal {
                let message = format!(
                    "{resource} alert over: run {} of replica {} ended",
                    tracked.run, key.1
                );
                alerts.push(Alert { unit: key.0.clone(), level: "cleared", message });
            }
            false
        });
        self.cpu.retain(|key, mark| live.get(key) == Some(&mark.run));

        for replica in replicas {
            let (Some(run), Some(usage)) = (replica.run, replica.usage.as_ref()) else { continue };
            let key = (replica.service.clone(), replica.replica);
            let mark = usage.cpu_usec.map(|cpu_usec| CpuMark { run, cpu_usec, at: now });
            let reading = Reading::of(usage, &replica.limits, mark, self.cpu.get(&key).copied());
            if let Some(mark) = mark {
                self.cpu.insert(key.clone(), mark);
            }
            for resource in Resource::ALL {
                let Some(percent) = reading.get(resource) else { continue };
                let tracked = self
                    .levels
                    .entry((key.clone(), resource))
                    .or_insert(Tracked { run, level: Level::Normal });
                let next = tracked.level.next(percent, &self.thresholds);
                if next == tracked.level {
                    continue;
                }
                tracked.level = next;
                let message = self.describe(resource, percent, next, replica);
                alerts.push(Alert { unit: key.0.clone(), level: next.event_name(), message });
            }
        }
        alerts
    }

    /// "memory at 86% of the 125MiB limit (replica 0, warning at 80%)".
    fn describe(&self, resource: Resource, percent: f64, level: Level, r: &ReplicaView) -> String {
        let limit = limit_text(resource, &r.limits);
        let t = &self.thresholds;
        let (verb, threshold) = match level {
            Level::Normal => ("back to", format!("cleared below {}%", t.clear)),
            Level::Warning => ("at", format!("warning at {}%", t.warning)),
            Level::Critical => ("at", format!("critical at {}%", t.critical)),
        };
        format!("{resource} {verb} {percent:.0}% of {limit} (replica {}, {threshold})", r.replica)
    }
}

fn limit_text(resource: Resource, limits: &Limits) -> String {
    match resource {
        Resource::Cpu => format!("the {}-cpu quota", limits.cpus.unwrap_or_default()),
        Resource::Memory => format!("the {} limit", bytes(limits.memory.unwrap_or_default())),
        Resource::Pids => format!("the limit of {} tasks", limits.pids.unwrap_or_default()),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            let value = n as f64 / size as f64;
            return if n.is_multiple_of(size) {
                format!("{}{unit}", n / size)
            } else {
                format!("{value:.1}{unit}")
            };
        }
    }
    format!("{n}B")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use stockade_proto::{ServiceState, Usage};

    const MIB: u64 = 1 << 20;

    fn replica(run: u64, memory: u64) -> ReplicaView {
        ReplicaView {
            service: "hog".into(),
            replica: 0,
            state: ServiceState::Running,
            reason: None,
            run: Some(RunId(run)),
            pid: Some(1),
            restarts: 0,
            started_at: None,
            last_cause: None,
            usage: Some(Usage { memory_current: Some(memory * MIB), ..Usage::default() }),
            limits: Limits { memory: Some(100 * MIB), ..Limits::default() },
        }
    }

    fn levels(alerts: &[Alert]) -> Vec<&str> {
        alerts.iter().map(|a| a.level).collect()
    }

    #[test]
    fn one_alert_per_crossing_with_the_numbers_in_the_message() {
        let mut watch = UsageWatch::new(Thresholds { warning: 80.0, critical: 95.0, clear: 70.0 });
        let t0 = Instant::now();
        let mut all = Vec::new();
        for (i, memory) in [50, 85, 86, 84, 97, 90, 60].into_iter().enumerate() {
            all.extend(watch.observe(&[replica(1, memory)], t0 + Duration::from_secs(i as u64)));
        }
        assert_eq!(levels(&all), ["warning", "critical", "cleared"]);
        assert_eq!(all[0].message, "memory at 85% of the 100MiB limit (replica 0, warning at 80%)");
        assert_eq!(
            all[2].message,
            "memory back to 60% of the 100MiB limit (replica 0, cleared below 70%)"
        );
        assert!(all.iter().all(|a| a.unit == "hog"));
    }

    #[test]
    fn an_alert_ends_with_its_run_but_not_with_one_unreadable_sample() {
        let mut watch = UsageWatch::new(Thresholds::default());
        let now = Instant::now();
        assert_eq!(levels(&watch.observe(&[replica(1, 90)], now)), ["warning"]);
        let mut unreadable = replica(1, 0);
        unreadable.usage = None;
        assert!(watch.observe(&[unreadable], now).is_empty(), "same run, level kept");
        assert!(watch.observe(&[replica(1, 90)], now).is_empty(), "still the same warning");
        let over = watch.observe(&[replica(2, 10)], now);
        assert_eq!(levels(&over), ["cleared"]);
        assert!(over[0].message.contains("run 1 of replica 0 ended"), "{}", over[0].message);
    }
}
