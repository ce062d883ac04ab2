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
    /// A `listen` entry that is not `unix:PATH` or `tcp:IP:PORT`.
    #[error("invalid listen address \"{value}\": {reason}")]
    BadListen {
        /// The entry.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// TCP off loopback without a token.
    #[error("listening on {value} (not loopback) requires a token")]
    TokenRequired {
        /// The listen entry.
        value: String,
    },
    /// Both `token` and `token_env` are set.
    #[error("[daemon] sets both `token` and `token_env`")]
    TokenConflict,
    /// `token_env` names an unset variable.
    #[error("token_env names ${var}, which is not set")]
    TokenEnvUnset {
        /// The variable.
        var: String,
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
            Problem::BadListen { .. } => {
                "write \"unix:.stockade/stockade.sock\" or \"tcp:127.0.0.1:7878\"".to_owned()
            }
            Problem::TokenRequired { .. } => {
                "set token_env = \"STOCKADE_TOKEN\" in [daemon], or listen on 127.0.0.1".to_owned()
            }
            Problem::TokenConflict => "keep token_env; tokens do not belong in files".to_owned(),
            Problem::TokenEnvUnset { var } => format!("export {var}=<secret> before starting stockade"),
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
            Problem::BadListen { .. } => "invalid address",
            Problem::TokenRequired { .. } => "off loopback",
            Problem::TokenConflict => "both set",
            Problem::TokenEnvUnset { .. } => "not set",
            Problem::BadEnvDefault { .. } => "bad value",
        }
    }
}
