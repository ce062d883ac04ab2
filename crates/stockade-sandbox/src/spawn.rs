//! What to spawn ([`SpawnSpec`]) and how the child is built: program
//! resolution with errors that name what was searched, and the `pre_exec`
//! hook that puts the child in its box before exec.
//!
//! The hook runs between fork and exec, where only async-signal-safe calls
//! are allowed, so it makes raw syscalls only: `write(fd, "0")` to each
//! `cgroup.procs` fd opened in the parent ("0" means "the calling process", so
//! nothing is formatted), the rlimits, and optionally `PR_SET_PDEATHSIG`. The
//! child joins its box before exec and before it can fork, so neither it nor
//! any descendant ever runs outside its limits. `process_group(0)` gives each
//! agent its own process group.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use stockade_proto::{Limits, SpawnErrorKind};
use tokio::process::Command;

use crate::SpawnError;
use crate::rlimit::RlimitPlan;

/// One program to start in a fresh box.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpawnSpec {
    /// The box's name relative to the stockade subtree, e.g. `web/0/17`
    /// (unit/replica/run): segments of `[A-Za-z0-9._-]`, no `..`, no leading `/`.
    pub box_name: String,
    /// The program and its arguments; `argv[0]` is looked up in `PATH` if it has no `/`.
    pub argv: Vec<String>,
    /// Variables added to (or, with [`EnvMode::Clear`], making up) the environment.
    pub env: Vec<(String, String)>,
    /// Whether the daemon's environment is inherited (unwalled only: a
    /// walled box's environment is exactly `env`).
    pub env_mode: EnvMode,
    /// The working directory; the daemon's when `None`. Walled: a path
    /// inside the box, `/workspace` when `None`.
    pub cwd: Option<PathBuf>,
    /// The box's limits.
    pub limits: Limits,
    /// What happens to the agent if the daemon dies.
    pub parent_death: ParentDeath,
    /// The box's walls; `None` = isolation "none": the agent runs on the
    /// host as the daemon's user, spawned through `Command` as before.
    pub walls: Option<crate::walls::Walls>,
    /// Where stdout and stderr go: `Some` = this file (the run's log, opened
    /// `O_APPEND` by the daemon), so output never passes through the daemon
    /// and the agent never blocks on a pipe nobody reads; `None` = two pipes
    /// the caller takes with `Agent::take_stdout` / `take_stderr`.
    pub output: Option<Output>,
}

/// A file an agent writes its stdout and stderr to (shared, never closed
/// while a spec holds it).
#[derive(Debug, Clone)]
pub struct Output(pub std::sync::Arc<OwnedFd>);

impl PartialEq for Output {
    fn eq(&self, other: &Output) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Output {
    /// Two independent handles of the file, for stdout and stderr.
    pub(crate) fn stdio(&self) -> io::Result<(OwnedFd, OwnedFd)> {
        Ok((self.0.try_clone()?, self.0.try_clone()?))
    }
}

/// Where the agent's environment starts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EnvMode {
    /// The daemon's environment plus [`SpawnSpec::env`].
    #[default]
    Inherit,
    /// Only [`SpawnSpec::env`].
    Clear,
}

/// What the kernel does to the agent when the daemon's spawner thread dies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ParentDeath {
    /// Nothing: the agent keeps running and a restarted daemon finds it by
    /// its box (`Sandbox::live_pids`).
    #[default]
    Survive,
    /// SIGKILL (`PR_SET_PDEATHSIG`).
    Kill,
}

/// The program `argv[0]` resolves to, checked before the fork so the error
/// can say what was searched.
pub(crate) fn resolve_program(spec: &SpawnSpec) -> Result<PathBuf, SpawnError> {
    let argv0 = spec.argv.first().ok_or_else(|| SpawnError::InvalidSpec {
        box_name: spec.box_name.clone(),
        reason: "argv is empty".into(),
        hint: "give at least the program to run, e.g. [\"python3\", \"agent.py\"]".into(),
    })?;
    if let Some(bad) =
        spec.argv.iter().chain(spec.env.iter().flat_map(|(k, v)| [k, v])).find(|s| s.contains('\0'))
    {
        return Err(SpawnError::InvalidSpec {
            box_name: spec.box_name.clone(),
            reason: format!("{bad:?} contains a NUL byte"),
            hint: "remove the NUL byte; the kernel cannot pass it".into(),
        });
    }
    if spec.walls.is_some() {
        // The program and cwd are paths inside the box: `walls::resolve`.
        return Ok(PathBuf::from(argv0));
    }
    if let Some(cwd) = &spec.cwd
        && !cwd.is_dir()
    {
        return Err(SpawnError::InvalidSpec {
            box_name: spec.box_name.clone(),
            reason: format!("the working directory {} is not a directory", cwd.display()),
            hint: "create it or fix `cwd`".into(),
        });
    }
    let fail = |kind, path: &Path, errno, hint: String| SpawnError::Exec {
        box_name: spec.box_name.clone(),
        program: path.display().to_string(),
        kind,
        hint,
        source: io::Error::from_raw_os_error(errno),
    };
    if argv0.contains('/') {
        let path = match &spec.cwd {
            Some(cwd) if !argv0.starts_with('/') => cwd.join(argv0),
            _ => PathBuf::from(argv0),
        };
        return match std::fs::metadata(&path) {
            Err(_) => Err(fail(
                SpawnErrorKind::NotFound,
                &path,
                libc::ENOENT,
                "check the path, or install the program".into(),
            )),
            Ok(m) if !is_executable(&m) => Err(fail(
                SpawnErrorKind::NotExecutable,
                &path,
                libc::EACCES,
                format!(
                    "{} is not an executable file; `chmod +x` it or run it through its interpreter",
                    path.display()
                ),
            )),
            Ok(_) => Ok(PathBuf::from(argv0)),
        };
    }
    let path_var =
        spec.env.iter().rev().find(|(k, _)| k == "PATH").map(|(_, v)| OsString::from(v)).or_else(
            || match spec.env_mode {
                EnvMode::Inherit => std::env::var_os("PATH"),
                EnvMode::Clear => None,
            },
        );
    let path_var = path_var.unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    let mut not_executable = None;
    for dir in std::env::split_paths(&path_var) {
        let candidate = dir.join(argv0);
        match std::fs::metadata(&candidate) {
            Ok(m) if is_executable(&m) => return Ok(candidate),
            Ok(_) => {
                not_executable.get_or_insert(candidate);
            }
            Err(_) => {}
        }
    }
    Err(match not_executable {
        Some(path) => fail(
            SpawnErrorKind::NotExecutable,
            &path,
            libc::EACCES,
            format!("{} is not an executable file; `chmod +x` it", path.display()),
        ),
        None => fail(
            SpawnErrorKind::NotFound,
            Path::new(argv0),
            libc::ENOENT,
            format!(
                "no `{argv0}` in PATH={}; install it or give an absolute path",
                path_var.to_string_lossy()
            ),
        ),
    })
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// Everything the child does before exec, prepared in the parent.
pub(crate) struct PreExec {
    pub(crate) join: Vec<OwnedFd>,
    pub(crate) rlimits: RlimitPlan,
    pub(crate) parent_death: ParentDeath,
}

/// The command for `spec`, running `program`, joining its box before exec.
/// `stdio`: the agent's stdout and stderr when a log relay reads them
/// (`relay::start`); else [`SpawnSpec::output`] itself, or pipes.
pub(crate) fn command(
    spec: &SpawnSpec,
    program: &Path,
    pre: PreExec,
    stdio: Option<(OwnedFd, OwnedFd)>,
) -> Command {
    let mut cmd = Command::new(program);
    if let Some((argv0, rest)) = spec.argv.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    if spec.env_mode == EnvMode::Clear {
        cmd.env_clear();
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    cmd.stdin(Stdio::null());
    match stdio.map(Ok).or_else(|| spec.output.as_ref().map(Output::stdio)) {
        Some(Ok((out, err))) => cmd.stdout(Stdio::from(out)).stderr(Stdio::from(err)),
        // A dup that fails (EMFILE) falls back to pipes rather than no output.
        _ => cmd.stdout(Stdio::piped()).stderr(Stdio::piped()),
    };
    cmd.kill_on_drop(true).process_group(0);
    let PreExec { join, rlimits, parent_death } = pre;
    let hook = move || -> io::Result<()> {
        for fd in &join {
            rustix::io::write(fd, b"0")?;
        }
        rlimits.apply()?;
        if parent_death == ParentDeath::Kill {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
        }
        Ok(())
    };
    // SAFETY: the hook only makes raw syscalls (write, setrlimit, prctl)
    // through rustix, touches no locks and allocates nothing.
    unsafe {
        cmd.pre_exec(hook);
    }
    cmd
}

/// The class and hint for an OS error from the spawn itself.
pub(crate) fn classify_spawn_error(err: &io::Error, program: &Path) -> (SpawnErrorKind, String) {
    match err.raw_os_error() {
        Some(libc::ENOENT) => (
            SpawnErrorKind::NotFound,
            format!(
                "{} or the interpreter named in its `#!` line does not exist",
                program.display()
            ),
        ),
        Some(libc::EACCES) | Some(libc::ENOEXEC) | Some(libc::EISDIR) | Some(libc::ETXTBSY) => (
            SpawnErrorKind::NotExecutable,
            format!(
                "{} cannot be executed (permissions, format, or a noexec mount)",
                program.display()
            ),
        ),
        Some(libc::EAGAIN) => (SpawnErrorKind::ResourceLimit, String::new()),
        Some(libc::E2BIG) => (
            SpawnErrorKind::Os,
            "the arguments and environment are too large; pass data through a file".into(),
        ),
        Some(libc::ENOMEM) => {
            (SpawnErrorKind::Os, "the host is out of memory; run fewer agents".into())
        }
        _ => (SpawnErrorKind::Os, "see the OS error".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(argv: &[&str]) -> SpawnSpec {
        SpawnSpec {
            box_name: "t/1".into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            ..SpawnSpec::default()
        }
    }

    #[test]
    fn programs_resolve_through_path_or_say_what_was_searched() {
        assert_eq!(resolve_program(&spec(&["sh"])).unwrap().file_name().unwrap(), "sh");
        let err = resolve_program(&spec(&["no-such-program-stockade"])).unwrap_err();
        assert_eq!(err.kind(), SpawnErrorKind::NotFound);
        assert!(err.hint().contains("PATH="), "{}", err.hint());
        assert_eq!(err.errno(), Some(libc::ENOENT));
        let err = resolve_program(&spec(&["/no/such/file"])).unwrap_err();
        assert_eq!(err.kind(), SpawnErrorKind::NotFound);
        assert!(err.to_string().contains("/no/such/file"), "{err}");
    }

    #[test]
    fn non_executable_files_and_bad_specs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.sh");
        std::fs::write(&plain, "echo hi\n").unwrap();
        let err = resolve_program(&spec(&[plain.to_str().unwrap()])).unwrap_err();
        assert_eq!(err.kind(), SpawnErrorKind::NotExecutable);
        assert!(err.hint().contains("chmod +x"), "{}", err.hint());
        let mut s = spec(&["plain.sh"]);
        s.env.push(("PATH".into(), dir.path().display().to_string()));
        assert_eq!(resolve_program(&s).unwrap_err().kind(), SpawnErrorKind::NotExecutable);
        let err = resolve_program(&spec(&[])).unwrap_err();
        assert!(err.to_string().contains("argv is empty"), "{err}");
        let err = resolve_program(&spec(&["a\0b"])).unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
        let mut s = spec(&["sh"]);
        s.cwd = Some(dir.path().join("missing"));
        assert!(resolve_program(&s).unwrap_err().to_string().contains("missing"));
    }
}
