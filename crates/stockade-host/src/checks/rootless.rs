//! `rootless`: what a daemon started by this user can and cannot enforce.
//! Run as root, boxes map onto the `[daemon] id_range` and the daemon makes
//! its own cgroups; run as another user, each walled box maps only that
//! user's own uid and gid (root inside = the user outside), `user =` cannot
//! be honoured, writable mounts are not idmapped, and limits need a cgroup
//! tree the user may write (a delegated cgroup v2 subtree) — without one the
//! sandbox falls back to rlimits and process groups and says so in its log
//! and in `stockade status`.

use stockade_proto::{Check, CheckStatus};

/// The check for a daemon whose effective uid is `euid`.
pub fn rootless_check(euid: u32) -> Check {
    let value = format!("uid {euid}");
    if euid == 0 {
        return Check {
            id: "rootless".into(),
            status: CheckStatus::Ok,
            value: Some(value),
            limit: None,
            message: "runs as root: each walled box gets its own 65536 ids of the id range, and the daemon makes its own cgroups".into(),
            fix: None,
        };
    }
    Check {
        id: "rootless".into(),
        status: CheckStatus::Warn,
        value: Some(value),
        limit: None,
        message: format!(
            "rootless (uid {euid}): walled boxes keep their namespaces, no_new_privs and seccomp, but each maps only uid {euid} \
             (root inside is uid {euid} outside, so boxes share one host uid with each other and with the daemon's own files); \
             a unit with `user` set cannot start; writable `mounts` are plain binds; memory, cpu and pids limits hold only if \
             stockade's cgroup parent is writable by uid {euid} (a delegated cgroup v2 subtree) — otherwise they are NOT enforced"
        ),
        fix: Some(
            "run the daemon as root (e.g. a systemd system service) for per-box ids and cgroups, or start it in a delegated \
             cgroup v2 subtree (systemd-run --user --scope -p Delegate=yes stockade daemon)"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_ok_and_another_user_is_warned_with_what_is_lost() {
        assert_eq!(rootless_check(0).status, CheckStatus::Ok);
        let c = rootless_check(1000);
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.message.contains("maps only uid 1000"), "{}", c.message);
        assert!(c.message.contains("NOT enforced"), "{}", c.message);
        assert!(c.fix.unwrap().contains("Delegate=yes"));
    }
}
