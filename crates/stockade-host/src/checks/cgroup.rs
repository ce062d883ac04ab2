//! The cgroup layout: mode, the controllers a box needs, write access where
//! boxes are created, and mount options that make every spawn slow.
//!
//! The spawn cost: moving a task into a cgroup takes
//! `cgroup_threadgroup_rwsem` for writing, which waits for an RCU grace period
//! unless a hierarchy is mounted `favordynmods` (v2, and v1 since 6.0). On
//! this project's v1 hosts that measured 10–60 ms per spawn
//! (research/dependencies.md §3.2); v1 pays it once per hierarchy joined.

use super::unknown;
use crate::{CgroupFacts, CgroupMode, CgroupVersion, HostFacts, REQUIRED_CONTROLLERS};
use stockade_proto::{Check, CheckStatus};

/// The `cgroup_mode`, `cgroup_controllers`, `cgroup_writable` and
/// `cgroup_mount_options` checks.
pub fn checks(facts: &HostFacts) -> Vec<Check> {
    match &facts.cgroup {
        Ok(cg) => vec![mode(cg), controllers(cg), writable(cg), mount_options(cg)],
        Err(why) => {
            ["cgroup_mode", "cgroup_controllers", "cgroup_writable", "cgroup_mount_options"]
                .iter()
                .map(|id| unknown(id, "the cgroup layout", why, None))
                .collect()
        }
    }
}

fn check(
    id: &str,
    status: CheckStatus,
    value: String,
    message: String,
    fix: Option<String>,
) -> Check {
    Check { id: id.into(), status, value: Some(value), limit: None, message, fix }
}

fn mode(cg: &CgroupFacts) -> Check {
    let (status, message) = match cg.mode {
        CgroupMode::Unified => (CheckStatus::Ok, "boxes use the cgroup v2 backend".to_string()),
        CgroupMode::Hybrid | CgroupMode::Legacy => (
            CheckStatus::Ok,
            "boxes use the cgroup v1 backend (one directory per controller)".to_string(),
        ),
        CgroupMode::None => (
            CheckStatus::Warn,
            "no cgroups: boxes get rlimits and a process group only; memory and pids \
             limits cannot be enforced"
                .to_string(),
        ),
    };
    let fix =
        (cg.mode == CgroupMode::None).then(|| "mount -t cgroup2 none /sys/fs/cgroup".to_string());
    check("cgroup_mode", status, cg.mode.describe().to_string(), message, fix)
}

fn controllers(cg: &CgroupFacts) -> Check {
    let missing: Vec<&str> =
        REQUIRED_CONTROLLERS.iter().copied().filter(|c| cg.provider(c).is_none()).collect();
    let present: Vec<String> = REQUIRED_CONTROLLERS
        .iter()
        .filter_map(|c| cg.provider(c).map(|h| format!("{c} ({})", h.mount_point.display())))
        .collect();
    if missing.is_empty() {
        return check(
            "cgroup_controllers",
            CheckStatus::Ok,
            REQUIRED_CONTROLLERS.join(" "),
            format!("found {}", present.join(", ")),
            None,
        );
    }
    let fix = match cg.mode {
        CgroupMode::Unified => Some(format!(
            "echo '{}' > /sys/fs/cgroup/cgroup.subtree_control (and in each parent of the daemon's cgroup)",
            missing.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(" ")
        )),
        CgroupMode::Hybrid | CgroupMode::Legacy => Some(
            missing
                .iter()
                .map(|c| format!("mkdir -p /sys/fs/cgroup/{c} && mount -t cgroup -o {c} cgroup /sys/fs/cgroup/{c}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        CgroupMode::None => None,
    };
    check(
        "cgroup_controllers",
        CheckStatus::Fail,
        present.join(", "),
        format!(
            "missing {}: boxes cannot limit {}",
            missing.join(", "),
            missing
                .iter()
                .map(|c| match *c {
                    "memory" => "memory",
                    "pids" => "tasks (no fork-bomb guard)",
                    _ => "cpu",
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        fix,
    )
}

fn writable(cg: &CgroupFacts) -> Check {
    let mut denied = Vec::new();
    let mut places = Vec::new();
    for c in REQUIRED_CONTROLLERS {
        let Some(h) = cg.provider(c) else { continue };
        let own = h.own_path.as_deref().unwrap_or("/");
        let place = format!("{}{}", h.mount_point.display(), if own == "/" { "" } else { own });
        match &h.writable {
            Ok(()) if !places.contains(&place) => places.push(place),
            Ok(()) => {}
            Err(why) => denied.push(format!("{c}: {why}")),
        }
    }
    if cg.mode == CgroupMode::None {
        return check(
            "cgroup_writable",
            CheckStatus::Unknown,
            "-".into(),
            "no cgroup filesystem".into(),
            None,
        );
    }
    if denied.is_empty() {
        check(
            "cgroup_writable",
            CheckStatus::Ok,
            "yes".into(),
            format!("boxes are created under {}", places.join(", ")),
            None,
        )
    } else {
        check(
            "cgroup_writable",
            CheckStatus::Fail,
            "no".into(),
            format!("cannot create boxes: {}", denied.join("; ")),
            Some(
                "run the daemon as root, or in a delegated subtree: \
                 systemd-run --user --scope -p Delegate=yes stockade daemon"
                    .into(),
            ),
        )
    }
}

fn mount_options(cg: &CgroupFacts) -> Check {
    let relevant: Vec<_> = cg
        .hierarchies
        .iter()
        .filter(|h| h.controllers.iter().any(|c| REQUIRED_CONTROLLERS.contains(&c.as_str())))
        .collect();
    if relevant.is_empty() {
        return check(
            "cgroup_mount_options",
            CheckStatus::Unknown,
            "-".into(),
            "no hierarchy carries memory, pids or cpu".into(),
            None,
        );
    }
    // The rwsem is global: favordynmods on any hierarchy spares every migration.
    if cg.hierarchies.iter().any(|h| h.favors_dynmods()) {
        return check(
            "cgroup_mount_options",
            CheckStatus::Ok,
            "favordynmods".into(),
            "cgroup migrations skip the RCU grace period".into(),
            None,
        );
    }
    let v1 = relevant.iter().filter(|h| h.version == CgroupVersion::V1).count();
    let (message, mount) = if v1 > 0 {
        (
            format!(
                "no favordynmods: each spawn joins {v1} v1 hierarchies and every join waits \
                 for an RCU grace period (10-60 ms measured on v1 hosts)"
            ),
            relevant[0].mount_point.display().to_string(),
        )
    } else {
        (
            "no favordynmods: each spawn into a box waits for an RCU grace period".to_string(),
            relevant[0].mount_point.display().to_string(),
        )
    };
    check(
        "cgroup_mount_options",
        CheckStatus::Warn,
        relevant[0].options.join(","),
        message,
        Some(format!(
            "mount -o remount,favordynmods {mount} (kernel 6.0+; or build with CONFIG_CGROUP_FAVOR_DYNMODS=y)"
        )),
    )
}
