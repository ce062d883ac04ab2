//! [`TestEnv`]: a tempdir with a spec whose job template is named after the
//! test process (so its boxes are this test's alone), and the skip checks
//! of tests that need real cgroup boxes.

use crate::support::Api;
use std::path::{Path, PathBuf};

/// Why a test that needs real boxes cannot run here, if it cannot.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root: the daemon creates real cgroup boxes".into());
    }
    if !Path::new("/sys/fs/cgroup").is_dir() {
        return Some("no /sys/fs/cgroup on this host".into());
    }
    None
}

/// Recovery kills by box: with the `none` backend there is nothing to reclaim.
pub fn no_real_boxes(api: &Api) -> Option<String> {
    let (_, status) = api.get("/api/status").ok()?;
    let sandbox = status["sandbox"].as_str().unwrap_or("").to_string();
    (!sandbox.starts_with("cgroup")).then(|| format!("the daemon runs without cgroups ({sandbox})"))
}

/// A tempdir with a spec (state in `state/`, default limits of 64 MiB and
/// 16 pids) whose template name is `TAG-PID`.
pub struct TestEnv {
    /// The tempdir.
    pub dir: tempfile::TempDir,
    /// The spec file.
    pub spec: PathBuf,
    /// The job template's name, unique to this test process.
    pub template: String,
}

impl TestEnv {
    /// A pool of 20 and a `sleep` template with retries on `exited` and `lost`.
    pub fn new(tag: &str) -> TestEnv {
        TestEnv::with_units(tag, |template| {
            format!(
                r#"[pool.p]
max_concurrency = 20

[job.{template}]
command = ["sleep"]
pool = "p"
retries = {{ max = 3, on = ["exited", "lost"] }}
"#
            )
        })
    }

    /// A spec with the common `[daemon]` and limits, and the units `units`
    /// writes for the template name it is given.
    pub fn with_units(tag: &str, units: impl FnOnce(&str) -> String) -> TestEnv {
        TestEnv::build(tag, "", units)
    }

    /// [`TestEnv::with_units`] with extra `[daemon]` keys, one per line.
    pub fn build(tag: &str, daemon_keys: &str, units: impl FnOnce(&str) -> String) -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix(&format!("stockade-{tag}-"))
            .tempdir()
            .expect("tempdir");
        let template = format!("{tag}-{}", std::process::id());
        let state = dir.path().join("state");
        let spec = dir.path().join("stockade.toml");
        let text = format!(
            r#"[daemon]
state_dir = "{state}"
{daemon_keys}

[defaults.limits]
memory = "64MiB"
pids = 16

{units}"#,
            state = state.display(),
            units = units(&template),
        );
        std::fs::write(&spec, text).expect("write spec");
        TestEnv { dir, spec, template }
    }

    /// The state directory.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The daemon's socket.
    pub fn socket(&self) -> PathBuf {
        self.state().join("stockade.sock")
    }

    /// The store.
    pub fn db(&self) -> PathBuf {
        self.state().join("stockade.db")
    }
}
