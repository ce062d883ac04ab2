//! The daemon's `RLIMIT_NPROC` and `RLIMIT_NOFILE`, from `/proc/self/limits`.
//!
//! `RLIMIT_NPROC` counts every task of the uid host-wide (not per process), so
//! agents started under the daemon's uid all draw from it; the kernel does not
//! apply it to root. `RLIMIT_NOFILE` is judged on the hard limit because the
//! daemon raises its soft limit to the hard one at start, and spends about four
//! fds per agent (pidfd, stdout and stderr pipes, an OOM eventfd).

use super::unknown;
use crate::{HostFacts, Rlimit, Unknown};
use stockade_proto::{Check, CheckStatus};

/// Fds the daemon holds per live agent.
const FDS_PER_AGENT: u64 = 4;

/// The `nproc` and `nofile` checks.
pub fn checks(facts: &HostFacts) -> Vec<Check> {
    let limits = match &facts.limits {
        Ok(limits) => limits,
        Err(why) => {
            return vec![
                unknown("nproc", "RLIMIT_NPROC", why, None),
                unknown("nofile", "RLIMIT_NOFILE", why, None),
            ];
        }
    };
    let missing = |row: &str| Unknown::new("/proc/self/limits", format!("no {row:?} row"));
    vec![
        match limits.nproc {
            Some(nproc) => nproc_check(nproc, facts.uid.as_ref().ok().copied()),
            None => unknown("nproc", "RLIMIT_NPROC", &missing("Max processes"), None),
        },
        match limits.nofile {
            Some(nofile) => nofile_check(nofile),
            None => unknown("nofile", "RLIMIT_NOFILE", &missing("Max open files"), None),
        },
    ]
}

fn show(value: Option<u64>) -> String {
    value.map_or_else(|| "unlimited".into(), |v| v.to_string())
}

fn nproc_check(nproc: Rlimit, uid: Option<u32>) -> Check {
    let (status, message) = match (uid, nproc.soft) {
        (Some(0), _) => (
            CheckStatus::Ok,
            "the daemon runs as root, which RLIMIT_NPROC does not bind; agents started \
             under another uid count against that uid's limit"
                .to_string(),
        ),
        (_, None) => (CheckStatus::Ok, "unlimited".to_string()),
        (_, Some(soft)) if soft < 4096 => (
            CheckStatus::Fail,
            format!(
                "{soft} tasks for the daemon's whole uid, host-wide; a handful of agents \
                 with dozens of threads each exhaust it (EAGAIN at fork or pthread_create)"
            ),
        ),
        (_, Some(soft)) if soft < 16384 => (
            CheckStatus::Warn,
            format!(
                "{soft} tasks for the daemon's whole uid, host-wide; tight for a herd of agents"
            ),
        ),
        (_, Some(soft)) => (CheckStatus::Ok, format!("{soft} tasks for the daemon's uid")),
    };
    let fix = (status != CheckStatus::Ok).then(|| {
        "ulimit -u 65535 in the shell that starts the daemon (systemd: LimitNPROC=65535; \
         logins: '<user> - nproc 65535' in /etc/security/limits.d/90-stockade.conf)"
            .to_string()
    });
    Check {
        id: "nproc".into(),
        status,
        value: Some(show(nproc.soft)),
        limit: Some(show(nproc.hard)),
        message,
        fix,
    }
}

fn nofile_check(nofile: Rlimit) -> Check {
    let (status, mut message) = match nofile.hard {
        None => (CheckStatus::Ok, "unlimited".to_string()),
        Some(hard) => {
            let agents = hard / FDS_PER_AGENT;
            let status = if hard < 1024 {
                CheckStatus::Fail
            } else if hard < 16384 {
                CheckStatus::Warn
            } else {
                CheckStatus::Ok
            };
            (
                status,
                format!(
                    "hard limit {hard}: at {FDS_PER_AGENT} fds per agent the daemon can \
                     supervise about {agents} agents"
                ),
            )
        }
    };
    if nofile.soft != nofile.hard {
        message.push_str(&format!(
            "; soft limit {} is raised to the hard limit at daemon start",
            show(nofile.soft)
        ));
    }
    let fix = (status != CheckStatus::Ok).then(|| {
        "ulimit -n 65535 in the shell that starts the daemon (systemd: LimitNOFILE=65535; \
         logins: '<user> - nofile 65535' in /etc/security/limits.d/90-stockade.conf)"
            .to_string()
    });
    Check {
        id: "nofile".into(),
        status,
        value: Some(show(nofile.soft)),
        limit: Some(show(nofile.hard)),
        message,
        fix,
    }
}
