//! The whole environment of a unit's box, in one call per unit kind:
//! [`ServiceSpec::box_environment`] and [`JobSpec::box_environment`]. The
//! launcher (for the agent) and `exec` (for a command in the same box) both
//! call these, so the two can never differ.
//!
//! A walled unit gets [`box_env`]; an unwalled one (`isolation = "none"`)
//! the daemon's whole environment with `env_file`, `env` and the submission
//! over it, as before walls existed. Both get the `STOCKADE_*` variables that
//! name the run (`STOCKADE_SERVICE`/`STOCKADE_REPLICA`, or
//! `STOCKADE_JOB_ID`/`STOCKADE_ATTEMPT`), set last so nothing overrides them.

use std::collections::BTreeMap;

use crate::box_env::{BoxEnvDefaults, BoxEnvSources, box_env};
use crate::model::{EnvFile, EnvPattern, Isolation, JobSpec, ServiceSpec};

impl ServiceSpec {
    /// The environment of replica `replica`'s box (`env` expanded for it).
    pub fn box_environment(
        &self,
        replica: u32,
        daemon_env: impl IntoIterator<Item = (String, String)>,
    ) -> Vec<(String, String)> {
        let parts = Parts {
            isolation: &self.isolation,
            env_file: self.env_file.as_ref(),
            inherit: &self.inherit_env,
            spec_env: &self.for_replica(replica).env,
            submitted: &BTreeMap::new(),
        };
        let run = [
            ("STOCKADE_SERVICE".to_owned(), self.name.clone()),
            ("STOCKADE_REPLICA".to_owned(), replica.to_string()),
        ];
        parts.assemble(daemon_env, run)
    }
}

impl JobSpec {
    /// The environment of job `id`'s box on attempt `attempt`, with the
    /// submission's `submitted` env (already held to `submit_env`).
    pub fn box_environment(
        &self,
        id: u64,
        attempt: u32,
        submitted: &BTreeMap<String, String>,
        daemon_env: impl IntoIterator<Item = (String, String)>,
    ) -> Vec<(String, String)> {
        let parts = Parts {
            isolation: &self.isolation,
            env_file: self.env_file.as_ref(),
            inherit: &self.inherit_env,
            spec_env: &self.env,
            submitted,
        };
        let run = [
            ("STOCKADE_JOB_ID".to_owned(), id.to_string()),
            ("STOCKADE_ATTEMPT".to_owned(), attempt.to_string()),
        ];
        parts.assemble(daemon_env, run)
    }
}

struct Parts<'a> {
    isolation: &'a Isolation,
    env_file: Option<&'a EnvFile>,
    inherit: &'a [EnvPattern],
    spec_env: &'a BTreeMap<String, String>,
    submitted: &'a BTreeMap<String, String>,
}

impl Parts<'_> {
    fn assemble(
        self,
        daemon_env: impl IntoIterator<Item = (String, String)>,
        run: [(String, String); 2],
    ) -> Vec<(String, String)> {
        let file = self.env_file.map_or(&[][..], |f| f.vars.as_slice());
        let mut env: BTreeMap<String, String> = match self.isolation {
            Isolation::Walls(walls) => {
                let defaults = BoxEnvDefaults {
                    user: walls
                        .user
                        .as_ref()
                        .map_or_else(|| "root".to_owned(), |u| u.display_name()),
                    ..BoxEnvDefaults::default()
                };
                let sources = BoxEnvSources {
                    defaults: &defaults,
                    env_file: file,
                    spec_env: self.spec_env,
                    submitted: self.submitted,
                    inherit: self.inherit,
                };
                box_env(sources, daemon_env).into_iter().collect()
            }
            Isolation::None => {
                let mut env: BTreeMap<String, String> = daemon_env.into_iter().collect();
                env.extend(file.iter().cloned());
                env.extend(self.spec_env.iter().map(|(k, v)| (k.clone(), v.clone())));
                env.extend(self.submitted.iter().map(|(k, v)| (k.clone(), v.clone())));
                env
            }
        };
        env.extend(run);
        env.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::Spec;

    fn daemon_env() -> Vec<(String, String)> {
        vec![("AWS_SECRET_ACCESS_KEY".into(), "hunter2".into()), ("TERM".into(), "vt100".into())]
    }

    #[test]
    fn a_replica_and_a_job_get_their_run_variables_and_no_secrets() {
        let text = "[service.web]\ncommand = [\"x\"]\nreplicas = 2\nenv = { PORT = \"{replica+8000}\" }\nuser = \"agent\"\n\
                    [service.old]\ncommand = [\"x\"]\nisolation = \"none\"\n\
                    [job.j]\ncommand = [\"x\"]\nsubmit_env = [\"TASK\"]\n";
        let spec = Spec::parse(text, Path::new("/tmp/s.toml"), &|_| None).unwrap();
        let web: BTreeMap<_, _> =
            spec.service("web").unwrap().box_environment(1, daemon_env()).into_iter().collect();
        assert_eq!(web["PORT"], "8001");
        assert_eq!(web["STOCKADE_SERVICE"], "web");
        assert_eq!(web["STOCKADE_REPLICA"], "1");
        assert_eq!(web["USER"], "agent");
        assert_eq!(web["TERM"], "vt100");
        assert!(!web.contains_key("AWS_SECRET_ACCESS_KEY"));
        let old: BTreeMap<_, _> =
            spec.service("old").unwrap().box_environment(0, daemon_env()).into_iter().collect();
        assert_eq!(old["AWS_SECRET_ACCESS_KEY"], "hunter2", "isolation = \"none\" inherits");
        assert!(!old.contains_key("HOME"), "and adds no defaults");
        let submitted = BTreeMap::from([("TASK".to_owned(), "7".to_owned())]);
        let job: BTreeMap<_, _> = spec
            .job("j")
            .unwrap()
            .box_environment(42, 2, &submitted, daemon_env())
            .into_iter()
            .collect();
        assert_eq!(
            (
                job["TASK"].as_str(),
                job["STOCKADE_JOB_ID"].as_str(),
                job["STOCKADE_ATTEMPT"].as_str()
            ),
            ("7", "42", "2")
        );
        assert!(!job.contains_key("AWS_SECRET_ACCESS_KEY"));
    }
}
