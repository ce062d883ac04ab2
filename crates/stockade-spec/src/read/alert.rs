//! `[alert.NAME]` → [`AlertSpec`], checked against the units the spec declares.

use toml::de::DeValue;

use super::table::{Reader, Table};
use crate::model::{ALERT_OPS, ALERT_SIGNAL_NAMES, AlertOp, AlertSignal, AlertSpec, SignalNeeds};
use crate::problem::Problem;
use crate::size::parse_size;
use crate::suggest::closest;

pub(crate) const ALERT_KEYS: &[&str] =
    &["signal", "pool", "service", "template", "window", "op", "value", "for"];

/// The names a rule's label may take, from the rest of the spec.
pub(crate) struct Targets<'s> {
    pub(crate) pools: Vec<&'s str>,
    pub(crate) services: Vec<&'s str>,
    pub(crate) templates: Vec<&'s str>,
}

/// Each label key, the signals that take it, and in words when it applies.
const LABELS: [(&str, SignalNeeds, &str); 3] = [
    ("pool", SignalNeeds::Pool, "with signal = \"queue_depth\" or \"running\""),
    ("template", SignalNeeds::Template, "with signal = \"failures\" or \"successes\""),
    ("service", SignalNeeds::Service, "with signal = \"restarts\""),
];

impl Reader<'_> {
    pub(crate) fn alert(
        &mut self,
        name: &str,
        t: &Table<'_, '_>,
        targets: &Targets<'_>,
    ) -> Option<AlertSpec> {
        let Some(signal_name) = self.string(t, "signal") else {
            if t.get("signal").is_none() {
                let problem = Problem::MissingKey { table: t.display(), key: "signal" };
                self.report(problem, t.span.clone());
            }
            return None;
        };
        let Some(needs) = AlertSignal::needs(&signal_name) else {
            let problem = Problem::UnknownValue {
                key: t.key("signal"),
                suggestion: closest(&signal_name, ALERT_SIGNAL_NAMES.iter().copied()),
                value: signal_name,
                valid: ALERT_SIGNAL_NAMES,
            };
            self.report(problem, t.span_of("signal"));
            return None;
        };
        let mut ok = true;
        let mut label = None;
        for (key, takes, when) in LABELS {
            if takes == needs {
                label = self.label(t, key, &signal_name, targets);
                ok &= label.is_some();
            } else if t.get(key).is_some() {
                self.report(Problem::OnlyApplies { key: t.key(key), when }, t.span_of(key));
                ok = false;
            }
        }
        let signal = AlertSignal::new(&signal_name, label)?;
        let window = if signal.is_count() {
            let window = self.positive_duration(t, "window");
            if window.is_none() && t.get("window").is_none() {
                let problem = Problem::MissingKey { table: t.display(), key: "window" };
                self.report(problem, t.span.clone());
            }
            ok &= window.is_some();
            window
        } else {
            if t.get("window").is_some() {
                let when = "with a count signal (failures, successes, restarts)";
                self.report(
                    Problem::OnlyApplies { key: t.key("window"), when },
                    t.span_of("window"),
                );
                ok = false;
            }
            None
        };
        let op = match t.get("op") {
            Some(_) => self.choice(t, "op", ALERT_OPS, AlertOp::parse),
            None => {
                self.report(Problem::MissingKey { table: t.display(), key: "op" }, t.span.clone());
                None
            }
        };
        let value = self.threshold(t, &signal);
        let for_ = match t.get("for") {
            Some(_) => self.duration(t, "for"),
            None => Some(std::time::Duration::ZERO),
        };
        if !ok {
            return None;
        }
        Some(AlertSpec {
            name: name.to_owned(),
            signal,
            op: op?,
            value: value?,
            window,
            for_: for_?,
        })
    }

    /// The label `key`, which must name one of its kind in the spec.
    fn label(
        &mut self,
        t: &Table<'_, '_>,
        key: &'static str,
        signal: &str,
        targets: &Targets<'_>,
    ) -> Option<String> {
        let (kind, known) = match key {
            "pool" => ("pool", &targets.pools),
            "service" => ("service", &targets.services),
            _ => ("job template", &targets.templates),
        };
        let Some(name) = self.string(t, key) else {
            if t.get(key).is_none() {
                let problem = Problem::MissingAlertLabel {
                    table: t.display(),
                    signal: signal.to_owned(),
                    key,
                    valid: known.iter().map(|s| s.to_string()).collect(),
                };
                self.report(problem, t.span.clone());
            }
            return None;
        };
        if known.contains(&name.as_str()) {
            return Some(name);
        }
        let problem = Problem::UnknownAlertTarget {
            key: t.key(key),
            kind,
            suggestion: closest(&name, known.iter().copied()).map(str::to_owned),
            valid: known.iter().map(|s| s.to_string()).collect(),
            name,
        };
        self.report(problem, t.span_of(key));
        None
    }

    /// `value`: a number, or for `headroom_memory` also a size (`"1GiB"`).
    fn threshold(&mut self, t: &Table<'_, '_>, signal: &AlertSignal) -> Option<f64> {
        let Some(value) = t.get("value") else {
            self.report(Problem::MissingKey { table: t.display(), key: "value" }, t.span.clone());
            return None;
        };
        if *signal == AlertSignal::HeadroomMemory
            && let DeValue::String(text) = value.get_ref()
        {
            return match parse_size(text) {
                Ok(n) => Some(n as f64),
                Err(source) => {
                    let problem =
                        Problem::BadSize { key: t.key("value"), text: text.to_string(), source };
                    self.report(problem, value.span());
                    None
                }
            };
        }
        self.number(t, "value")
    }
}
