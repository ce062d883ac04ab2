//! Can this host build walls? The doctor checks behind issue 9: user
//! namespaces (and the distribution switches that restrict them), the walls
//! id range against `/etc/subuid` and `/etc/subgid`, seccomp filters,
//! idmapped mounts, and the tmpfs and overlay filesystems.
//!
//! Unlike the limit checks these read their few files directly (through the
//! injectable [`HostRoot`]) and take the configured [`IdRange`] as input, so
//! the daemon passes its `[daemon] id_range` and tests a tempdir. Nothing is
//! mounted or unshared to find out: idmapped-mount support is decided from the
//! kernel release (`mount_setattr(2)` and `MOUNT_ATTR_IDMAP` arrived in 5.12),
//! and a release that does not parse is `unknown`, not a guess.

use super::sysctl_fix;
use crate::HostRoot;
use crate::probe::{Probe, Unknown, read_text, read_u64};
use stockade_proto::{Check, CheckStatus};

use stockade_proto::IDS_PER_BOX;
pub use stockade_proto::IdRange;

/// Ids per box, as the range checks count them.
const PER_BOX: u64 = IDS_PER_BOX as u64;

/// The highest valid id is `u32::MAX - 1`; `u32::MAX` means "no id".
const ID_LIMIT: u64 = u32::MAX as u64;
/// Below this many user namespaces the host runs out before the boxes do.
const USERNS_WARN_BELOW: u64 = 4096;

/// The `user_namespaces`, `userns_restrictions`, `id_range`, `seccomp`,
/// `idmapped_mounts`, `fs_tmpfs` and `fs_overlay` checks.
pub fn walls_checks(root: &HostRoot, range: &IdRange) -> Vec<Check> {
    vec![
        user_namespaces(root),
        userns_restrictions(root),
        id_range(root, range),
        seccomp(root),
        idmapped_mounts(root),
        filesystem(root, "tmpfs", "fs_tmpfs"),
        filesystem(root, "overlay", "fs_overlay"),
    ]
}

fn check(id: &str, status: CheckStatus, value: String, message: String) -> Check {
    Check { id: id.into(), status, value: Some(value), limit: None, message, fix: None }
}

fn with_fix(mut check: Check, fix: impl Into<String>) -> Check {
    check.fix = Some(fix.into());
    check
}

fn unknown(id: &str, why: &Unknown) -> Check {
    Check {
        id: id.into(),
        status: CheckStatus::Unknown,
        value: None,
        limit: None,
        message: format!("cannot tell: {why}"),
        fix: None,
    }
}

fn user_namespaces(root: &HostRoot) -> Check {
    let id = "user_namespaces";
    let path = root.sysctl_path("user.max_user_namespaces");
    if !path.exists() && !root.proc.join("sys").join("user").exists() {
        let message = "no /proc/sys/user: this kernel has no user namespaces (CONFIG_USER_NS), \
                       so no box can be walled";
        let c = check(id, CheckStatus::Fail, "absent".into(), message.into());
        return with_fix(
            c,
            "boot a kernel built with CONFIG_USER_NS=y, or run units with isolation = \"none\"",
        );
    }
    let max = match read_u64(root, &path) {
        Ok(max) => max,
        Err(why) => return unknown(id, &why),
    };
    let fix = sysctl_fix("user.max_user_namespaces", 65536);
    let mut c = match max {
        0 => with_fix(
            check(
                id,
                CheckStatus::Fail,
                "0".into(),
                "user.max_user_namespaces is 0: no box can get its own user namespace".into(),
            ),
            fix,
        ),
        n if n < USERNS_WARN_BELOW => with_fix(
            check(
                id,
                CheckStatus::Warn,
                n.to_string(),
                format!(
                    "at most {n} user namespaces per user: that many walled boxes at once, fewer with other users of user namespaces"
                ),
            ),
            fix,
        ),
        n => {
            check(id, CheckStatus::Ok, n.to_string(), format!("up to {n} user namespaces per user"))
        }
    };
    c.limit = Some(USERNS_WARN_BELOW.to_string());
    c
}

/// The effective uid of the reading process (the daemon, when it runs doctor).
fn effective_uid(root: &HostRoot) -> Probe<u32> {
    let path = root.proc.join("self/status");
    let text = read_text(root, &path)?;
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .ok_or_else(|| Unknown::new(root.display(&path), "no effective uid on a `Uid:` line"))
}

/// Debian's `kernel.unprivileged_userns_clone` and Ubuntu's
/// `kernel.apparmor_restrict_unprivileged_userns`: both only bind a daemon
/// without `CAP_SYS_ADMIN`, so they fail a rootless daemon and warn a root one.
fn userns_restrictions(root: &HostRoot) -> Check {
    let id = "userns_restrictions";
    let switches = [
        (
            "kernel.unprivileged_userns_clone",
            0,
            1,
            "unprivileged users cannot create user namespaces",
        ),
        (
            "kernel.apparmor_restrict_unprivileged_userns",
            1,
            0,
            "AppArmor gives unprivileged users no capabilities inside the user namespaces they create",
        ),
    ];
    let mut found = Vec::new();
    for (name, bad, good, meaning) in switches {
        let path = root.sysctl_path(name);
        if !path.exists() {
            continue;
        }
        match read_u64(root, &path) {
            Ok(v) if v == bad => found.push((name, good, meaning)),
            Ok(_) => {}
            Err(why) => return unknown(id, &why),
        }
    }
    if found.is_empty() {
        return check(
            id,
            CheckStatus::Ok,
            "none".into(),
            "no distribution switch restricts user namespaces".into(),
        );
    }
    let rootless = match effective_uid(root) {
        Ok(uid) => uid != 0,
        Err(why) => return unknown(id, &why),
    };
    let value = found.iter().map(|(name, _, _)| *name).collect::<Vec<_>>().join(", ");
    let meaning =
        found.iter().map(|(name, _, m)| format!("{name}: {m}")).collect::<Vec<_>>().join("; ");
    let fix = found
        .iter()
        .map(|(name, good, _)| sysctl_fix(name, *good))
        .collect::<Vec<_>>()
        .join(" && ");
    let (status, message) = if rootless {
        (
            CheckStatus::Fail,
            format!("{meaning}; this daemon is not root, so its boxes cannot be walled"),
        )
    } else {
        (
            CheckStatus::Warn,
            format!("{meaning}; a root daemon is not affected, a rootless one would be"),
        )
    };
    with_fix(check(id, status, value, message), fix)
}

/// One `name:start:count` line of /etc/subuid or /etc/subgid.
struct Grant {
    file: &'static str,
    line: usize,
    name: String,
    start: u64,
    count: u64,
}

fn read_grants(root: &HostRoot, file: &'static str) -> Probe<Vec<Grant>> {
    let path = root.etc.join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Unknown::new(root.display(&path), crate::probe::io_reason(&e))),
    };
    let mut grants = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(start), Some(count)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(Unknown::new(
                format!("/etc/{file}:{}", i + 1),
                format!("not `name:start:count`: {line:?}"),
            ));
        };
        let (Ok(start), Ok(count)) = (start.parse(), count.parse()) else {
            return Err(Unknown::new(
                format!("/etc/{file}:{}", i + 1),
                format!("not `name:start:count`: {line:?}"),
            ));
        };
        grants.push(Grant { file, line: i + 1, name: name.to_string(), start, count });
    }
    Ok(grants)
}

fn id_range(root: &HostRoot, range: &IdRange) -> Check {
    let id = "id_range";
    let value = format!(
        "{}-{} ({} boxes of {})",
        range.first,
        range.end().saturating_sub(1),
        range.slots(),
        PER_BOX
    );
    let invalid = if range.first == 0 {
        Some("starts at 0: root in every box would be root on the host".to_string())
    } else if range.slots() == 0 {
        Some(format!("holds {} ids, not even one box of {PER_BOX}", range.count))
    } else if range.end() > ID_LIMIT {
        Some(format!("ends at {}, past the last valid id {}", range.end() - 1, ID_LIMIT - 1))
    } else {
        None
    };
    if let Some(why) = invalid {
        let c = check(id, CheckStatus::Fail, value, format!("the walls id range {why}"));
        let d = IdRange::DEFAULT;
        return with_fix(
            c,
            format!("set [daemon] id_range = \"{}-{}\" (the default)", d.first, d.last()),
        );
    }
    let mut grants = Vec::new();
    for file in ["subuid", "subgid"] {
        match read_grants(root, file) {
            Ok(g) => grants.extend(g),
            Err(why) => return unknown(id, &why),
        }
    }
    let overlaps: Vec<&Grant> = grants
        .iter()
        .filter(|g| {
            g.start < range.end() && u64::from(range.first) < g.start.saturating_add(g.count)
        })
        .collect();
    if overlaps.is_empty() {
        let message = format!(
            "free: no /etc/subuid or /etc/subgid entry overlaps it ({} entries checked)",
            grants.len()
        );
        return check(id, CheckStatus::Ok, value, message);
    }
    let listed = overlaps
        .iter()
        .map(|g| {
            format!(
                "/etc/{}:{} gives {} {}-{}",
                g.file,
                g.line,
                g.name,
                g.start,
                g.start + g.count - 1
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let message =
        format!("overlaps ids handed out to users, who could then own files of a box: {listed}");
    with_fix(check(id, CheckStatus::Fail, value, message), suggest_free(range, &grants))
}

/// A fix for an overlap: the range moved above every grant (aligned to a
/// box), shrunk to fit below the id limit, or else "remove the entries".
fn suggest_free(range: &IdRange, grants: &[Grant]) -> String {
    let top = grants.iter().map(|g| g.start.saturating_add(g.count)).max().unwrap_or(0);
    let first = top.max(u64::from(range.first)).div_ceil(PER_BOX) * PER_BOX;
    let room = ID_LIMIT.saturating_sub(PER_BOX).saturating_sub(first);
    let count = room.min(u64::from(range.count)) / PER_BOX * PER_BOX;
    if count >= PER_BOX {
        format!(
            "set [daemon] id_range = \"{first}-{}\" ({} boxes), or remove the overlapping lines from /etc/subuid and /etc/subgid",
            first + count - 1,
            count / PER_BOX
        )
    } else {
        "remove the overlapping lines from /etc/subuid and /etc/subgid (usermod --del-subuids/--del-subgids)".into()
    }
}

fn seccomp(root: &HostRoot) -> Check {
    let id = "seccomp";
    let fix = "boot a kernel built with CONFIG_SECCOMP_FILTER=y";
    let actions_path = root.sysctl_path("kernel.seccomp.actions_avail");
    if let Ok(actions) = read_text(root, &actions_path) {
        let actions: Vec<&str> = actions.split_whitespace().collect();
        let missing: Vec<&str> = ["kill_process", "errno", "allow"]
            .into_iter()
            .filter(|a| !actions.contains(a))
            .collect();
        let value = actions.join(" ");
        if missing.is_empty() {
            return check(
                id,
                CheckStatus::Ok,
                value,
                "seccomp filters are available (the box's filter uses kill_process, errno, allow)"
                    .into(),
            );
        }
        let message = format!(
            "the kernel lacks seccomp action(s) {} that the box's filter uses",
            missing.join(", ")
        );
        return with_fix(
            check(id, CheckStatus::Fail, value, message),
            "boot Linux ≥ 4.14 with CONFIG_SECCOMP_FILTER=y",
        );
    }
    let status_path = root.proc.join("self/status");
    match read_text(root, &status_path) {
        Ok(text) => match text.lines().find(|l| l.starts_with("Seccomp:")) {
            Some(line) => check(
                id,
                CheckStatus::Ok,
                line.split_whitespace().nth(1).unwrap_or("?").to_string(),
                "seccomp is built in (no actions_avail to list its actions)".into(),
            ),
            None => with_fix(
                check(id, CheckStatus::Fail, "absent".into(), "no seccomp: neither /proc/sys/kernel/seccomp nor a `Seccomp:` line in /proc/self/status; boxes would run without a syscall filter".into()),
                fix,
            ),
        },
        Err(why) => unknown(id, &why),
    }
}

/// `major.minor` of a release such as `6.18.44-fc-v1045` or `5.15.0-91-generic`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn idmapped_mounts(root: &HostRoot) -> Check {
    let id = "idmapped_mounts";
    let path = root.sysctl_path("kernel.osrelease");
    let release = match read_text(root, &path) {
        Ok(r) => r.trim().to_string(),
        Err(why) => return unknown(id, &why),
    };
    let Some(version) = kernel_version(&release) else {
        return Check {
            id: id.into(),
            status: CheckStatus::Unknown,
            value: Some(release.clone()),
            limit: Some("5.12".into()),
            message: format!(
                "cannot tell idmapped-mount support: kernel release {release:?} is not `major.minor...`"
            ),
            fix: None,
        };
    };
    let mut c = if version >= (5, 12) {
        check(id, CheckStatus::Ok, release, "mount_setattr(2) with MOUNT_ATTR_IDMAP is available (Linux ≥ 5.12); each filesystem must support it too (ext4, xfs 5.12, btrfs 5.15, tmpfs 6.3)".into())
    } else {
        with_fix(
            check(id, CheckStatus::Warn, release, "no idmapped mounts before Linux 5.12: files a box writes through `mounts` would belong to the box's host uid, not the mount's owner".into()),
            "upgrade to Linux ≥ 5.12",
        )
    };
    c.limit = Some("5.12".into());
    c
}

fn filesystem(root: &HostRoot, fs: &str, id: &str) -> Check {
    let path = root.proc.join("filesystems");
    let text = match read_text(root, &path) {
        Ok(text) => text,
        Err(why) => return unknown(id, &why),
    };
    let present = text.lines().any(|l| l.split_whitespace().last() == Some(fs));
    if present {
        return check(
            id,
            CheckStatus::Ok,
            "present".into(),
            format!("{fs} is in /proc/filesystems"),
        );
    }
    let (status, use_, fix) = match fs {
        "tmpfs" => (
            CheckStatus::Fail,
            "each box's private /tmp",
            "boot a kernel built with CONFIG_TMPFS=y".to_string(),
        ),
        _ => (
            CheckStatus::Warn,
            "a writable layer over a read-only rootfs",
            format!("modprobe {fs} && echo {fs} > /etc/modules-load.d/stockade.conf"),
        ),
    };
    let message = format!(
        "{fs} is not in /proc/filesystems (built as a module that is not loaded?); it is needed for {use_}"
    );
    with_fix(check(id, status, "absent".into(), message), fix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;

    fn healthy() -> Fixture {
        let mut f = Fixture::default();
        f.set("proc/sys/user/max_user_namespaces", "63469\n")
            .set(
                "proc/sys/kernel/seccomp/actions_avail",
                "kill_process kill_thread trap errno user_notif trace log allow\n",
            )
            .set("proc/sys/kernel/osrelease", "6.18.44-fc-v1045\n")
            .set("proc/filesystems", "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n")
            .set("proc/self/status", "Name:\tstockade\nUid:\t0\t0\t0\t0\nSeccomp:\t0\n")
            .set("etc/subuid", "alice:100000:65536\nbob:165536:65536\n")
            .set("etc/subgid", "alice:100000:65536\nbob:165536:65536\n");
        f
    }

    fn run(f: &Fixture, range: &IdRange) -> Vec<Check> {
        let (_dir, root) = f.write();
        walls_checks(&root, range)
    }

    fn by_id(f: &Fixture, range: &IdRange, id: &str) -> Check {
        let all = run(f, range);
        all.into_iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no check {id}"))
    }

    #[test]
    fn a_healthy_host_is_all_ok() {
        let all = run(&healthy(), &IdRange::DEFAULT);
        let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "user_namespaces",
                "userns_restrictions",
                "id_range",
                "seccomp",
                "idmapped_mounts",
                "fs_tmpfs",
                "fs_overlay"
            ]
        );
        let not_ok: Vec<_> = all.iter().filter(|c| c.status != CheckStatus::Ok).collect();
        assert!(not_ok.is_empty(), "{not_ok:#?}");
        let range = &all[2];
        assert_eq!(range.value.as_deref(), Some("2147483648-4294901759 (32767 boxes of 65536)"));
    }

    #[test]
    fn a_range_overlapping_subuid_fails_naming_the_line_and_a_free_range() {
        let range = IdRange { first: 131072, count: 65536 * 4 };
        let c = by_id(&healthy(), &range, "id_range");
        assert_eq!(c.status, CheckStatus::Fail, "{c:?}");
        assert!(c.message.contains("/etc/subuid:2 gives bob 165536-231071"), "{}", c.message);
        assert!(c.message.contains("/etc/subgid:1 gives alice"), "{}", c.message);
        let fix = c.fix.unwrap();
        assert!(fix.contains("id_range = \"262144-524287\""), "{fix}");
        // The suggestion is itself free.
        let moved = IdRange { first: 262144, count: 262144 };
        assert_eq!(by_id(&healthy(), &moved, "id_range").status, CheckStatus::Ok);
    }

    #[test]
    fn a_subuid_entry_inside_the_default_range_fails() {
        let mut f = healthy();
        f.set("etc/subuid", "alice:100000:65536\nbuild:3000000000:65536\n");
        let c = by_id(&f, &IdRange::DEFAULT, "id_range");
        assert_eq!(c.status, CheckStatus::Fail, "{c:?}");
        assert!(
            c.message.contains("/etc/subuid:2 gives build 3000000000-3000065535"),
            "{}",
            c.message
        );
        // Above 3000065536 there is still room, shrunk to fit under the id limit.
        let fix = c.fix.unwrap();
        assert!(fix.contains("id_range = \"3000107008-"), "{fix}");
    }

    #[test]
    fn invalid_ranges_fail_with_the_default_as_fix() {
        for (range, why) in [
            (IdRange { first: 0, count: 1 << 20 }, "starts at 0"),
            (IdRange { first: 1 << 31, count: 1000 }, "not even one box"),
            (IdRange { first: 1 << 31, count: 1 << 31 }, "past the last valid id"),
        ] {
            let c = by_id(&healthy(), &range, "id_range");
            assert_eq!(c.status, CheckStatus::Fail, "{c:?}");
            assert!(c.message.contains(why), "{}", c.message);
            assert!(c.fix.unwrap().contains("id_range = \"2147483648-4294901759\""));
        }
    }

    #[test]
    fn missing_subuid_files_are_fine_and_garbled_ones_unknown() {
        let mut f = healthy();
        f.remove("etc/subuid").remove("etc/subgid");
        assert_eq!(by_id(&f, &IdRange::DEFAULT, "id_range").status, CheckStatus::Ok);
        f.set("etc/subgid", "alice:lots\n");
        let c = by_id(&f, &IdRange::DEFAULT, "id_range");
        assert_eq!(c.status, CheckStatus::Unknown, "{c:?}");
        assert!(c.message.contains("/etc/subgid:1"), "{}", c.message);
    }

    #[test]
    fn user_namespace_limits() {
        let mut f = healthy();
        f.set("proc/sys/user/max_user_namespaces", "0\n");
        let c = by_id(&f, &IdRange::DEFAULT, "user_namespaces");
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(c.fix.unwrap().contains("sysctl -w user.max_user_namespaces=65536"));
        f.set("proc/sys/user/max_user_namespaces", "100\n");
        assert_eq!(by_id(&f, &IdRange::DEFAULT, "user_namespaces").status, CheckStatus::Warn);
        f.set("proc/sys/user/max_user_namespaces", "many\n");
        assert_eq!(by_id(&f, &IdRange::DEFAULT, "user_namespaces").status, CheckStatus::Unknown);
        f.remove("proc/sys/user/max_user_namespaces");
        let c = by_id(&f, &IdRange::DEFAULT, "user_namespaces");
        assert_eq!(c.status, CheckStatus::Fail, "{c:?}");
        assert!(c.message.contains("CONFIG_USER_NS"), "{}", c.message);
    }

    #[test]
    fn distribution_switches_fail_a_rootless_daemon_and_warn_a_root_one() {
        let mut f = healthy();
        f.set("proc/sys/kernel/unprivileged_userns_clone", "0\n")
            .set("proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1\n");
        let c = by_id(&f, &IdRange::DEFAULT, "userns_restrictions");
        assert_eq!(c.status, CheckStatus::Warn, "root: {c:?}");
        f.set("proc/self/status", "Name:\tstockade\nUid:\t1000\t1000\t1000\t1000\n");
        let c = by_id(&f, &IdRange::DEFAULT, "userns_restrictions");
        assert_eq!(c.status, CheckStatus::Fail, "rootless: {c:?}");
        let fix = c.fix.unwrap();
        assert!(fix.contains("sysctl -w kernel.unprivileged_userns_clone=1"), "{fix}");
        assert!(fix.contains("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"), "{fix}");
        f.set("proc/sys/kernel/unprivileged_userns_clone", "1\n")
            .set("proc/sys/kernel/apparmor_restrict_unprivileged_userns", "0\n");
        assert_eq!(by_id(&f, &IdRange::DEFAULT, "userns_restrictions").status, CheckStatus::Ok);
    }

    #[test]
    fn seccomp_from_actions_or_from_the_status_line() {
        let mut f = healthy();
        f.set("proc/sys/kernel/seccomp/actions_avail", "kill_thread trap errno trace allow\n");
        let c = by_id(&f, &IdRange::DEFAULT, "seccomp");
        assert_eq!(c.status, CheckStatus::Fail, "no kill_process: {c:?}");
        f.remove("proc/sys/kernel/seccomp/actions_avail");
        assert_eq!(
            by_id(&f, &IdRange::DEFAULT, "seccomp").status,
            CheckStatus::Ok,
            "Seccomp: line"
        );
        f.set("proc/self/status", "Name:\tstockade\nUid:\t0\t0\t0\t0\n");
        let c = by_id(&f, &IdRange::DEFAULT, "seccomp");
        assert_eq!(c.status, CheckStatus::Fail, "{c:?}");
        assert!(c.fix.unwrap().contains("CONFIG_SECCOMP_FILTER"));
    }

    #[test]
    fn idmapped_mounts_follow_the_kernel_release() {
        let mut f = healthy();
        for (release, status) in [
            ("5.12.0\n", CheckStatus::Ok),
            ("5.15.0-91-generic\n", CheckStatus::Ok),
            ("5.10.0-21-amd64\n", CheckStatus::Warn),
            ("4.19.0+\n", CheckStatus::Warn),
            ("linux-next\n", CheckStatus::Unknown),
            ("6\n", CheckStatus::Unknown),
        ] {
            f.set("proc/sys/kernel/osrelease", release);
            let c = by_id(&f, &IdRange::DEFAULT, "idmapped_mounts");
            assert_eq!(c.status, status, "{release:?}: {c:?}");
        }
        f.remove("proc/sys/kernel/osrelease");
        assert_eq!(by_id(&f, &IdRange::DEFAULT, "idmapped_mounts").status, CheckStatus::Unknown);
    }

    #[test]
    fn missing_filesystems() {
        let mut f = healthy();
        f.set("proc/filesystems", "nodev\tsysfs\n\text4\n");
        let tmpfs = by_id(&f, &IdRange::DEFAULT, "fs_tmpfs");
        assert_eq!(tmpfs.status, CheckStatus::Fail);
        let overlay = by_id(&f, &IdRange::DEFAULT, "fs_overlay");
        assert_eq!(overlay.status, CheckStatus::Warn);
        assert!(overlay.fix.unwrap().starts_with("modprobe overlay"));
        f.remove("proc/filesystems");
        assert_eq!(by_id(&f, &IdRange::DEFAULT, "fs_tmpfs").status, CheckStatus::Unknown);
    }

    #[test]
    fn this_host_reads_without_unknowns() {
        let all = walls_checks(&HostRoot::default(), &IdRange::DEFAULT);
        assert_eq!(all.len(), 7);
        let unknown: Vec<_> = all.iter().filter(|c| c.status == CheckStatus::Unknown).collect();
        assert!(unknown.is_empty(), "this project's hosts have every file: {unknown:#?}");
    }
}
