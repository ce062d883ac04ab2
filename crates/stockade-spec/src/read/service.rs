//! `[service.NAME]` → [`ServiceSpec`].

use std::ops::Range;

use stockade_proto::Limits;

use super::table::{Reader, Table};
use super::walls::BoxKeys;
use crate::model::{
    Backoff, Dependency, DependsOn, RestartPolicy, ServiceSpec, StartLimit, StopSpec,
};
use crate::problem::Problem;
use crate::replica::check_placeholders;
use crate::suggest::closest;
use stockade_linux::Signal;

pub(crate) const SERVICE_KEYS: &[&str] = &[
    "command",
    "env",
    "cwd",
    "restart",
    "exit_codes",
    "backoff",
    "start_limit",
    "stop",
    "readiness",
    "liveness",
    "limits",
    "replicas",
    "depends_on",
    "isolation",
    "user",
    "network",
    "rootfs",
    "tmp",
    "mounts",
    "env_file",
    "inherit_env",
];
pub(crate) const BACKOFF_KEYS: &[&str] = &["initial", "max", "factor", "jitter"];
pub(crate) const START_LIMIT_KEYS: &[&str] = &["burst", "interval"];
pub(crate) const STOP_KEYS: &[&str] = &["signal", "grace"];

/// A service as read, with the spans the dependency checks point at.
pub(crate) struct ReadService {
    pub(crate) spec: ServiceSpec,
    pub(crate) name_span: Range<usize>,
    /// Span of each `depends_on` key, parallel to `spec.depends_on`.
    pub(crate) dependency_spans: Vec<Range<usize>>,
}

impl Reader<'_> {
    pub(crate) fn service(
        &mut self,
        t: &Table<'_, '_>,
        name: &str,
        defaults: &Limits,
        box_defaults: &BoxKeys,
    ) -> ReadService {
        let replicas = self.count(t, "replicas").unwrap_or(1);
        let command = self.command(t, "command");
        if command.is_none() && t.get("command").is_none() {
            self.report(Problem::MissingKey { table: t.display(), key: "command" }, t.span.clone());
        }
        let command = command.unwrap_or_default();
        let env = self.string_map(t, "env");
        self.placeholders(t, "command", command.iter());
        self.placeholders(t, "env", env.values());
        let (depends_on, dependency_spans) = self.depends_on(t);
        let unit_box =
            self.unit_box(t, box_defaults, &command, env.get("PATH").map(String::as_str));
        let spec = ServiceSpec {
            name: name.to_owned(),
            command,
            env,
            cwd: self.path(t, "cwd"),
            restart: self
                .choice(t, "restart", &RestartPolicy::NAMES, RestartPolicy::from_name)
                .unwrap_or(RestartPolicy::OnFailure),
            exit_codes: self.exit_codes(t),
            backoff: self.backoff(t),
            start_limit: self.start_limit(t),
            stop: self.stop(t),
            readiness: self.probe(t, "readiness", replicas),
            liveness: self.probe(t, "liveness", replicas),
            limits: self.limits(t, "limits").apply(defaults),
            replicas,
            depends_on,
            isolation: unit_box.isolation,
            env_file: unit_box.env_file,
            inherit_env: unit_box.inherit_env,
        };
        self.walled_pids(t, &spec.limits, &spec.isolation);
        ReadService { spec, name_span: t.span.clone(), dependency_spans }
    }

    fn placeholders<'s>(
        &mut self,
        t: &Table<'_, '_>,
        key: &str,
        texts: impl Iterator<Item = &'s String>,
    ) {
        for text in texts {
            if let Err(source) = check_placeholders(text) {
                self.report(Problem::BadPlaceholder { key: t.key(key), source }, t.span_of(key));
            }
        }
    }

    fn exit_codes(&mut self, t: &Table<'_, '_>) -> Vec<i32> {
        let Some(value) = t.get("exit_codes") else { return vec![0] };
        let Some(items) = value.get_ref().as_array() else {
            let found = value.get_ref().type_str();
            let problem = Problem::WrongType {
                key: t.key("exit_codes"),
                expected: "an array of integers",
                found,
            };
            self.report(problem, value.span());
            return vec![0];
        };
        let mut codes = Vec::new();
        for item in items.iter() {
            let code = item
                .get_ref()
                .as_integer()
                .and_then(|i| i32::from_str_radix(i.as_str(), i.radix()).ok())
                .filter(|c| (0..=255).contains(c));
            match code {
                Some(c) => codes.push(c),
                None => {
                    let problem = Problem::OutOfRange {
                        key: t.key("exit_codes"),
                        value: literal(item.get_ref()),
                        expected: "a list of exit statuses from 0 to 255".to_owned(),
                    };
                    self.report(problem, item.span());
                }
            }
        }
        if items.is_empty() {
            self.out_of_range(t, "exit_codes", "[]", "at least one exit status");
        }
        codes
    }

    fn backoff(&mut self, t: &Table<'_, '_>) -> Backoff {
        let mut backoff = Backoff::default();
        let Some(b) = self.sub(t, "backoff", BACKOFF_KEYS) else { return backoff };
        backoff.initial = self.positive_duration(&b, "initial").unwrap_or(backoff.initial);
        backoff.max = self.positive_duration(&b, "max").unwrap_or(backoff.max);
        if backoff.max < backoff.initial {
            self.out_of_range(&b, "max", format!("{:?}", backoff.max), "at least `initial`");
        }
        if let Some(factor) = self.number(&b, "factor") {
            if factor < 1.0 {
                self.out_of_range(&b, "factor", factor, "at least 1.0");
            } else {
                backoff.factor = factor;
            }
        }
        if let Some(jitter) = self.number(&b, "jitter") {
            if !(0.0..=1.0).contains(&jitter) {
                self.out_of_range(&b, "jitter", jitter, "from 0.0 to 1.0");
            } else {
                backoff.jitter = jitter;
            }
        }
        backoff
    }

    fn start_limit(&mut self, t: &Table<'_, '_>) -> StartLimit {
        let mut limit = StartLimit::default();
        let Some(s) = self.sub(t, "start_limit", START_LIMIT_KEYS) else { return limit };
        limit.burst = self.count(&s, "burst").unwrap_or(limit.burst);
        limit.interval = self.positive_duration(&s, "interval").unwrap_or(limit.interval);
        limit
    }

    fn stop(&mut self, t: &Table<'_, '_>) -> StopSpec {
        let mut stop = StopSpec::default();
        let Some(s) = self.sub(t, "stop", STOP_KEYS) else { return stop };
        if let Some(name) = self.string(&s, "signal") {
            match Signal::from_name(&name) {
                Some(signal) => {
                    stop.signal = signal.number();
                    stop.signal_name = signal.name().to_owned();
                }
                None => {
                    let upper = name.to_ascii_uppercase();
                    let suggestion =
                        closest(&upper, Signal::all().map(Signal::name)).or_else(|| {
                            closest(&format!("SIG{upper}"), Signal::all().map(Signal::name))
                        });
                    let problem =
                        Problem::UnknownSignal { key: s.key("signal"), value: name, suggestion };
                    self.report(problem, s.span_of("signal"));
                }
            }
        }
        stop.grace = self.duration(&s, "grace").unwrap_or(stop.grace);
        stop
    }

    fn depends_on(&mut self, t: &Table<'_, '_>) -> (Vec<Dependency>, Vec<Range<usize>>) {
        let (mut deps, mut spans) = (Vec::new(), Vec::new());
        let Some(value) = t.get("depends_on") else { return (deps, spans) };
        if value.get_ref().as_table().is_none() {
            let found = value.get_ref().type_str();
            let expected = "a table such as { db = \"ready\" }";
            self.report(
                Problem::WrongType { key: t.key("depends_on"), expected, found },
                value.span(),
            );
            return (deps, spans);
        }
        let Some(d) = self.sub_map(t, "depends_on") else { return (deps, spans) };
        for (service, span, _) in d.entries() {
            let condition = self.choice(&d, service, &DependsOn::NAMES, DependsOn::from_name);
            if let Some(condition) = condition {
                deps.push(Dependency { service: service.to_owned(), condition });
                spans.push(span);
            }
        }
        (deps, spans)
    }
}

fn literal(value: &toml::de::DeValue<'_>) -> String {
    match value.as_integer() {
        Some(i) => i.to_string(),
        None => value.type_str().to_owned(),
    }
}
