//! rlimits: raising the daemon's own `RLIMIT_NOFILE`, and the fixed plan of
//! `setrlimit` calls a child makes in `pre_exec`.
//!
//! Why the daemon raises NOFILE: tokio reaps children through a pidfd, and if
//! `pidfd_open` fails for any reason (EMFILE included) it silently falls back
//! to the SIGCHLD reaper. Each agent costs about four fds (pidfd, two pipes, the
//! OOM watch), so the soft limit must be the hard limit. Children get the
//! original soft limit back unless their spec sets `nofile`, because programs
//! that use `select(2)` break with fds above 1024.

use std::io;
use std::sync::OnceLock;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use stockade_proto::Limits;

/// The daemon's soft `RLIMIT_NOFILE` before [`raise_nofile_limit`] raised it.
static ORIGINAL_NOFILE: OnceLock<Option<u64>> = OnceLock::new();

/// Raise this process's soft `RLIMIT_NOFILE` to its hard limit and return the
/// new soft limit. The daemon calls this once at start, before any spawn.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let current = getrlimit(Resource::Nofile);
    ORIGINAL_NOFILE.get_or_init(|| current.current);
    // An unlimited hard NOFILE does not exist on Linux (nr_open caps it), but
    // be exact if a kernel ever reports it.
    let target = current.maximum;
    if current.current != target {
        setrlimit(Resource::Nofile, Rlimit { current: target, maximum: current.maximum })?;
    }
    Ok(target.unwrap_or(u64::MAX))
}

/// `wanted`, or the daemon's own hard limit if `wanted` is above it and the
/// daemon cannot raise hard limits (no `CAP_SYS_RESOURCE`, as in many
/// containers). Asking for more would make `setrlimit` fail with EPERM in the
/// child and every spawn fail; a limit the kernel will not grant is clamped,
/// and the clamp is logged.
fn grantable(resource: Resource, wanted: u64) -> u64 {
    let Some(hard) = getrlimit(resource).maximum else { return wanted };
    if wanted <= hard || has_cap_sys_resource() {
        return wanted;
    }
    // Said once per process and resource: every spawn would repeat it.
    static SAID: [std::sync::atomic::AtomicBool; 2] =
        [std::sync::atomic::AtomicBool::new(false), std::sync::atomic::AtomicBool::new(false)];
    let said = &SAID[usize::from(resource == Resource::Nproc)];
    if !said.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            ?resource,
            wanted,
            granted = hard,
            "limit clamped to the daemon's hard limit: it lacks CAP_SYS_RESOURCE to raise it (raise the daemon's hard limit, e.g. LimitNOFILE= or `ulimit -H`, to grant more); said once"
        );
    }
    hard
}

/// Whether this process holds `CAP_SYS_RESOURCE` (bit 24 of `CapEff`).
fn has_cap_sys_resource() -> bool {
    static CAP: OnceLock<bool> = OnceLock::new();
    *CAP.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let hex = stockade_linux::proc::status_field(&status, "CapEff")?;
                u64::from_str_radix(hex, 16).ok()
            })
            .is_some_and(|caps| caps & (1 << 24) != 0)
    })
}

/// The `setrlimit` calls a child makes before exec, computed in the parent so
/// the child only issues raw syscalls.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RlimitPlan {
    entries: [Option<(Resource, u64, u64)>; 3],
}

impl RlimitPlan {
    /// The plan for `limits`: nofile, nproc, core set soft = hard; nofile
    /// falls back to the daemon's original soft limit (below its raised hard one).
    pub(crate) fn for_limits(limits: &Limits) -> RlimitPlan {
        let nofile = match limits.nofile {
            Some(n) => Some((
                Resource::Nofile,
                grantable(Resource::Nofile, n),
                grantable(Resource::Nofile, n),
            )),
            None => ORIGINAL_NOFILE.get().copied().flatten().map(|soft| {
                let hard = getrlimit(Resource::Nofile).maximum.unwrap_or(u64::MAX);
                (Resource::Nofile, soft.min(hard), hard)
            }),
        };
        RlimitPlan {
            entries: [
                nofile,
                limits.nproc.map(|n| {
                    (Resource::Nproc, grantable(Resource::Nproc, n), grantable(Resource::Nproc, n))
                }),
                limits.core.map(|n| (Resource::Core, n, n)),
            ],
        }
    }

    /// Apply the plan. Async-signal-safe: raw syscalls only, no allocation.
    pub(crate) fn apply(&self) -> io::Result<()> {
        for (resource, soft, hard) in self.entries.iter().flatten() {
            setrlimit(*resource, Rlimit { current: Some(*soft), maximum: Some(*hard) })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_nofile_reaches_the_hard_limit() {
        let raised = raise_nofile_limit().unwrap();
        let now = getrlimit(Resource::Nofile);
        assert_eq!(now.current, now.maximum);
        assert_eq!(Some(raised), now.current);
        // Idempotent: a second call changes nothing.
        assert_eq!(raise_nofile_limit().unwrap(), raised);
    }

    #[test]
    fn the_plan_sets_soft_and_hard_from_limits() {
        let plan = RlimitPlan::for_limits(&Limits {
            nofile: Some(77),
            nproc: Some(5),
            core: Some(0),
            ..Limits::default()
        });
        let entries: Vec<_> = plan.entries.iter().flatten().copied().collect();
        assert_eq!(
            entries,
            vec![(Resource::Nofile, 77, 77), (Resource::Nproc, 5, 5), (Resource::Core, 0, 0)]
        );
    }

    #[test]
    fn a_limit_above_the_hard_limit_is_clamped_unless_it_can_be_raised() {
        let Some(hard) = getrlimit(Resource::Nofile).maximum else { return };
        let wanted = hard + 1000;
        let plan = RlimitPlan::for_limits(&Limits { nofile: Some(wanted), ..Limits::default() });
        let (_, soft, max) = plan.entries[0].expect("a nofile entry");
        if has_cap_sys_resource() {
            assert_eq!((soft, max), (wanted, wanted));
        } else {
            assert_eq!((soft, max), (hard, hard));
        }
        let below = RlimitPlan::for_limits(&Limits { nofile: Some(64), ..Limits::default() });
        assert_eq!(below.entries[0].map(|e| (e.1, e.2)), Some((64, 64)));
    }
}
