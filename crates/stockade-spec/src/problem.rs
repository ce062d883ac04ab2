//! [`Problem`]: everything that can be wrong with a spec, one variant each.

use std::path::PathBuf;

use crate::duration::DurationError;
use crate::replica::PlaceholderError;
use crate::size::SizeError;

/// One thing wrong with a spec. Keys are written as dotted paths
/// (`service.web.backoff.factor`) so a message stands on its own; where in the
/// file it is comes from the [`crate::SpecDiagnostic`] that carries it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The spec path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("invalid TOML: {message}")]
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// A key that has no meaning at its position.
    #[error("unknown key `{key}` in {table}")]
    UnknownKey {
        /// The table it appears in, as `[service.web]` or `the top level`.
        table: String,
        /// The key as written.
        key: String,
        /// The closest valid key, if any is close.
        suggestion: Option<String>,
        /// Every valid key at that position.
        valid: Vec<&'static str>,
    },
    /// A required key is missing.
    #[error("{table} has no `{key}`")]
    MissingKey {
        /// The table, as `[service.web]`.
        table: String,
        /// The missing key.
        key: &'static str,
    },
    /// A value of the wrong TOML type.
    #[error("`{key}` must be {expected}, not {found}")]
    WrongType {
        /// Dotted key.
        key: String,
        /// What it must be.
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A string where an array of strings belongs.
    #[error("`{key}` must be an array of strings, not a single string")]
    CommandNotArray {
        /// Dotted key.
        key: String,
        /// The string split on whitespace, for the hint.
        words: Vec<String>,
    },
    /// An empty command or an empty program name.
    #[error("`{key}` is empty")]
    EmptyCommand {
        /// Dotted key.
        key: String,
    },
    /// A duration that does not parse.
    #[error("invalid duration \"{text}\" for `{key}`")]
    BadDuration {
        /// Dotted key.
        key: String,
        /// The text.
        text: String,
        /// What is wrong with it.
        #[source]
        source: DurationError,
    },
    /// A size that does not parse.
    #[error("invalid size \"{text}\" for `{key}`")]
    BadSize {
        /// Dotted key.
        key: String,
        /// The text.
        text: String,
        /// What is wrong with it.
        #[source]
        source: SizeError,
    },
    /// A number or duration outside its sensible range.
    #[error("`{key}` must be {expected}, got {value}")]
    OutOfRange {
        /// Dotted key.
        key: String,
        /// The value as written.
        value: String,
        /// The allowed range in words, e.g. "at least 1MiB".
        expected: String,
    },
    /// A walled unit whose `pids` leaves no room beside the box's init.
    #[error(
        "`{key}` = {pids} leaves no room for the agent: a walled box's init (pid 1 inside) counts as one of its pids"
    )]
    PidsBelowInit {
        /// Dotted key.
        key: String,
        /// The limit.
        pids: u64,
    },
    /// A `cron` expression or `timezone` that cannot be used.
    #[error("`{key}` cannot be \"{value}\": {source}")]
    BadSchedule {
        /// Dotted key.
        key: String,
        /// The text as written.
        value: String,
        /// What is wrong with it.
        #[source]
        source: crate::ScheduleError,
    },
    /// Two keys of which at most one may be given (`every` and `cron`).
    #[error("`{key}` and `{other}` cannot both be set")]
    Exclusive {
        /// Dotted key of the one pointed at.
        key: String,
        /// The other key, as written.
        other: &'static str,
    },
    /// A key that means nothing given the other keys of its table.
    #[error("`{key}` only applies {when}")]
    OnlyApplies {
        /// Dotted key.
        key: String,
        /// When it would apply.
        when: &'static str,
    },
    /// A string that is not one of a fixed set (`restart`, conditions, cause kinds).
    #[error("`{key}` cannot be \"{value}\"")]
    UnknownValue {
        /// Dotted key.
        key: String,
        /// The value as written.
        value: String,
        /// The closest valid value, if any is close.
        suggestion: Option<&'static str>,
        /// Every valid value.
        valid: &'static [&'static str],
    },
    /// An unknown signal name.
    #[error("unknown signal \"{value}\" for `{key}`")]
    UnknownSignal {
        /// Dotted key.
        key: String,
        /// The value as written.
        value: String,
        /// The closest signal name, if any is close.
        suggestion: Option<&'static str>,
    },
    /// A service, job or pool name with characters other than `[A-Za-z0-9_-]`.
    #[error("invalid name \"{name}\"")]
    BadName {
        /// The name.
        name: String,
    },
    /// The same name used for a service and a job.
    #[error("`{name}` is both a service and a job")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// `depends_on` names a service that does not exist.
    #[error("service `{service}` depends on `{dependency}`, which is not a service")]
    UnknownDependency {
        /// The dependent.
        service: String,
        /// The unknown name.
        dependency: String,
        /// The closest service name, if any is close.
        suggestion: Option<String>,
    },
    /// `depends_on` names a job template.
    #[error("service `{service}` depends on `{dependency}`, which is a job, not a service")]
    DependsOnJob {
        /// The dependent.
        service: String,
        /// The job's name.
        dependency: String,
    },
    /// A service that depends on itself.
    #[error("service `{service}` depends on itself")]
    SelfDependency {
        /// The service.
        service: String,
    },
    /// Services that depend on each other in a circle.
    #[error("dependency cycle: {}", cycle.join(" → "))]
    DependencyCycle {
        /// The services in the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A probe with zero or several of `exec`, `http`, `tcp`.
    #[error("`{key}` must have exactly one of exec, http, tcp; found {found}")]
    ProbeKind {
        /// Dotted key of the probe.
        key: String,
        /// What was found, in words ("none", "exec and http").
        found: String,
    },
    /// An http probe URL stockade cannot probe.
    #[error("`{key}` = \"{url}\" is not a plain http:// URL: {reason}")]
    BadProbeUrl {
        /// Dotted key.
        key: String,
        /// The URL (expanded for the replica that failed, if templated).
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A tcp probe address that is not `HOST:PORT`.
    #[error("`{key}` = \"{value}\" is not HOST:PORT: {reason}")]
    BadProbeAddress {
        /// Dotted key.
        key: String,
        /// The address.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A malformed or misplaced `{replica}` placeholder.
    #[error("bad placeholder in `{key}`")]
    BadPlaceholder {
        /// Dotted key.
        key: String,
        /// What is wrong.
        #[source]
        source: PlaceholderError,
    },
    /// A job names a pool the spec does not declare.
    #[error("job `{job}` uses pool `{pool}`, which is not declared")]
    UnknownPool {
        /// The job.
        job: String,
        /// The pool name.
        pool: String,
        /// The closest declared pool, if any is close.
        suggestion: Option<String>,
    },
    /// An alert rule whose label names no pool, service or job template of the spec.
    #[error("`{key}` = \"{name}\" is not a {kind} of this spec")]
    UnknownAlertTarget {
        /// Dotted key.
        key: String,
        /// `pool`, `service` or `job template`.
        kind: &'static str,
        /// The name as written.
        name: String,
        /// The closest declared name, if any is close.
        suggestion: Option<String>,
        /// Every declared name of that kind.
        valid: Vec<String>,
    },
    /// An alert rule whose signal needs a label it does not have.
    #[error("{table} watches `{signal}`, which is per {key}, but has no `{key}`")]
    MissingAlertLabel {
        /// The table, as `[alert.NAME]`.
        table: String,
        /// The signal.
        signal: String,
        /// `pool`, `service` or `template`.
        key: &'static str,
        /// Every declared name of that kind.
        valid: Vec<String>,
    },
    /// A `listen` entry that is not `unix:PATH` or `tcp:IP:PORT`.
    #[error("invalid listen address \"{value}\": {reason}")]
    BadListen {
        /// The entry.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// TCP (loopback included) without a token.
    #[error("listening on {value} requires a token")]
    TokenRequired {
        /// The listen entry.
        value: String,
    },
    /// More than one of `token`, `token_env` and `token_file` is set.
    #[error("[daemon] sets more than one of `token`, `token_env` and `token_file`")]
    TokenConflict,
    /// `token_env` names an unset variable.
    #[error("token_env names ${var}, which is not set")]
    TokenEnvUnset {
        /// The variable.
        var: String,
    },
    /// `rootfs` is missing or not a directory.
    #[error("rootfs {} for `{key}` {reason}", path.display())]
    BadRootfs {
        /// Dotted key.
        key: String,
        /// The resolved directory.
        path: PathBuf,
        /// `does not exist`, `is not a directory`, …
        reason: String,
    },
    /// A command that the box's root filesystem does not have.
    #[error("`{program}` is not in the rootfs {}: searched {searched}", rootfs.display())]
    ProgramNotInRootfs {
        /// Dotted key of the command.
        key: String,
        /// The program as written.
        program: String,
        /// The rootfs.
        rootfs: PathBuf,
        /// The directories looked in (inside the rootfs).
        searched: String,
    },
    /// A `mounts` source that does not exist.
    #[error("mount source {} for `{key}` does not exist", path.display())]
    MountSourceMissing {
        /// Dotted key.
        key: String,
        /// The resolved host path.
        path: PathBuf,
    },
    /// A `mounts` target that is not a clean absolute path.
    #[error("mount target \"{target}\" for `{key}` {reason}")]
    BadMountTarget {
        /// Dotted key.
        key: String,
        /// The target as written.
        target: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// `env_file` cannot be read.
    #[error("cannot read env_file {} for `{key}`: {source}", path.display())]
    EnvFileUnreadable {
        /// Dotted key.
        key: String,
        /// The resolved path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A `${...}` in a value that cannot be interpolated.
    #[error("bad interpolation: {message}")]
    BadInterpolation {
        /// What is wrong.
        message: String,
    },
    /// A bad line in an `env_file`.
    #[error("env_file {}:{} for `{key}`: {reason}", path.display(), line)]
    BadEnvFileLine {
        /// Dotted key.
        key: String,
        /// The resolved path.
        path: PathBuf,
        /// 1-based line number in the env file.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An `inherit_env` or `submit_env` entry that is not a variable name (or prefix).
    #[error("`{key}` entry \"{value}\" is not {expected}")]
    BadEnvName {
        /// Dotted key.
        key: String,
        /// The entry.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A `submit_env` entry that would let a submitter choose the code that runs.
    #[error("`{key}` cannot allow {name}: {reason}")]
    ForbiddenSubmitEnv {
        /// Dotted key.
        key: String,
        /// The variable.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A bad `id_range`.
    #[error("invalid id_range \"{value}\": {reason}")]
    BadIdRange {
        /// As written.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// `socket_group` names no group of this host.
    #[error("socket_group \"{group}\" is not a group of this host ({source_file})")]
    UnknownGroup {
        /// The group name.
        group: String,
        /// Where groups were looked up.
        source_file: String,
    },
    /// `socket_group` with a socket in the private state directory, which
    /// the group cannot enter.
    #[error("socket_group cannot reach the socket {}: it is inside state_dir, which is private (0700)", path.display())]
    SocketInPrivateDir {
        /// The socket.
        path: PathBuf,
    },
    /// `token_file` cannot be used.
    #[error("token_file {}: {reason}", path.display())]
    BadTokenFile {
        /// The resolved path.
        path: PathBuf,
        /// What is wrong (unreadable, empty, readable by others).
        reason: String,
        /// The file's mode when it is too open.
        mode: Option<u32>,
    },
    /// A `STOCKADE_DEFAULT_*` variable with a bad value.
    #[error("environment variable {var}=\"{value}\" is not {expected}")]
    BadEnvDefault {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
}

impl Problem {
    /// What to do about it, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Problem::Read { .. } => {
                "check the path, or run `stockade init` to write a starter stockade.toml".to_owned()
            }
            Problem::Syntax { .. } => "see https://toml.io for the syntax".to_owned(),
            Problem::UnknownKey { suggestion: Some(s), .. } => format!("did you mean `{s}`?"),
            Problem::UnknownKey { valid, .. } => format!("valid keys here: {}", valid.join(", ")),
            Problem::MissingKey { key: "command", .. } => {
                "add e.g. command = [\"python3\", \"agent.py\"]".to_owned()
            }
            Problem::MissingKey { key, .. } => format!("add `{key} = ...`"),
            Problem::WrongType { .. } => return None,
            Problem::CommandNotArray { key, words } => {
                let quoted: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
                let leaf = key.rsplit('.').next().unwrap_or(key);
                format!(
                    "write {leaf} = [{}]; stockade runs no shell, so arguments are never re-split",
                    quoted.join(", ")
                )
            }
            Problem::EmptyCommand { .. } => {
                "give the program and its arguments, e.g. [\"python3\", \"agent.py\"]".to_owned()
            }
            Problem::BadDuration { source, .. } => source.to_string(),
            Problem::BadSize { source, .. } => source.to_string(),
            Problem::OutOfRange { .. } => return None,
            Problem::OnlyApplies { .. } => "remove it".to_owned(),
            Problem::BadSchedule { source: crate::ScheduleError::TimeZone(_), .. } => {
                "use an IANA name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\"".to_owned()
            }
            Problem::BadSchedule { .. } => {
                "five fields: minute hour day-of-month month day-of-week, e.g. \"*/10 * * * *\" (every 10 minutes) or \"30 2 * * 1-5\"".to_owned()
            }
            Problem::Exclusive { other, .. } => {
                format!("keep one: `every` for a fixed period, `cron` for times of day (remove `{other}` or this)")
            }
            Problem::PidsBelowInit { .. } => {
                "set pids to at least 2 (the init takes one, the agent needs one more per process or thread), or isolation = \"none\"".to_owned()
            }
            Problem::UnknownValue { suggestion: Some(s), .. } => format!("did you mean \"{s}\"?"),
            Problem::UnknownValue { valid, .. } => format!("use one of: {}", valid.join(", ")),
            Problem::UnknownSignal { suggestion: Some(s), .. } => format!("did you mean \"{s}\"?"),
            Problem::UnknownSignal { .. } => {
                "use a signal name such as \"SIGTERM\", \"SIGINT\", \"SIGQUIT\" or \"SIGKILL\"".to_owned()
            }
            Problem::BadName { .. } => {
                "names use only letters, digits, `_` and `-` (at most 64 characters)".to_owned()
            }
            Problem::DuplicateName { .. } => {
                "services and jobs share one namespace (events and logs are keyed by name); rename one"
                    .to_owned()
            }
            Problem::UnknownDependency { suggestion: Some(s), .. } => format!("did you mean `{s}`?"),
            Problem::UnknownDependency { .. } => {
                "depend on a service declared as [service.NAME] in this file".to_owned()
            }
            Problem::DependsOnJob { .. } => {
                "services can only wait for services; submit the job from the service instead".to_owned()
            }
            Problem::SelfDependency { .. } => "remove it from its own depends_on".to_owned(),
            Problem::DependencyCycle { .. } => {
                "no service in a cycle could ever start; remove one of these dependencies".to_owned()
            }
            Problem::ProbeKind { .. } => {
                "e.g. { http = \"http://127.0.0.1:8080/health\" }, { tcp = \"127.0.0.1:8080\" } or { exec = [\"./check.sh\"] }"
                    .to_owned()
            }
            Problem::BadProbeUrl { .. } => {
                "probes speak plain HTTP to the agent, e.g. \"http://127.0.0.1:8080/health\"; for anything else use exec = [\"curl\", \"-fsS\", URL]"
                    .to_owned()
            }
            Problem::BadProbeAddress { value, .. } if value.contains("{replica") => {
                "per-replica ports need an http probe, e.g. http = \"http://127.0.0.1:{replica+9100}/health\""
                    .to_owned()
            }
            Problem::BadProbeAddress { .. } => "e.g. tcp = \"127.0.0.1:8080\"".to_owned(),
            Problem::BadPlaceholder { source, .. } => source.to_string(),
            Problem::UnknownPool { suggestion: Some(s), .. } => format!("did you mean `{s}`?"),
            Problem::UnknownPool { pool, .. } => {
                format!("declare it with [pool.{pool}], or leave `pool` out to use `default`")
            }
            Problem::UnknownAlertTarget { suggestion: Some(s), .. } => format!("did you mean `{s}`?"),
            Problem::UnknownAlertTarget { kind, valid, .. } if valid.is_empty() => {
                format!("this spec declares no {kind}; declare one or watch another signal")
            }
            Problem::UnknownAlertTarget { kind, valid, .. } => {
                format!("{kind}s of this spec: {}", valid.join(", "))
            }
            Problem::MissingAlertLabel { key, valid, .. } if valid.is_empty() => {
                format!("add {key} = \"NAME\"; this spec declares none yet")
            }
            Problem::MissingAlertLabel { key, valid, .. } => {
                format!("add {key} = \"NAME\", one of: {}", valid.join(", "))
            }
            Problem::BadListen { .. } => {
                "write \"unix:.stockade/stockade.sock\" or \"tcp:127.0.0.1:7878\"".to_owned()
            }
            Problem::TokenRequired { .. } => {
                "export STOCKADE_TOKEN=<secret>, or set token_env or token_file in [daemon]; every TCP listener, loopback included, needs one (any local user can reach loopback)".to_owned()
            }
            Problem::TokenConflict => {
                "keep one: token_env or token_file; tokens do not belong in the spec".to_owned()
            }
            Problem::TokenEnvUnset { var } => format!("export {var}=<secret> before starting stockade"),
            Problem::BadRootfs { .. } => {
                "rootfs is relative to the spec's directory; e.g. `docker export IMAGE | tar -x -C rootfs` or debootstrap into it".to_owned()
            }
            Problem::ProgramNotInRootfs { rootfs, program, .. } => format!(
                "install `{program}` in {}, or give its absolute path inside the rootfs",
                rootfs.display()
            ),
            Problem::MountSourceMissing { .. } => {
                "create it, or fix the path (relative to the spec's directory)".to_owned()
            }
            Problem::BadMountTarget { .. } => {
                "write an absolute path inside the box, e.g. target = \"/data\"".to_owned()
            }
            Problem::EnvFileUnreadable { .. } => {
                "create it (KEY=VALUE lines), or fix the path (relative to the spec's directory)".to_owned()
            }
            Problem::BadEnvFileLine { .. } => {
                "write KEY=VALUE; lines starting with # are comments".to_owned()
            }
            Problem::BadInterpolation { .. } => {
                "write ${VAR} or ${VAR:-default} (a name of letters, digits and `_`); $${ is a literal ${".to_owned()
            }
            Problem::BadEnvName { .. } => {
                "write variable names such as \"MODEL\" or prefixes such as \"AWS_*\"".to_owned()
            }
            Problem::ForbiddenSubmitEnv { name, .. } => format!(
                "remove {name}; set it in the template's `env` if every run needs it"
            ),
            Problem::BadIdRange { .. } => {
                "write \"FIRST-LAST\" outside every /etc/subuid and /etc/subgid range, e.g. id_range = \"2147483648-4294901759\" (at least 65536 ids, below 4294967295)".to_owned()
            }
            Problem::UnknownGroup { group, .. } => {
                format!("create it (`groupadd {group}`), or leave socket_group out for a 0600 socket")
            }
            Problem::SocketInPrivateDir { .. } => {
                "listen on a socket outside state_dir, e.g. listen = [\"unix:/run/stockade/stockade.sock\"] (its directory is created 0755)".to_owned()
            }
            Problem::BadTokenFile { path, mode: Some(_), .. } => {
                format!("chmod 600 {}", path.display())
            }
            Problem::BadTokenFile { path, .. } => format!(
                "write the token into it: `openssl rand -hex 32 > {0} && chmod 600 {0}`",
                path.display()
            ),
            Problem::BadEnvDefault { var, .. } => {
                format!("fix or unset {var}; \"unlimited\" removes the default limit")
            }
        })
    }

    /// The short text under the underlined span.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Problem::Read { .. } => "unreadable",
            Problem::Syntax { .. } => "here",
            Problem::UnknownKey { .. } => "unknown key",
            Problem::MissingKey { .. } => "in this table",
            Problem::WrongType { .. } => "wrong type",
            Problem::CommandNotArray { .. } => "a single string",
            Problem::EmptyCommand { .. } => "empty",
            Problem::BadDuration { .. } => "not a duration",
            Problem::BadSize { .. } => "not a size",
            Problem::OutOfRange { .. } => "out of range",
            Problem::OnlyApplies { .. } => "no effect here",
            Problem::BadSchedule { source: crate::ScheduleError::TimeZone(_), .. } => {
                "unknown time zone"
            }
            Problem::BadSchedule { .. } => "not a schedule",
            Problem::Exclusive { .. } => "one of two",
            Problem::PidsBelowInit { .. } => "the init takes one",
            Problem::UnknownValue { .. } => "not a valid value",
            Problem::UnknownSignal { .. } => "unknown signal",
            Problem::BadName { .. } => "invalid name",
            Problem::DuplicateName { .. } => "defined again here",
            Problem::UnknownDependency { .. } => "no such service",
            Problem::DependsOnJob { .. } => "a job",
            Problem::SelfDependency { .. } => "itself",
            Problem::DependencyCycle { .. } => "part of a cycle",
            Problem::ProbeKind { .. } => "this probe",
            Problem::BadProbeUrl { .. } => "not probeable",
            Problem::BadProbeAddress { .. } => "not HOST:PORT",
            Problem::BadPlaceholder { .. } => "bad placeholder",
            Problem::UnknownPool { .. } => "no such pool",
            Problem::UnknownAlertTarget { .. } => "not declared",
            Problem::MissingAlertLabel { .. } => "in this rule",
            Problem::BadListen { .. } => "invalid address",
            Problem::TokenRequired { .. } => "no token",
            Problem::TokenConflict => "both set",
            Problem::TokenEnvUnset { .. } => "not set",
            Problem::BadRootfs { .. } => "not a directory",
            Problem::ProgramNotInRootfs { .. } => "not in the rootfs",
            Problem::MountSourceMissing { .. } => "missing",
            Problem::BadMountTarget { .. } => "bad target",
            Problem::EnvFileUnreadable { .. } => "unreadable",
            Problem::BadEnvFileLine { .. } => "bad line in this file",
            Problem::BadInterpolation { .. } => "bad ${...}",
            Problem::BadEnvName { .. } => "not a name",
            Problem::ForbiddenSubmitEnv { .. } => "never submittable",
            Problem::BadIdRange { .. } => "bad range",
            Problem::UnknownGroup { .. } => "no such group",
            Problem::BadTokenFile { .. } => "unusable",
            Problem::SocketInPrivateDir { .. } => "in state_dir",
            Problem::BadEnvDefault { .. } => "bad value",
        }
    }
}
