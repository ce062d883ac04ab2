//! [`UsageWatch`]: the usage thresholds, applied to every live run (service
//! replicas and running jobs alike, as [`Watched`]) at every sample. It keeps
//! one [`Level`] per (run owner, resource) and the last cpu counter per owner,
//! and turns level changes into [`Alert`]s.

use super::Alert;
use super::level::Level;
use super::reading::{CpuMark, Reading, Resource};
use std::collections::BTreeMap;
use std::time::Instant;
use stockade_linux::human_bytes;
use stockade_proto::{JobView, Limits, ReplicaView, RunId, Usage};
use stockade_spec::Thresholds;

/// (unit, subject): (`web`, `replica 0`) or (`agent`, `job 42`).
type Key = (String, String);

/// One live run to hold against its limits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Watched {
    /// The service or job template: the alert's unit.
    pub unit: String,
    /// Which one of the unit's runs, in words: `replica 0`, `job 42`.
    pub subject: String,
    /// The live run.
    pub run: RunId,
    /// Its usage, when the engine could read it this time.
    pub usage: Option<Usage>,
    /// The limits of its box.
    pub limits: Limits,
}

impl Watched {
    /// The replica's live run, if it has one.
    pub(crate) fn replica(r: &ReplicaView) -> Option<Watched> {
        Some(Watched {
            unit: r.service.clone(),
            subject: format!("replica {}", r.replica),
            run: r.run?,
            usage: r.usage.clone(),
            limits: r.limits.clone(),
        })
    }

    /// The job's live run, if it has one and its limits are known.
    pub(crate) fn job(j: &JobView) -> Option<Watched> {
        Some(Watched {
            unit: j.template.clone(),
            subject: format!("job {}", j.id),
            run: j.run?,
            usage: j.usage.clone(),
            limits: j.limits.clone()?,
        })
    }

    fn key(&self) -> Key {
        (self.unit.clone(), self.subject.clone())
    }
}

#[derive(Debug, Clone, Copy)]
struct Tracked {
    run: RunId,
    level: Level,
}

/// Threshold state of every live run.
#[derive(Debug)]
pub(crate) struct UsageWatch {
    thresholds: Thresholds,
    levels: BTreeMap<(Key, Resource), Tracked>,
    cpu: BTreeMap<Key, CpuMark>,
}

impl UsageWatch {
    pub(crate) fn new(thresholds: Thresholds) -> UsageWatch {
        UsageWatch { thresholds, levels: BTreeMap::new(), cpu: BTreeMap::new() }
    }

    /// Take one sample of every live run (read at `now`) and return the
    /// alerts it raises: one per change of level, none while a level holds.
    pub(crate) fn observe(&mut self, runs: &[Watched], now: Instant) -> Vec<Alert> {
        let live: BTreeMap<Key, RunId> = runs.iter().map(|w| (w.key(), w.run)).collect();
        let mut alerts = Vec::new();
        // An alert about a run that has ended is over: say so, rather than
        // leave a warning open forever. A run whose usage could not be read
        // this once keeps its level (same run, still live).
        self.levels.retain(|(key, resource), tracked| {
            if live.get(key) == Some(&tracked.run) {
                return true;
            }
            if tracked.level != Level::Normal {
                let message =
                    format!("{resource} alert over: run {} of {} ended", tracked.run, key.1);
                alerts.push(Alert { unit: key.0.clone(), level: "cleared", message });
            }
            false
        });
        self.cpu.retain(|key, mark| live.get(key) == Some(&mark.run));

        for watched in runs {
            let Some(usage) = watched.usage.as_ref() else { continue };
            let (key, run) = (watched.key(), watched.run);
            let mark = usage.cpu_usec.map(|cpu_usec| CpuMark { run, cpu_usec, at: now });
            let reading = Reading::of(usage, &watched.limits, mark, self.cpu.get(&key).copied());
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
                let message = self.describe(resource, percent, next, watched);
                alerts.push(Alert { unit: key.0.clone(), level: next.event_name(), message });
            }
        }
        alerts
    }

    /// Hold runs to `thresholds` from the next sample on (a reload); every
    /// level is kept, so the next sample moves it as the new thresholds say.
    pub(crate) fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.thresholds = thresholds;
    }

    /// Stop watching (a reload turned `[monitor] enabled` off): a `cleared`
    /// for every level above normal, and nothing kept.
    pub(crate) fn stop(&mut self) -> Vec<Alert> {
        let alerts = (self.levels.iter().filter(|(_, t)| t.level != Level::Normal))
            .map(|((key, resource), t)| Alert {
                unit: key.0.clone(),
                level: "cleared",
                message: format!(
                    "{resource} alert over: [monitor] enabled = false since a reload (run {} of {})",
                    t.run, key.1
                ),
            })
            .collect();
        self.levels.clear();
        self.cpu.clear();
        alerts
    }

    /// "memory at 86% of the 125 MiB limit (replica 0, warning at 80%)".
    fn describe(&self, resource: Resource, percent: f64, level: Level, w: &Watched) -> String {
        let limit = limit_text(resource, &w.limits);
        let t = &self.thresholds;
        let (verb, threshold) = match level {
            Level::Normal => ("back to", format!("cleared below {}%", t.clear)),
            Level::Warning => ("at", format!("warning at {}%", t.warning)),
            Level::Critical => ("at", format!("critical at {}%", t.critical)),
        };
        format!("{resource} {verb} {percent:.0}% of {limit} ({}, {threshold})", w.subject)
    }
}

fn limit_text(resource: Resource, limits: &Limits) -> String {
    match resource {
        Resource::Cpu => format!("the {}-cpu quota", limits.cpus.unwrap_or_default()),
        Resource::Memory => format!("the {} limit", human_bytes(limits.memory.unwrap_or_default())),
        Resource::Pids => format!("the limit of {} tasks", limits.pids.unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use stockade_proto::{ServiceState, Usage};

    const MIB: u64 = 1 << 20;

    fn replica(run: u64, memory: u64) -> Watched {
        let view = ReplicaView {
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
        };
        Watched::replica(&view).unwrap()
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
        assert_eq!(
            all[0].message,
            "memory at 85% of the 100 MiB limit (replica 0, warning at 80%)"
        );
        assert_eq!(
            all[2].message,
            "memory back to 60% of the 100 MiB limit (replica 0, cleared below 70%)"
        );
        assert!(all.iter().all(|a| a.unit == "hog"));
    }

    #[test]
    fn an_alert_ends_with_its_run_but_not_with_one_unreadable_sample() {
        let mut watch = UsageWatch::new(Thresholds::default());
        let now = Instant::now();
        assert_eq!(levels(&watch.observe(&[replica(1, 90)], now)), ["warning"]);
        let mut unreadable = replica(1, 0);
        // Live, but its counters could not be read this time.
        unreadable.usage = None;
        assert!(watch.observe(&[unreadable], now).is_empty(), "same run, level kept");
        assert!(watch.observe(&[replica(1, 90)], now).is_empty(), "still the same warning");
        let over = watch.observe(&[replica(2, 10)], now);
        assert_eq!(levels(&over), ["cleared"]);
        assert!(over[0].message.contains("run 1 of replica 0 ended"), "{}", over[0].message);
    }

    #[test]
    fn a_running_job_is_watched_as_its_template_and_number() {
        let view: JobView = serde_json::from_value(serde_json::json!({
            "id": 42, "template": "agent", "pool": "default", "state": "running",
            "args": [], "priority": 0, "attempt": 1, "max_attempts": 1, "submitted_at": 0,
            "run": 9, "usage": { "pids_current": 19 }, "limits": { "pids": 20 },
        }))
        .unwrap();
        let watched = Watched::job(&view).unwrap();
        let alerts = UsageWatch::new(Thresholds::default()).observe(&[watched], Instant::now());
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].unit, "agent");
        assert_eq!(alerts[0].level, "critical");
        assert_eq!(
            alerts[0].message,
            "tasks at 95% of the limit of 20 tasks (job 42, critical at 95%)"
        );
    }
}
