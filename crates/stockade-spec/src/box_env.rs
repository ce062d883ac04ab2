//! [`box_env`]: the clean environment of a walled box, as a pure function.
//!
//! A walled agent never sees the daemon's environment (its credentials,
//! tokens, `SSH_AUTH_SOCK`, …) unless the spec opts a variable in by name with
//! `inherit_env`. Layers, each overriding the ones before:
//!
//! 1. defaults: `PATH` ([`DEFAULT_PATH`]), `HOME` (the workspace, `/workspace`),
//!    `LANG` (`C.UTF-8`), `TERM` (the daemon's, else `xterm`), `USER`;
//! 2. the `env_file`'s variables, in file order;
//! 3. the spec's `env`;
//! 4. the submission's `env` (already held to the template's `submit_env`);
//! 5. the daemon's variables matching `inherit_env` — an explicit opt-in of
//!    the operator, so it wins (`inherit_env = ["LANG"]` keeps the host locale).
//!
//! `isolation = "none"` does not use this: an unwalled box inherits the
//! daemon's whole environment plus `env`, as before walls existed.

use std::collections::BTreeMap;

use crate::model::EnvPattern;

/// `PATH` of a walled box unless its spec sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// `HOME` (and default working directory) of a walled box: its workspace.
pub const DEFAULT_HOME: &str = "/workspace";
/// `LANG` of a walled box unless set or inherited.
pub const DEFAULT_LANG: &str = "C.UTF-8";
/// `TERM` of a walled box when the daemon has none.
pub const DEFAULT_TERM: &str = "xterm";

/// The per-box facts the defaults come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxEnvDefaults {
    /// `USER`: the name the agent runs as inside the box (`root` by default).
    pub user: String,
    /// `HOME`: [`DEFAULT_HOME`] unless the launcher puts the workspace elsewhere.
    pub home: String,
}

impl Default for BoxEnvDefaults {
    fn default() -> Self {
        BoxEnvDefaults { user: "root".to_owned(), home: DEFAULT_HOME.to_owned() }
    }
}

/// Everything of the unit and the submission that goes into a box's environment.
#[derive(Debug, Clone, Copy)]
pub struct BoxEnvSources<'a> {
    /// `USER` and `HOME`.
    pub defaults: &'a BoxEnvDefaults,
    /// The `env_file`'s variables (`EnvFile::vars`), empty without one.
    pub env_file: &'a [(String, String)],
    /// The spec's `env` (expanded for the replica).
    pub spec_env: &'a BTreeMap<String, String>,
    /// The submission's `env` (jobs), validated against `submit_env`.
    pub submitted: &'a BTreeMap<String, String>,
    /// `inherit_env`.
    pub inherit: &'a [EnvPattern],
}

/// The environment of a walled box, sorted by name. `daemon_env` is the
/// daemon's own environment (`std::env::vars()`); only `TERM` and what
/// `inherit_env` names are ever taken from it.
pub fn box_env(
    sources: BoxEnvSources<'_>,
    daemon_env: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let mut inherited = BTreeMap::new();
    let mut daemon_term = None;
    for (name, value) in daemon_env {
        if name == "TERM" {
            daemon_term = Some(value.clone());
        }
        if sources.inherit.iter().any(|p| p.matches(&name)) {
            inherited.insert(name, value);
        }
    }
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), DEFAULT_PATH.to_owned());
    env.insert("HOME".to_owned(), sources.defaults.home.clone());
    env.insert("LANG".to_owned(), DEFAULT_LANG.to_owned());
    env.insert("TERM".to_owned(), daemon_term.unwrap_or_else(|| DEFAULT_TERM.to_owned()));
    env.insert("USER".to_owned(), sources.defaults.user.clone());
    let layers = sources
        .env_file
        .iter()
        .cloned()
        .chain(sources.spec_env.iter().map(|(k, v)| (k.clone(), v.clone())))
        .chain(sources.submitted.iter().map(|(k, v)| (k.clone(), v.clone())))
        .chain(inherited);
    env.extend(layers);
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn daemon() -> Vec<(String, String)> {
        [
            ("AWS_SECRET_ACCESS_KEY", "hunter2"),
            ("AWS_REGION", "eu-west-1"),
            ("STOCKADE_TOKEN", "daemon-token"),
            ("SSH_AUTH_SOCK", "/tmp/ssh-agent"),
            ("PATH", "/root/.cargo/bin:/usr/bin"),
            ("HOME", "/root"),
            ("LANG", "de_DE.UTF-8"),
            ("TERM", "screen-256color"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn build(inherit: &[EnvPattern], spec_env: &[(&str, &str)]) -> BTreeMap<String, String> {
        let defaults = BoxEnvDefaults::default();
        let spec_env = map(spec_env);
        let none = BTreeMap::new();
        let sources = BoxEnvSources {
            defaults: &defaults,
            env_file: &[],
            spec_env: &spec_env,
            submitted: &none,
            inherit,
        };
        box_env(sources, daemon()).into_iter().collect()
    }

    #[test]
    fn the_daemons_secrets_do_not_leak_into_a_box() {
        let env = build(&[], &[]);
        assert_eq!(
            env,
            map(&[
                ("HOME", "/workspace"),
                ("LANG", "C.UTF-8"),
                ("PATH", DEFAULT_PATH),
                ("TERM", "screen-256color"),
                ("USER", "root"),
            ])
        );
    }

    #[test]
    fn inherit_env_opts_in_by_name_or_prefix_and_nothing_else() {
        let inherit = [EnvPattern::Prefix("AWS_".into()), EnvPattern::Name("LANG".into())];
        let env = build(&inherit, &[]);
        assert_eq!(env["AWS_SECRET_ACCESS_KEY"], "hunter2");
        assert_eq!(env["AWS_REGION"], "eu-west-1");
        assert_eq!(env["LANG"], "de_DE.UTF-8", "an inherited LANG replaces the default");
        assert!(!env.contains_key("STOCKADE_TOKEN"));
        assert!(!env.contains_key("SSH_AUTH_SOCK"));
        assert_eq!(env["PATH"], DEFAULT_PATH, "the daemon's PATH is not inherited");
    }

    #[test]
    fn layers_override_in_order_file_spec_submission() {
        let defaults = BoxEnvDefaults { user: "agent".into(), home: "/workspace".into() };
        let file = vec![
            ("MODEL".to_owned(), "from-file".to_owned()),
            ("ONLY_FILE".to_owned(), "1".to_owned()),
        ];
        let spec_env = map(&[("MODEL", "from-spec"), ("TASK", "spec"), ("PATH", "/opt/bin")]);
        let submitted = map(&[("TASK", "submitted")]);
        let sources = BoxEnvSources {
            defaults: &defaults,
            env_file: &file,
            spec_env: &spec_env,
            submitted: &submitted,
            inherit: &[],
        };
        let env: BTreeMap<_, _> = box_env(sources, Vec::new()).into_iter().collect();
        assert_eq!(env["MODEL"], "from-spec");
        assert_eq!(env["ONLY_FILE"], "1");
        assert_eq!(env["TASK"], "submitted");
        assert_eq!(env["PATH"], "/opt/bin", "the spec may set PATH; a submission may not");
        assert_eq!(env["USER"], "agent");
        assert_eq!(env["TERM"], DEFAULT_TERM, "no TERM in the daemon: xterm");
    }
}
