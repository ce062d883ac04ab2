//! Alert rules (`[alert.NAME]`) and the leak detector, evaluated on injected
//! time so every decision is unit-testable.
//!
//! - [`RuleSet`] holds one [`Rule`] per `[alert.NAME]`. A *count* signal
//!   (restarts, job failures and successes) is fed from the engine's event
//!   broadcast ([`RuleSet::on_event`]) and fires the moment an event tips it;
//!   a *level* signal (queue depth, running count, headroom, PSI) is fed from
//!   the monitor's samples ([`RuleSet::on_sample`]), which also age the count
//!   windows. A rule fires once its comparison has held for `for`, and
//!   resolves when it stops holding.
//! - `leak` ([`leak::LeakWatch`]) keeps a memory trend per service replica
//!   (`trend`: Theil–Sen slope, Mann–Kendall significance) and fires
//!   `memory_leak` when the trend reaches the replica's memory limit within
//!   `[monitor] leak_horizon`.
//! - `board` ([`board::AlertBoard`]) is what is firing now, shared with
//!   `/api/status` and `/metrics`.
//!
//! Every change is a [`Change`]: the monitor records it as an `alert_firing`
//! or `alert_resolved` event (journaled, streamed, sent to the webhook) and
//! updates the board.
//!
//! A reload hands the new rules to [`RuleSet::reload`]: a rule whose
//! definition did not change keeps where it stands (firing, its `for`
//! clock); an added or changed one starts afresh; a removed or changed one
//! that was firing resolves.

pub(crate) mod board;
mod count;
pub(crate) mod leak;
mod trend;

use count::Counts;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use stockade_proto::{Event, EventKind, JobState};
use stockade_spec::{AlertSignal, AlertSpec, PsiResource};

/// An alert that started or stopped firing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    /// The rule's name, or `memory_leak`.
    pub alert: String,
    /// What it is about: a service, template or pool, `worker[0]`, or `""`.
    pub unit: String,
    /// True: started firing; false: resolved.
    pub firing: bool,
    /// What holds (or no longer holds), with the numbers.
    pub message: String,
}

impl Change {
    /// The event to journal.
    pub(crate) fn event(&self) -> EventKind {
        let (alert, message) = (self.alert.clone(), self.message.clone());
        if self.firing {
            EventKind::AlertFiring { alert, message }
        } else {
            EventKind::AlertResolved { alert, message }
        }
    }
}

/// The host's levels at one sample (from the daemon's host sampler).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct HostLevels {
    /// Memory free above `reserve_memory`, bytes.
    pub memory: Option<u64>,
    /// Tasks free above `reserve_tasks`.
    pub tasks: Option<u64>,
    /// `/proc/pressure`, when the kernel has PSI.
    pub pressure: Option<stockade_host::Pressure>,
}

/// The levels one sample gives the rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Levels {
    /// Per pool: (queued, running).
    pub pools: BTreeMap<String, (u64, u64)>,
    /// The host, if it has been read.
    pub host: Option<HostLevels>,
}

/// One rule and where it stands.
#[derive(Debug)]
struct Rule {
    spec: AlertSpec,
    /// When it started watching (the daemon's start, or the reload that
    /// added or changed it): its count window is full only after it, and
    /// it counts no event before it.
    since: Instant,
    /// Since when the comparison has held without a break.
    holding_since: Option<Instant>,
    firing: bool,
}

impl Rule {
    fn new(spec: &AlertSpec, now: Instant) -> Rule {
        Rule { spec: spec.clone(), since: now, holding_since: None, firing: false }
    }

    fn key(&self) -> (String, String) {
        (self.spec.name.clone(), self.spec.signal.unit().to_owned())
    }
}

/// What a reload of the rules ended.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Swap {
    /// A resolution for every removed or changed rule that was firing.
    pub resolved: Vec<Change>,
    /// (alert, unit) of the rules that are gone, for the board to forget.
    pub gone: Vec<(String, String)>,
}

/// Every `[alert.NAME]` rule.
#[derive(Debug)]
pub(crate) struct RuleSet {
    rules: Vec<Rule>,
    counts: Counts,
}

impl RuleSet {
    pub(crate) fn new(specs: &[AlertSpec], now: Instant) -> RuleSet {
        let rules = specs.iter().map(|spec| Rule::new(spec, now)).collect();
        RuleSet { rules, counts: Counts::new(longest(specs)) }
    }

    /// Whether there is no rule at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Take `specs` in place of the current rules at `now` (a reload),
    /// matched by name: an unchanged rule keeps its state; an added or
    /// changed one starts afresh from `now`; a removed or changed one that
    /// was firing resolves, saying why.
    pub(crate) fn reload(&mut self, specs: &[AlertSpec], now: Instant) -> Swap {
        let mut old: BTreeMap<String, Rule> =
            self.rules.drain(..).map(|r| (r.spec.name.clone(), r)).collect();
        let mut swap = Swap::default();
        let mut end = |rule: &Rule, why: &str, gone: bool| {
            if rule.firing {
                let message = format!("{}: {why}", rule.spec.signal);
                swap.resolved.push(change(&rule.spec, false, message));
            }
            if gone {
                swap.gone.push(rule.key());
            }
        };
        for spec in specs {
            let rule = match old.remove(&spec.name) {
                Some(rule) if rule.spec == *spec => rule,
                Some(rule) => {
                    let moved = rule.spec.signal.unit() != spec.signal.unit();
                    end(&rule, "the rule changed in a reload; it is evaluated afresh", moved);
                    Rule::new(spec, now)
                }
                None => Rule::new(spec, now),
            };
            self.rules.push(rule);
        }
        for rule in old.values() {
            end(rule, "the rule was removed in a reload", true);
        }
        self.counts.keep_for(longest(specs));
        swap
    }

    /// Whether any rule reads the host (so the host must be sampled).
    pub(crate) fn reads_host(&self) -> bool {
        self.rules.iter().any(|r| {
            matches!(
                r.spec.signal,
                AlertSignal::HeadroomMemory | AlertSignal::HeadroomPids | AlertSignal::Psi { .. }
            )
        })
    }

    /// Count `event` if a rule counts its kind, and evaluate the rules it
    /// touches at `now`.
    pub(crate) fn on_event(&mut self, event: &Event, now: Instant) -> Vec<Change> {
        let Some(signal) = counted(event) else { return Vec::new() };
        if !self.rules.iter().any(|r| r.spec.signal == signal) {
            return Vec::new();
        }
        self.counts.add(signal.clone(), now);
        let mut changes = Vec::new();
        for i in 0..self.rules.len() {
            if self.rules[i].spec.signal == signal {
                changes.extend(self.evaluate(i, None, now));
            }
        }
        changes
    }

    /// Evaluate every rule at `now`: level rules against `levels`, count
    /// rules against their windows (which age here).
    pub(crate) fn on_sample(&mut self, levels: &Levels, now: Instant) -> Vec<Change> {
        self.counts.expire(now);
        (0..self.rules.len()).filter_map(|i| self.evaluate(i, Some(levels), now)).collect()
    }

    /// Evaluate rule `i`; a level rule only with `levels`.
    fn evaluate(&mut self, i: usize, levels: Option<&Levels>, now: Instant) -> Option<Change> {
        let rule = &self.rules[i];
        let spec = &rule.spec;
        let value = match (spec.window, levels) {
            (Some(window), _) => {
                let n = self.counts.within(&spec.signal, window, rule.since, now) as f64;
                // Before a whole window has been watched, a count can only
                // be trusted where more watching could only raise it.
                let proven = now.duration_since(rule.since) >= window
                    || matches!(spec.op, stockade_spec::AlertOp::Gt | stockade_spec::AlertOp::Ge);
                if !proven && spec.op.holds(n, spec.value) {
                    return None;
                }
                n
            }
            (None, Some(levels)) => level(&spec.signal, levels)?,
            (None, None) => return None,
        };
        let holds = spec.op.holds(value, spec.value);
        let rule = &mut self.rules[i];
        if !holds {
            rule.holding_since = None;
            if !rule.firing {
                return None;
            }
            rule.firing = false;
            let signal = &rule.spec.signal;
            let message = format!(
                "{signal} = {}{}; no longer {} {}",
                show(signal, value),
                over(&rule.spec),
                rule.spec.op.as_str(),
                show(signal, rule.spec.value)
            );
            return Some(change(&rule.spec, false, message));
        }
        let since = *rule.holding_since.get_or_insert(now);
        if rule.firing || now.duration_since(since) < rule.spec.for_ {
            return None;
        }
        rule.firing = true;
        let held = if rule.spec.for_.is_zero() {
            String::new()
        } else {
            format!(" for {}", human(rule.spec.for_))
        };
        let signal = &rule.spec.signal;
        let message = format!(
            "{signal} = {}{} ({} {}){held}",
            show(signal, value),
            over(&rule.spec),
            rule.spec.op.as_str(),
            show(signal, rule.spec.value)
        );
        Some(change(&rule.spec, true, message))
    }
}

/// The longest window of `specs`: how long events are kept.
fn longest(specs: &[AlertSpec]) -> Duration {
    specs.iter().filter_map(|s| s.window).max().unwrap_or_default()
}

fn change(spec: &AlertSpec, firing: bool, message: String) -> Change {
    Change { alert: spec.name.clone(), unit: spec.signal.unit().to_owned(), firing, message }
}

/// " in the last 1h" for a count rule.
fn over(spec: &AlertSpec) -> String {
    spec.window.map(|w| format!(" in the last {}", human(w))).unwrap_or_default()
}

/// The counted signal an event adds one to, if any: a replica going to
/// `backoff` to restart (a requested restart after a stop is not counted), a
/// job ending `succeeded` or `failed`.
fn counted(event: &Event) -> Option<AlertSignal> {
    if let Some((service, _)) = super::restarts::restart_of(event) {
        return Some(AlertSignal::Restarts { service: service.to_owned() });
    }
    let unit = event.unit.clone();
    match &event.kind {
        EventKind::JobState { state: JobState::Succeeded, .. } => {
            Some(AlertSignal::Successes { template: unit })
        }
        EventKind::JobState { state: JobState::Failed, .. } => {
            Some(AlertSignal::Failures { template: unit })
        }
        _ => None,
    }
}

/// The value of a level signal, when this sample knows it.
fn level(signal: &AlertSignal, levels: &Levels) -> Option<f64> {
    let host = levels.host.as_ref();
    let psi = |resource: PsiResource, full: bool| {
        let p = host?.pressure?;
        let r = match resource {
            PsiResource::Cpu => p.cpu,
            PsiResource::Memory => p.memory,
            PsiResource::Io => p.io,
        };
        if full { r.full.map(|l| l.avg10) } else { Some(r.some.avg10) }
    };
    match signal {
        AlertSignal::QueueDepth { pool } => levels.pools.get(pool).map(|(q, _)| *q as f64),
        AlertSignal::Running { pool } => levels.pools.get(pool).map(|(_, r)| *r as f64),
        AlertSignal::HeadroomMemory => host?.memory.map(|b| b as f64),
        AlertSignal::HeadroomPids => host?.tasks.map(|n| n as f64),
        AlertSignal::Psi { resource, full } => psi(*resource, *full),
        _ => None,
    }
}

/// A value of `signal` as a person reads it: `3`, `512 MiB`, `12.5%`.
fn show(signal: &AlertSignal, n: f64) -> String {
    match signal {
        AlertSignal::HeadroomMemory => leak::size(n.max(0.0) as u64),
        AlertSignal::Psi { .. } => format!("{}%", number(n)),
        _ => number(n),
    }
}

/// A number as a person writes it: `3`, `0.5`.
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n:.2}") }
}

/// "1h", "10m", "90s", "250ms".
pub(crate) fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match () {
        _ if d.subsec_millis() != 0 || secs == 0 => format!("{}ms", d.as_millis()),
        _ if secs.is_multiple_of(3600) => format!("{}h", secs / 3600),
        _ if secs.is_multiple_of(60) => format!("{}m", secs / 60),
        _ => format!("{secs}s"),
    }
}

#[cfg(test)]
mod tests;
