//! `[job.NAME]` → [`JobSpec`].

use std::ops::Range;

use stockade_proto::Limits;

use super::table::{Reader, Table};
use super::walls::BoxKeys;
use crate::model::{
    CatchUp, DEFAULT_POOL, JobSpec, OnInterrupt, Overlap, RETRYABLE_CAUSES, Retries, Schedule,
    ScheduleRule, forbidden_submit_env, parse_cron, parse_timezone, valid_env_name,
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
    "every",
    "cron",
    "timezone",
    "overlap",
    "catch_up",
    "args",
];
/// Keys that mean something only beside `every` or `cron`.
const SCHEDULE_ONLY_KEYS: &[&str] = &["timezone", "overlap", "catch_up", "args"];
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
            schedule: self.schedule(t),
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

    /// `every` or `cron` with `timezone`, `overlap`, `catch_up` and `args`.
    fn schedule(&mut self, t: &Table<'_, '_>) -> Option<Schedule> {
        let (every, cron) = (t.get("every"), t.get("cron"));
        if every.is_none() && cron.is_none() {
            for key in SCHEDULE_ONLY_KEYS.iter().filter(|k| t.get(k).is_some()) {
                let problem =
                    Problem::OnlyApplies { key: t.key(key), when: "with `every` or `cron`" };
                self.report(problem, t.span_of(key));
            }
            return None;
        }
        if every.is_some() && cron.is_some() {
            let problem = Problem::Exclusive { key: t.key("cron"), other: "every" };
            self.report(problem, t.span_of("cron"));
            return None;
        }
        let tz_name = self.string(t, "timezone");
        let tz = match &tz_name {
            None => Some(jiff::tz::TimeZone::UTC),
            Some(name) => match parse_timezone(name) {
                Ok(tz) => Some(tz),
                Err(source) => {
                    let key = t.key("timezone");
                    let problem = Problem::BadSchedule { key, value: name.clone(), source };
                    self.report(problem, t.span_of("timezone"));
                    None
                }
            },
        };
        let rule = if every.is_some() {
            if tz_name.is_some() {
                let problem = Problem::OnlyApplies { key: t.key("timezone"), when: "with `cron`" };
                self.report(problem, t.span_of("timezone"));
            }
            ScheduleRule::Every(self.positive_duration(t, "every")?)
        } else {
            let expr = self.string(t, "cron")?;
            // A bad zone is reported already; the expression is still checked (in UTC).
            let zone = tz.clone().unwrap_or(jiff::tz::TimeZone::UTC);
            match parse_cron(&expr, &zone) {
                Ok(_) if tz.is_none() => return None,
                Ok(cron) => ScheduleRule::Cron {
                    expr,
                    cron: Box::new(cron),
                    tz_name: tz_name.unwrap_or_else(|| "UTC".to_owned()),
                    tz: zone,
                },
                Err(source) => {
                    let problem = Problem::BadSchedule { key: t.key("cron"), value: expr, source };
                    self.report(problem, t.span_of("cron"));
                    return None;
                }
            }
        };
        Some(Schedule {
            rule,
            overlap: self
                .choice(t, "overlap", &Overlap::NAMES, Overlap::from_name)
                .unwrap_or_default(),
            catch_up: self
                .choice(t, "catch_up", &CatchUp::NAMES, CatchUp::from_name)
                .unwrap_or_default(),
            args: self.strings(t, "args").unwrap_or_default(),
        })
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
