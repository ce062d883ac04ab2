//! Assembling an exec's [`Launch`]: the registered box's walls and ids, a
//! fresh pipe set (or a pty), the box's cgroup joins, and the relay's argv.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::child::{ChildPlan, Entry};
use super::clone::{self, Launch};
use super::exec::{BoxEntry, ExecSpec, cstr};
use super::{Network, WallsKit, caps, resolve};
use crate::rlimit::RlimitPlan;
use crate::{SpawnError, SpawnSpec};

/// The daemon's ends of an exec.
#[derive(Debug)]
pub(crate) struct ExecEnds {
    pub(crate) stdin: Option<OwnedFd>,
    pub(crate) stdout: Option<OwnedFd>,
    pub(crate) stderr: Option<OwnedFd>,
    pub(crate) pty: Option<OwnedFd>,
    pub(crate) record: File,
}

pub(crate) fn prepare(
    entry: &BoxEntry,
    spec: &ExecSpec,
    kit: &WallsKit,
    join: Vec<OwnedFd>,
) -> Result<(Launch, ExecEnds), SpawnError> {
    let box_name = entry.box_name.clone();
    let invalid = |reason: String, hint: &str| SpawnError::InvalidSpec {
        box_name: box_name.clone(),
        reason,
        hint: hint.into(),
    };
    let setup =
        |what: &str, e: std::io::Error| invalid(format!("exec: {what}: {e}"), "see the OS error");
    if spec.argv.is_empty() {
        return Err(invalid("exec argv is empty".into(), "give the command to run, e.g. [\"sh\"]"));
    }
    let mut env = entry.env.clone();
    for (k, v) in &spec.env {
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v.clone()));
    }
    // Resolve the program as a spawn would, against the box's root and PATH.
    let as_spawn = SpawnSpec {
        box_name: box_name.clone(),
        argv: spec.argv.clone(),
        env: env.clone(),
        ..SpawnSpec::default()
    };
    let checked = &entry.checked;
    let program = resolve::program(&as_spawn, &checked.walls, &checked.root)?;
    let nul = || invalid("exec argv, env or cwd contains a NUL byte".into(), "remove the NUL byte");

    let (report_r, report_w) = clone::pipe().map_err(|e| setup("error pipe", e))?;
    let record = super::exec::record_memfd().map_err(|e| setup("exit record", e))?;
    let record_child = clone::high(record.try_clone().map_err(|e| setup("dup", e))?)
        .map_err(|e| setup("dup", e))?;
    let mut child_side = Vec::new();
    let mut ends = ExecEnds { stdin: None, stdout: None, stderr: None, pty: None, record };
    let stdio: [i32; 3];
    if spec.tty {
        let (master, slave) = super::exec::open_pty().map_err(|e| setup("open a pty", e))?;
        let slave = clone::high(slave).map_err(|e| setup("dup", e))?;
        stdio = [slave.as_raw_fd(); 3];
        child_side.push(slave);
        ends.pty = Some(master);
    } else {
        let (in_r, in_w) = clone::pipe().map_err(|e| setup("stdin pipe", e))?;
        let (out_r, out_w) = clone::pipe().map_err(|e| setup("stdout pipe", e))?;
        let (err_r, err_w) = clone::pipe().map_err(|e| setup("stderr pipe", e))?;
        stdio = [in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()];
        child_side.extend([in_r, out_w, err_w]);
        (ends.stdin, ends.stdout, ends.stderr) = (Some(in_w), Some(out_r), Some(err_r));
    }
    let join: Vec<OwnedFd> =
        join.into_iter().map(clone::high).collect::<Result<_, _>>().map_err(|e| setup("dup", e))?;
    let pidfd = clone::high(entry.pidfd.try_clone().map_err(|e| setup("dup", e))?)
        .map_err(|e| setup("dup", e))?;

    let mut argv = vec![c"stockade-init".to_owned()];
    if spec.tty {
        argv.push(c"--tty".to_owned());
    }
    argv.push(cstr(program.as_os_str().as_bytes()).ok_or_else(nul)?);
    argv.push(c"--".to_owned());
    for a in &spec.argv {
        argv.push(cstr(a.as_bytes()).ok_or_else(nul)?);
    }
    let envp = env
        .iter()
        .map(|(k, v)| cstr(format!("{k}={v}").as_bytes()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(nul)?;
    let cwd: PathBuf = spec.cwd.clone().unwrap_or_else(|| entry.cwd.clone());
    let mut flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS;
    if checked.walls.network == Network::None {
        flags |= libc::CLONE_NEWNET;
    }
    let kept = caps::kept_mask();
    let mut plan = ChildPlan {
        join: clone::raws(&join),
        stdio,
        err_write: report_w.as_raw_fd(),
        record: record_child.as_raw_fd(),
        entry: Entry::Join { pidfd: pidfd.as_raw_fd(), flags },
        rlimits: RlimitPlan::for_limits(&entry.limits),
        cwd: cstr(cwd.as_os_str().as_bytes()).ok_or_else(nul)?,
        uid: checked.uid,
        gid: checked.gid,
        setgroups: kit.own_ids.is_none(),
        drop_caps: (0..=kit.last_cap).filter(|c| kept & (1u64 << c) == 0).collect(),
        keep_caps: if checked.uid == 0 { kept } else { 0 },
        parent_death: false,
        seccomp: kit.seccomp.clone(),
        init_fd: kit.init.raw(),
        argv,
        envp,
        argv_ptrs: Vec::new(),
        envp_ptrs: Vec::new(),
        keep: Vec::new(),
        keep_first: Vec::new(),
    };
    plan.seal();
    child_side.extend([report_w, record_child, pidfd]);
    child_side.extend(join);
    let launch = Launch {
        plan,
        clone_flags: 0,
        id_map: None,
        child_side,
        sync_write: None,
        err_read: report_r,
        describe_op: |_, index| format!("step {index}"),
    };
    Ok((launch, ends))
}
