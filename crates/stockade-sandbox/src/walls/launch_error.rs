//! Turning a failed walled start ([`LaunchError`]) into the [`SpawnError`]
//! the engine records, with the step that failed and what to do.

use std::io;
use std::path::Path;

use stockade_proto::SpawnErrorKind;

use super::clone::LaunchError;
use crate::SpawnError;
use crate::spawn::classify_spawn_error;

/// The spawn error for `err` while starting `program` in `box_name`.
/// `eagain_hint` names the limit that bound when the errno is EAGAIN.
pub(crate) fn spawn_error(
    box_name: &str,
    program: &Path,
    err: LaunchError,
    eagain_hint: impl FnOnce() -> String,
) -> SpawnError {
    let errno = err.errno();
    let source = io::Error::from_raw_os_error(errno);
    let (kind, hint) = match &err {
        LaunchError::Agent(_) => {
            let (kind, hint) = classify_spawn_error(&source, program);
            if errno == libc::EAGAIN { (kind, eagain_hint()) } else { (kind, hint) }
        }
        LaunchError::Clone(e) => (
            if *e == libc::EAGAIN { SpawnErrorKind::ResourceLimit } else { SpawnErrorKind::BoxSetup },
            match *e {
                libc::EAGAIN => eagain_hint(),
                libc::ENOSPC => "the host ran out of user or pid namespaces; raise /proc/sys/user/max_user_namespaces (and max_pid_namespaces) or run fewer boxes".into(),
                libc::EPERM | libc::EINVAL => "the kernel refused new namespaces: check that user namespaces are enabled (`sysctl user.max_user_namespaces`, kernel.unprivileged_userns_clone) — `stockade doctor` checks this — or run the unit with isolation = \"none\"".into(),
                _ => "cloning the box's init failed; see the OS error".into(),
            },
        ),
        LaunchError::Maps(_) => (
            SpawnErrorKind::BoxSetup,
            "writing the box's uid/gid map failed: the daemon needs CAP_SETUID/CAP_SETGID (run it as root) and the id range must be free".into(),
        ),
        LaunchError::Child { what, .. } => (
            if errno == libc::EAGAIN { SpawnErrorKind::ResourceLimit } else { SpawnErrorKind::BoxSetup },
            format!("building the box's walls failed at: {what}; run `stockade doctor` to see what this host supports, or use isolation = \"none\""),
        ),
    };
    SpawnError::Exec {
        box_name: box_name.to_string(),
        program: program.display().to_string(),
        kind,
        hint,
        source,
    }
}
