//! Rule evaluation on injected time: `for`, resolving, windows, counts from
//! events, levels from samples.

use super::*;
use std::path::Path;
use stockade_proto::{JobId, Seq, ServiceState};
use stockade_spec::Spec;

fn rules(toml: &str) -> Vec<AlertSpec> {
    let units = "[service.worker]\ncommand = [\"x\"]\n[job.selfplay]\ncommand = [\"y\"]\n";
    let source = format!("{units}{toml}");
    Spec::parse(&source, Path::new("stockade.toml"), &|_| None).unwrap().alerts
}

fn levels(queued: u64, running: u64) -> Levels {
    Levels { pools: [("default".to_owned(), (queued, running))].into(), host: None }
}

fn event(unit: &str, kind: EventKind) -> Event {
    Event { seq: Seq(1), at: 0, unit: unit.into(), kind }
}

fn backoff(reason: &str) -> Event {
    let kind = EventKind::ServiceState {
        replica: 0,
        state: ServiceState::Backoff,
        reason: Some(reason.into()),
    };
    event("worker", kind)
}

fn job_end(state: JobState) -> Event {
    event("selfplay", EventKind::JobState { job: JobId(1), state, reason: None })
}

const QUEUE_IDLE: &str = "[alert.queue_idle]\nsignal = \"queue_depth\"\npool = \"default\"\nop = \"==\"\nvalue = 0\nfor = \"10m\"\n";

#[test]
fn a_level_fires_only_after_holding_for_its_duration_and_resolves_when_it_breaks() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut set = RuleSet::new(&rules(QUEUE_IDLE), t0);
    assert!(set.on_sample(&levels(0, 0), at(0)).is_empty(), "holding starts");
    assert!(set.on_sample(&levels(0, 0), at(599)).is_empty(), "9m59s is not 10m");
    // A break restarts the clock.
    assert!(set.on_sample(&levels(5, 0), at(600)).is_empty());
    assert!(set.on_sample(&levels(0, 0), at(605)).is_empty());
    assert!(set.on_sample(&levels(0, 0), at(1204)).is_empty());
    let fired = set.on_sample(&levels(0, 0), at(1205));
    assert_eq!(fired.len(), 1);
    let c = &fired[0];
    assert!(c.firing);
    assert_eq!((c.alert.as_str(), c.unit.as_str()), ("queue_idle", "default"));
    assert_eq!(c.message, "queue_depth{pool=default} = 0 (== 0) for 10m");
    assert!(set.on_sample(&levels(0, 0), at(2000)).is_empty(), "fires once");
    let resolved = set.on_sample(&levels(3, 1), at(2005));
    assert_eq!(resolved.len(), 1);
    assert!(!resolved[0].firing);
    assert_eq!(resolved[0].message, "queue_depth{pool=default} = 3; no longer == 0");
    assert!(matches!(resolved[0].event(), EventKind::AlertResolved { .. }));
}

#[test]
fn restarts_are_counted_from_events_and_age_out_of_the_window() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let flappy = "[alert.flappy]\nsignal = \"restarts\"\nservice = \"worker\"\nwindow = \"1m\"\nop = \">\"\nvalue = 2\n";
    let mut set = RuleSet::new(&rules(flappy), t0);
    assert!(set.on_event(&backoff("restarting after exited 3"), at(1)).is_empty());
    // A requested restart is not a crash.
    assert!(set.on_event(&backoff("restarting after stopped"), at(2)).is_empty());
    assert!(set.on_event(&backoff("restarting after exited 3"), at(10)).is_empty());
    let fired = set.on_event(&backoff("restarting after signaled SIGKILL"), at(20));
    assert_eq!(fired.len(), 1, "the third restart in 1m fires at once, not at the next sample");
    assert_eq!(fired[0].message, "restarts{service=worker} = 3 in the last 1m (> 2)");
    assert_eq!(fired[0].unit, "worker");
    // Another service's restarts and other events count nothing.
    let mut other = backoff("restarting after exited 1");
    other.unit = "router".into();
    assert!(set.on_event(&other, at(21)).is_empty());
    assert!(set.on_sample(&Levels::default(), at(60)).is_empty(), "3 still within 1m of 60s");
    let resolved = set.on_sample(&Levels::default(), at(62));
    assert_eq!(resolved.len(), 1, "the restart at 1s aged out");
    assert_eq!(resolved[0].message, "restarts{service=worker} = 2 in the last 1m; no longer > 2");
}

#[test]
fn no_success_in_a_window_waits_for_a_whole_window_then_fires_and_resolves() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let none = "[alert.no_selfplay]\nsignal = \"successes\"\ntemplate = \"selfplay\"\nwindow = \"30m\"\nop = \"==\"\nvalue = 0\n";
    let mut set = RuleSet::new(&rules(none), t0);
    assert!(
        set.on_sample(&Levels::default(), at(60)).is_empty(),
        "a daemon up for a minute has not seen 30 minutes without a success"
    );
    assert!(
        set.on_event(&job_end(JobState::Failed), at(100)).is_empty(),
        "a failure is no success"
    );
    let fired = set.on_sample(&Levels::default(), at(1800));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].message, "successes{template=selfplay} = 0 in the last 30m (== 0)");
    let resolved = set.on_event(&job_end(JobState::Succeeded), at(1900));
    assert_eq!(resolved.len(), 1, "a success resolves it at once");
    assert!(!resolved[0].firing);
}

#[test]
fn failures_with_a_for_duration_and_host_levels() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let toml = "[alert.failing]\nsignal = \"failures\"\ntemplate = \"selfplay\"\nwindow = \"10m\"\nop = \">=\"\nvalue = 2\nfor = \"1m\"\n\
                [alert.low]\nsignal = \"headroom_memory\"\nop = \"<\"\nvalue = \"1GiB\"\n\
                [alert.stall]\nsignal = \"psi_io_full\"\nop = \">\"\nvalue = 20\n";
    let mut set = RuleSet::new(&rules(toml), t0);
    assert!(set.reads_host());
    set.on_event(&job_end(JobState::Failed), at(0));
    assert!(set.on_event(&job_end(JobState::Failed), at(5)).is_empty(), "holds, not yet for 1m");
    let mut pressure = stockade_host::Pressure::default();
    pressure.io.full = Some(stockade_host::PsiLine { avg10: 35.0, ..Default::default() });
    let host = HostLevels { memory: Some(512 << 20), tasks: Some(100), pressure: Some(pressure) };
    let sample = Levels { host: Some(host), ..Levels::default() };
    let mut fired = set.on_sample(&sample, at(65));
    fired.sort_by(|a, b| a.alert.cmp(&b.alert));
    let names: Vec<&str> = fired.iter().map(|c| c.alert.as_str()).collect();
    assert_eq!(names, ["failing", "low", "stall"]);
    assert_eq!(fired[1].message, "headroom_memory = 512 MiB (< 1 GiB)");
    assert_eq!(fired[1].unit, "", "a host alert is about no unit");
    assert_eq!(fired[2].message, "psi_io_full = 35% (> 20%)");
    // No host reading: level rules keep their state rather than resolve.
    assert!(set.on_sample(&Levels::default(), at(70)).is_empty());
}

#[test]
fn a_reload_keeps_an_unchanged_firing_rule_resolves_a_removed_one_and_restarts_a_changed_one() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let busy = "[alert.busy]\nsignal = \"running\"\npool = \"default\"\nop = \">\"\nvalue = 0\nfor = \"1m\"\n";
    let deep = |value: u32| {
        format!(
            "[alert.deep]\nsignal = \"queue_depth\"\npool = \"default\"\nop = \">\"\nvalue = {value}\nfor = \"1m\"\n"
        )
    };
    let mut set = RuleSet::new(&rules(&format!("{QUEUE_IDLE}{busy}{}", deep(3))), t0);
    set.on_sample(&levels(5, 2), at(0));
    let fired = set.on_sample(&levels(5, 2), at(60));
    let names: Vec<&str> = fired.iter().map(|c| c.alert.as_str()).collect();
    assert_eq!(names, ["busy", "deep"], "both held for 1m");

    // busy unchanged, deep's value changed, queue_idle removed, flappy added.
    let flappy = "[alert.flappy]\nsignal = \"restarts\"\nservice = \"worker\"\nwindow = \"1m\"\nop = \">\"\nvalue = 0\n";
    let swap = set.reload(&rules(&format!("{busy}{}{flappy}", deep(4))), at(70));
    let resolved: Vec<(&str, &str)> =
        swap.resolved.iter().map(|c| (c.alert.as_str(), c.message.as_str())).collect();
    assert_eq!(
        resolved,
        [(
            "deep",
            "queue_depth{pool=default}: the rule changed in a reload; it is evaluated afresh"
        )],
        "queue_idle was not firing: nothing to resolve"
    );
    assert!(swap.resolved.iter().all(|c| !c.firing));
    assert_eq!(swap.gone, [("queue_idle".to_owned(), "default".to_owned())]);

    // busy keeps firing (no second firing event); deep waits a whole `for` again.
    assert!(set.on_sample(&levels(5, 2), at(71)).is_empty());
    assert!(set.on_sample(&levels(5, 2), at(130)).is_empty(), "deep's clock restarted at 71s");
    let again = set.on_sample(&levels(5, 2), at(131));
    assert_eq!(again.iter().map(|c| c.alert.as_str()).collect::<Vec<_>>(), ["deep"]);
    assert_eq!(again[0].message, "queue_depth{pool=default} = 5 (> 4) for 1m");
    // busy still stands where it stood: it resolves when it breaks.
    let calm = set.on_sample(&levels(0, 0), at(140));
    let resolved: Vec<&str> = calm.iter().filter(|c| !c.firing).map(|c| c.alert.as_str()).collect();
    assert_eq!(resolved, ["busy", "deep"]);

    // The added count rule counts only what it saw: the restart before it was added is not in it.
    let mut set = RuleSet::new(&rules(busy), t0);
    assert!(set.on_event(&backoff("restarting after exited 1"), at(1)).is_empty());
    set.reload(&rules(&format!("{busy}{flappy}")), at(2));
    assert!(set.on_sample(&Levels::default(), at(3)).iter().all(|c| c.alert != "flappy"));
    let fired = set.on_event(&backoff("restarting after exited 1"), at(4));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].message, "restarts{service=worker} = 1 in the last 1m (> 0)");
}

#[test]
fn a_reload_with_the_same_rules_changes_nothing() {
    let t0 = Instant::now();
    let mut set = RuleSet::new(&rules(QUEUE_IDLE), t0);
    set.on_sample(&levels(0, 0), t0);
    let fired = set.on_sample(&levels(0, 0), t0 + Duration::from_secs(600));
    assert_eq!(fired.len(), 1);
    assert_eq!(set.reload(&rules(QUEUE_IDLE), t0 + Duration::from_secs(601)), Swap::default());
    assert!(set.on_sample(&levels(0, 0), t0 + Duration::from_secs(602)).is_empty());
    assert_eq!(set.on_sample(&levels(1, 0), t0 + Duration::from_secs(603)).len(), 1);
}
