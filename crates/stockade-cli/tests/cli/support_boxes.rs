//! What a test leaves on the host, found and removed: [`BoxSweeper`] (the
//! box directories of one template, in every cgroup hierarchy), [`Proc`]
//! (a process known by pid and start time) and [`Leftovers`] (processes
//! killed by pid on the way out, also when a test fails).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A process known by pid and start time, so a reused pid is never mistaken
/// for it (nor killed in its place).
#[derive(Debug, Clone, PartialEq)]
pub struct Proc {
    /// Its pid.
    pub pid: u32,
    /// Its start time, in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
}

impl Proc {
    /// The live process `pid`, if any (a zombie is not).
    pub fn find(pid: u32) -> Option<Proc> {
        let (state, start_ticks) = proc_stat(pid)?;
        (state != 'Z').then_some(Proc { pid, start_ticks })
    }

    /// Whether this very process still runs.
    pub fn alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((state, start)) if state != 'Z' && start == self.start_ticks)
    }
}

/// State letter and start time (field 22) of `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Kills, by pid, the listed processes that are still alive when dropped.
pub struct Leftovers(pub Vec<Proc>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for p in &self.0 {
            if p.alive() {
                // SAFETY: kill(2) of a pid whose start time we just matched.
                unsafe { libc::kill(p.pid as i32, libc::SIGKILL) };
            }
        }
    }
}

/// The box directories whose names start with `prefix` (a template's
/// `NAME.`) under the binary's `stockade` parent, in every cgroup hierarchy
/// (v1 puts the memory boxes under the daemon's own memory cgroup). On drop,
/// kills what is left in them by pid and removes them — also when the test
/// failed first.
pub struct BoxSweeper {
    /// The name prefix of the boxes this test makes.
    pub prefix: String,
}

impl BoxSweeper {
    /// Every such directory that exists now.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut found = BTreeSet::new();
        for own in stockade_sandbox::own_cgroup_dirs() {
            let Ok(entries) = std::fs::read_dir(own.join("stockade")) else { continue };
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&self.prefix) {
                    found.insert(e.path().canonicalize().unwrap_or(e.path()));
                }
            }
        }
        found.into_iter().collect()
    }

    /// Box directories that still hold a process.
    pub fn occupied(&self) -> Vec<PathBuf> {
        self.dirs().into_iter().filter(|d| !box_pids(d).is_empty()).collect()
    }
}

/// The pids in a box directory's `cgroup.procs`.
pub fn box_pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

impl Drop for BoxSweeper {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in self.dirs() {
            while Instant::now() < deadline {
                for pid in box_pids(&dir) {
                    // SAFETY: kill(2) of a pid listed in a box only this test's template uses.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
