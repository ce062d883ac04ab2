//! `[job.NAME]` → [`JobSpec`].

use std::ops::Range;

use stockade_proto::Limits;

use super::table::{Reader, Table};
use super::walls::BoxKeys;
use crate::model::{
    DEFAULT_POOL, JobSpec, OnInterrupt, RETRYABLE_CAUSES, Retries, forbidden_submit_env,
    valid_env_name,
};
use crate::problem::Problem;
use crate::suggest::closest;

pub(crate) const JOB_KEYS: &[&str] = &[
    "command",
    "env",
    "cwd",
    "pool",
    "timeout",
    "priority",
    "retries",
    "on_interrupt",
    "limits",
    "isolation",
    "user",
    "network",
    "rootfs",
    "tmp",
    "mounts",
    "env_file",
    "inherit_env",
    "submit_env",
];
pub(crate) const RETRIES_KEYS: &[&str] = &["max", "backoff", "on"];

/// A job as read, with the spans the cross-checks point at.
pub(crate) struct ReadJob {
    pub(crate) spec: JobSpec,
    pub(crate) name_span: Range<usize>,
    /// Where `pool` is written (the table header when it is implicit).
    pub(crate) pool_span: Range<usize>,
}

impl Reader<'_> {
    pub(crate) fn job(
        &mut self,
        t: &Table<'_, '_>,
        name: &str,
        defaults: &Limits,
        box_defaults: &BoxKeys,
    ) -> ReadJob {
        let command = self.command(t, "command");
        if command.is_none() && t.get("command").is_none() {
            self.report(Problem::MissingKey { table: t.display(), key: "command" }, t.span.clone());
        }
        let command = command.unwrap_or_default();
        let env = self.string_map(t, "env");
        let unit_box =
            self.unit_box(t, box_defaults, &command, env.get("PATH").map(String::as_str));
        let spec = JobSpec {
            name: name.to_owned(),
            command,
            env,
            cwd: self.path(t, "cwd"),
            pool: self.string(t, "pool").unwrap_or_else(|| DEFAULT_POOL.to_owned()),
            timeout: self.positive_duration(t, "timeout"),
            priority: self.i32(t, "priority").unwrap_or(0),
            retries: self.retries(t),
            on_interrupt: self
                .choice(t, "on_interrupt", &OnInterrupt::NAMES, OnInterrupt::from_name)
                .unwrap_or_default(),
            limits: self.limits(t, "limits").apply(defaults),
            isolation: unit_box.isolation,
            env_file: unit_box.env_file,
            inherit_env: unit_box.inherit_env,
            submit_env: self.submit_env(t),
        };
        self.walled_pids(t, &spec.limits, &spec.isolation);
        ReadJob { spec, name_span: t.span.clone(), pool_span: t.span_of("pool") }
    }

    /// `submit_env`: variable names, none of which picks the code that runs.
    fn submit_env(&mut self, t: &Table<'_, '_>) -> Vec<String> {
        let Some(names) = self.strings(t, "submit_env") else { return Vec::new() };
        let mut allowed = Vec::new();
        for name in names {
            let key = t.key("submit_env");
            let problem = if !valid_env_name(&name) {
                Problem::BadEnvName { key, value: name, expected: "a variable name" }
            } else if let Some(reason) = forbidden_submit_env(&name) {
                Problem::ForbiddenSubmitEnv { key, name, reason }
            } else {
                allowed.push(name);
                continue;
            };
            self.report(problem, t.span_of("submit_env"));
        }
        allowed
    }

    fn retries(&mut self, t: &Table<'_, '_>) -> Retries {
        let mut retries = Retries::default();
        let Some(r) = self.sub(t, "retries", RETRIES_KEYS) else { return retries };
        retries.max = self.u32(&r, "max").unwrap_or(retries.max);
        retries.backoff = self.duration(&r, "backoff").unwrap_or(retries.backoff);
        if let Some(kinds) = self.strings(&r, "on") {
            let items = r.get("on").and_then(|v| v.get_ref().as_array());
            let spans: Vec<Range<usize>> =
                items.map(|a| a.iter().map(|i| i.span()).collect()).unwrap_or_default();
            for (kind, span) in kinds.iter().zip(spans) {
                if !RETRYABLE_CAUSES.contains(&kind.as_str()) {
                    let problem = Problem::UnknownValue {
                        key: r.key("on"),
                        value: kind.clone(),
                        suggestion: closest(kind, RETRYABLE_CAUSES),
                        valid: &RETRYABLE_CAUSES,
                    };
                    self.report(problem, span);
                }
            }
            retries.on = kinds;
        }
        retries
    }
}
