//! [`HostExec`]: exec into a box that has no namespaces — its cgroups, its
//! agent's uid, gid and working directory.

use super::pty::{self, PtyMaster};
use super::{BoxExec, ExecChild, ExecControl, ExecError, ExecSpec, Input, Output, cgroups};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use stockade_proto::{ExitCause, TermSize};

/// Exec for unwalled boxes, rooted at `/proc` (tests may point it elsewhere).
#[derive(Debug, Clone)]
pub struct HostExec {
    proc_root: PathBuf,
}

impl Default for HostExec {
    fn default() -> Self {
        HostExec { proc_root: PathBuf::from("/proc") }
    }
}

/// The namespaces whose difference means "walled": a process in its own
/// user, mount or pid namespace cannot be entered by joining cgroups alone.
const WALL_NAMESPACES: [&str; 3] = ["user", "mnt", "pid"];

impl BoxExec for HostExec {
    fn exec(&self, spec: ExecSpec) -> super::ExecStart<'_> {
        // A few /proc reads, opening cgroup files and a fork+exec (which
        // waits for the exec): on the blocking pool, never an async worker.
        let this = self.clone();
        let program = spec.argv.first().cloned().unwrap_or_default();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.start(spec)).await.unwrap_or_else(|err| {
                Err(ExecError::Spawn { program, source: io::Error::other(err) })
            })
        })
    }
}

impl HostExec {
    fn start(&self, spec: ExecSpec) -> Result<ExecChild, ExecError> {
        let pid = spec.pid;
        let proc_pid = self.proc_root.join(pid.to_string());
        let gone = |source| ExecError::Gone { pid, source };
        for ns in WALL_NAMESPACES {
            let theirs = std::fs::read_link(proc_pid.join("ns").join(ns)).map_err(gone)?;
            let ours = std::fs::read_link(self.proc_root.join("self/ns").join(ns)).map_err(gone)?;
            if theirs != ours {
                return Err(ExecError::Walled { pid });
            }
        }
        let read = |path: &Path| std::fs::read_to_string(path);
        let mountinfo = read(&self.proc_root.join("self/mountinfo")).map_err(gone)?;
        let own = read(&self.proc_root.join("self/cgroup")).map_err(gone)?;
        let target = read(&proc_pid.join("cgroup")).map_err(gone)?;
        let status = read(&proc_pid.join("status")).map_err(gone)?;
        let cwd = match spec.cwd.clone() {
            Some(cwd) => cwd,
            None => std::fs::read_link(proc_pid.join("cwd")).map_err(gone)?,
        };
        let procs = cgroups::box_dirs(&mountinfo, &own, &target)
            .into_iter()
            .map(|dir| std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs")))
            .collect::<io::Result<Vec<_>>>()
            .map_err(gone)?;
        let ids = Ids { uid: id_of(&status, "Uid:"), gid: id_of(&status, "Gid:") };

        let program = spec.argv.first().cloned().unwrap_or_default();
        let spawn_error = |source| ExecError::Spawn { program: program.clone(), source };
        let mut command = std::process::Command::new(&program);
        command.args(&spec.argv[1..]).env_clear().envs(spec.env.iter().cloned()).current_dir(&cwd);
        let pty = match spec.tty {
            Some(size) => {
                let (master, slave) = pty::open(size).map_err(spawn_error)?;
                let clone = |fd: &OwnedFd| fd.try_clone().map(Stdio::from);
                command
                    .stdin(clone(&slave).map_err(spawn_error)?)
                    .stdout(clone(&slave).map_err(spawn_error)?)
                    .stderr(Stdio::from(slave));
                Some(PtyMaster::new(master).map_err(spawn_error)?)
            }
            None => {
                command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
                command.process_group(0);
                None
            }
        };
        let tty = pty.is_some();
        // SAFETY: the hook only makes async-signal-safe calls (write, setsid,
        // ioctl, setgroups/setgid/setuid) on fds and values prepared above.
        unsafe {
            command.pre_exec(move || {
                // Join the box first, so nothing of the command runs outside it.
                for mut procs in procs.iter() {
                    procs.write_all(b"0")?;
                }
                if tty {
                    rustix::process::setsid()?;
                    if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                ids.assume()
            });
        }
        let mut child = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error)?;
        let pid = child.id().unwrap_or(0);
        let (stdin, stdout, stderr): (Option<Input>, Output, Option<Output>) = match &pty {
            Some(master) => (Some(Box::new(master.clone())), Box::new(master.clone()), None),
            None => (
                child.stdin.take().map(|s| Box::new(s) as _),
                Box::new(
                    child
                        .stdout
                        .take()
                        .ok_or_else(|| spawn_error(io::ErrorKind::BrokenPipe.into()))?,
                ),
                child.stderr.take().map(|s| Box::new(s) as _),
            ),
        };
        let exit = Box::pin(async move {
            let status = child.wait().await?;
            Ok(match (status.code(), status.signal()) {
                (Some(code), _) => ExitCause::Exited { code },
                (None, Some(signal)) => {
                    ExitCause::Signaled { signal, core_dumped: status.core_dumped() }
                }
                (None, None) => ExitCause::Exited { code: 1 },
            })
        });
        Ok(ExecChild { stdin, stdout, stderr, control: Box::new(HostControl { pid, pty }), exit })
    }
}

/// The agent's real uid and gid, assumed by the command if they differ from
/// the daemon's.
#[derive(Debug, Clone, Copy)]
struct Ids {
    uid: Option<u32>,
    gid: Option<u32>,
}

impl Ids {
    fn assume(self) -> io::Result<()> {
        let (Some(uid), Some(gid)) = (self.uid, self.gid) else { return Ok(()) };
        if rustix::process::getuid().as_raw() == uid && rustix::process::getgid().as_raw() == gid {
            return Ok(());
        }
        // SAFETY: plain syscalls in the forked child, before exec.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// The real id on a `Uid:`/`Gid:` line of `/proc/PID/status`.
fn id_of(status: &str, field: &str) -> Option<u32> {
    let key = field.trim_end_matches(':');
    stockade_linux::proc::status_number(status, key).and_then(|id| u32::try_from(id).ok())
}

struct HostControl {
    /// The command's pid, also its process group (and session, with a tty).
    pid: u32,
    pty: Option<PtyMaster>,
}

impl ExecControl for HostControl {
    fn resize(&self, size: TermSize) -> io::Result<()> {
        self.pty.as_ref().map_or(Ok(()), |p| p.resize(size))
    }

    fn signal(&self, signal: i32) -> io::Result<()> {
        let signal = rustix::process::Signal::from_named_raw(signal)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let group = rustix::process::Pid::from_raw(self.pid as i32)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        rustix::process::kill_process_group(group, signal).map_err(io::Error::from)
    }

    fn kill(&self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }
}

#[cfg(test)]
mod tests {
    use super::id_of;

    #[test]
    fn the_real_ids_are_read_from_status() {
        let status = "Name:\tsleep\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\n";
        assert_eq!(id_of(status, "Uid:"), Some(1000));
        assert_eq!(id_of(status, "Gid:"), Some(100));
    }
}
