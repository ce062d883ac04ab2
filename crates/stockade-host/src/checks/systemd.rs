//! `systemd_kill_mode`: under systemd, whether `systemctl restart|stop`
//! would kill the boxes. Boxes live in the daemon's cgroup subtree
//! (`Delegate=yes`), so with the default `KillMode=control-group` systemd
//! SIGKILLs every agent when it stops the unit, before the next daemon could
//! adopt them. `KillMode=process` signals the daemon alone; `mixed` sends
//! SIGTERM to the daemon and then SIGKILLs the rest of the cgroup, and
//! `control-group` signals everything — both kill the boxes.
//!
//! Where the facts come from is a seam ([`SystemdUnit::detect`] reads
//! `/proc/self/cgroup`, `$INVOCATION_ID`, `systemctl show`, or a unit file;
//! tests build a [`SystemdUnit`] directly); [`kill_mode_check`] is pure.

use std::path::{Path, PathBuf};
use stockade_proto::{Check, CheckStatus};

/// The check's id.
const ID: &str = "systemd_kill_mode";
/// What the bundled unit says.
const BUNDLED: &str = "dist/systemd/stockade.service";

/// Where unit files are looked for when `systemctl` is missing.
const UNIT_DIRS: [&str; 4] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// The systemd unit stockade runs (or will run) under, as far as it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdUnit {
    /// The unit's name (`stockade.service`) or its file.
    pub name: String,
    /// Its `KillMode` (`None`: not set, systemd's default `control-group`).
    pub kill_mode: Option<String>,
    /// Where `kill_mode` was read (`systemctl show`, or a file).
    pub source: String,
}

impl SystemdUnit {
    /// The unit this process runs under, if it was started by systemd (its
    /// cgroup names a `.service` and `$INVOCATION_ID` is set); `None` otherwise.
    pub fn detect(proc_root: &Path) -> Option<SystemdUnit> {
        std::env::var_os("INVOCATION_ID")?;
        let cgroup = std::fs::read_to_string(proc_root.join("self/cgroup")).ok()?;
        let name = unit_of_cgroup(&cgroup)?;
        if let Some(kill_mode) = systemctl_kill_mode(&name) {
            let kill_mode = (!kill_mode.is_empty()).then_some(kill_mode);
            return Some(SystemdUnit { name, kill_mode, source: "systemctl show".into() });
        }
        let file = UNIT_DIRS.iter().map(|d| Path::new(d).join(&name)).find(|p| p.is_file())?;
        SystemdUnit::from_file(&file).ok()
    }

    /// The unit file at `path` (`doctor --unit FILE`).
    pub fn from_file(path: &Path) -> std::io::Result<SystemdUnit> {
        let text = std::fs::read_to_string(path)?;
        Ok(SystemdUnit {
            name: path
                .file_name()
                .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned()),
            kill_mode: kill_mode_of_file(&text),
            source: path.display().to_string(),
        })
    }
}

/// The `.service` a `/proc/<pid>/cgroup` text puts the process in (the
/// unified `0::` line, or the v1 `name=systemd` one).
pub fn unit_of_cgroup(cgroup: &str) -> Option<String> {
    let line = cgroup
        .lines()
        .find(|l| l.starts_with("0::"))
        .into_iter()
        .chain(cgroup.lines().filter(|l| l.contains(":name=systemd:")))
        .find(|l| l.contains(".service"))?;
    let path = line.splitn(3, ':').nth(2)?;
    path.split('/').rev().find(|part| part.ends_with(".service")).map(str::to_owned)
}

/// The last `KillMode=` in the `[Service]` section of a unit file's text.
pub fn kill_mode_of_file(text: &str) -> Option<String> {
    let mut in_service = false;
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service && let Some(value) = line.strip_prefix("KillMode=") {
            found = Some(value.trim().to_owned());
        }
    }
    found
}

fn systemctl_kill_mode(unit: &str) -> Option<String> {
    let systemctl = ["/usr/bin/systemctl", "/bin/systemctl"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())?;
    let out = std::process::Command::new(systemctl)
        .args(["show", "-p", "KillMode", "--value", unit])
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The check for `unit` (`None`: not under systemd — nothing to say).
pub fn kill_mode_check(unit: Option<&SystemdUnit>) -> Option<Check> {
    let unit = unit?;
    let mode = unit.kill_mode.as_deref().unwrap_or("control-group");
    let (status, message) = match mode {
        "process" | "none" => (
            CheckStatus::Ok,
            format!(
                "{} has KillMode={mode}: `systemctl restart` stops the daemon only; the boxes live on for the next daemon",
                unit.name
            ),
        ),
        _ => (
            CheckStatus::Warn,
            format!(
                "{} has KillMode={mode}{}: `systemctl stop|restart` kills every box in the unit's cgroup, so no agent survives a restart or an upgrade",
                unit.name,
                if unit.kill_mode.is_none() { " (systemd's default)" } else { "" }
            ),
        ),
    };
    Some(Check {
        id: ID.into(),
        status,
        value: Some(mode.to_owned()),
        limit: Some("process".into()),
        message: format!("{message} (read from {})", unit.source),
        fix: (status != CheckStatus::Ok).then(|| {
            format!("set KillMode=process (with Type=notify and Delegate=yes) in [Service] of {}, as {BUNDLED} does; then `systemctl daemon-reload`", unit.name)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(kill_mode: Option<&str>) -> SystemdUnit {
        SystemdUnit {
            name: "stockade.service".into(),
            kill_mode: kill_mode.map(str::to_owned),
            source: "test".into(),
        }
    }

    #[test]
    fn a_kill_mode_that_kills_the_boxes_warns_and_process_passes() {
        for (mode, status) in [
            (None, CheckStatus::Warn),
            (Some("control-group"), CheckStatus::Warn),
            (Some("mixed"), CheckStatus::Warn),
            (Some("process"), CheckStatus::Ok),
        ] {
            let check = kill_mode_check(Some(&unit(mode))).unwrap();
            assert_eq!(check.status, status, "{mode:?}: {}", check.message);
            assert_eq!(check.fix.is_some(), status == CheckStatus::Warn);
        }
        assert!(kill_mode_check(None).is_none(), "not under systemd: no check");
    }

    #[test]
    fn the_unit_is_found_in_v1_and_v2_cgroup_files() {
        let v2 = "0::/system.slice/stockade.service\n";
        assert_eq!(unit_of_cgroup(v2).as_deref(), Some("stockade.service"));
        let v1 = "12:memory:/system.slice/stockade.service\n1:name=systemd:/system.slice/stockade.service\n0::/\n";
        assert_eq!(unit_of_cgroup(v1).as_deref(), Some("stockade.service"));
        assert_eq!(unit_of_cgroup("0::/user.slice/user-0.slice/session-3.scope\n"), None);
    }

    #[test]
    fn the_bundled_unit_file_keeps_the_boxes() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(BUNDLED);
        let unit = SystemdUnit::from_file(&path).expect("the bundled unit exists");
        assert_eq!(unit.kill_mode.as_deref(), Some("process"));
        let text = std::fs::read_to_string(&path).unwrap();
        for line in ["Type=notify", "Delegate=yes", "KillMode=process"] {
            assert!(text.lines().any(|l| l.trim() == line), "{BUNDLED} lacks {line}");
        }
        assert_eq!(kill_mode_check(Some(&unit)).unwrap().status, CheckStatus::Ok);
        let later = "[Unit]\nKillMode=process\n[Service]\nKillMode=mixed\n";
        assert_eq!(kill_mode_of_file(later).as_deref(), Some("mixed"));
    }
}
