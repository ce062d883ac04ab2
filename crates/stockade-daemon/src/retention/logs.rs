//! Log retention: the files under `<state_dir>/logs` — `<service>.<replica>.log`
//! and `jobs/<id>.log`, each with its rotated `.1` (newest) … `.N` — are
//! deleted by age and by total size (`[logs] max_age`, `max_size`).
//!
//! By age: every file of a run that ended longer ago than `max_age`, and any
//! rotated file last written longer ago. When a run ended is the newer of
//! what the store says ([`Runs::ended_at`]) and its files' newest mtime (an
//! agent silent for days before it exited is judged by its end, not by its
//! last line). By size: while all files together (live ones included) take
//! more than `max_size`, the oldest file goes — ended runs' files first, then
//! live runs' rotated files — and the live file of a live run never does.
//!
//! Rotation keeps a log's files in mtime order (`.N` oldest), so both rules
//! delete a log's oldest files first and never leave a hole that a reader
//! would skip over. A file is re-checked (same inode, same mtime) just before
//! it is unlinked: a rotation that renamed it meanwhile keeps it.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use stockade_proto::JobId;

/// Whose log a file is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Owner {
    /// `jobs/<id>.log`: every attempt of the job appends to it.
    Job(JobId),
    /// `<service>.<replica>.log`: every run of the replica appends to it.
    Replica {
        /// The service.
        service: String,
        /// The replica index.
        replica: u32,
    },
}

/// What the sweep needs to know about the runs behind the files.
pub(crate) trait Runs {
    /// The owner has a run going, or will have (a queued job, a replica
    /// that is starting or backing off): its live file is never deleted.
    fn is_live(&self, owner: &Owner) -> bool;
    /// When the owner's last run ended, if known.
    fn ended_at(&self, owner: &Owner) -> Option<SystemTime>;
}

/// `[logs] max_age` and `max_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Files of runs ended longer ago, and rotated files older, go.
    pub(crate) max_age: Duration,
    /// The most all files may take together (`None`: no bound).
    pub(crate) max_size: Option<u64>,
}

/// One stored log file, as scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogFile {
    /// Its path.
    pub(crate) path: PathBuf,
    /// Whose it is.
    pub(crate) owner: Owner,
    /// 0: the live file; `n`: rotated file `.n`.
    pub(crate) generation: u32,
    /// Its length.
    pub(crate) size: u64,
    /// Last written.
    pub(crate) modified: SystemTime,
    /// Its inode, to tell a renamed file from the one scanned.
    ino: u64,
}

/// What one sweep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Files deleted by age.
    pub(crate) by_age: u64,
    /// Files deleted to get under `max_size`.
    pub(crate) by_size: u64,
    /// The bytes those files held.
    pub(crate) bytes: u64,
    /// The bytes of the files kept.
    pub(crate) kept_bytes: u64,
    /// Still over `max_size` by this much with only live files left.
    pub(crate) over: Option<u64>,
    /// What could not be deleted, with why.
    pub(crate) failed: Vec<String>,
}

impl Swept {
    /// Files deleted.
    pub(crate) fn removed(&self) -> u64 {
        self.by_age + self.by_size
    }
}

/// Every log file under `dir` (`<state_dir>/logs`); other files are not
/// stockade's to judge and are left out.
pub(crate) fn scan(dir: &Path) -> Vec<LogFile> {
    let mut files = Vec::new();
    scan_dir(dir, &mut files, &|stem| {
        let (service, replica) = stem.rsplit_once('.')?;
        let replica = replica.parse().ok()?;
        Some(Owner::Replica { service: service.to_owned(), replica })
    });
    scan_dir(&dir.join("jobs"), &mut files, &|stem| {
        stem.parse().ok().map(|id| Owner::Job(JobId(id)))
    });
    files.sort_by(|a, b| (&a.owner, a.generation).cmp(&(&b.owner, b.generation)));
    files
}

fn scan_dir(dir: &Path, out: &mut Vec<LogFile>, owner_of: &dyn Fn(&str) -> Option<Owner>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else { continue };
        let Some((stem, generation)) = split_name(&name) else { continue };
        let Some(owner) = owner_of(stem) else { continue };
        // Not followed: a symlink is nobody's log.
        let Ok(meta) = entry.metadata() else { continue };
        let Ok(modified) = meta.modified() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push(LogFile {
            path: entry.path(),
            owner,
            generation,
            size: meta.len(),
            modified,
            ino: meta.ino(),
        });
    }
}

/// `web.0.log` → (`web.0`, 0); `web.0.log.2` → (`web.0`, 2).
fn split_name(name: &str) -> Option<(&str, u32)> {
    if let Some(stem) = name.strip_suffix(".log") {
        return Some((stem, 0));
    }
    let (base, n) = name.rsplit_once('.')?;
    let generation: u32 = n.parse().ok().filter(|&n| n > 0)?;
    Some((base.strip_suffix(".log")?, generation))
}

/// One sweep over `files` (from [`scan`]) at time `now`.
pub(crate) fn sweep(
    files: Vec<LogFile>,
    policy: Policy,
    now: SystemTime,
    runs: &dyn Runs,
) -> Swept {
    let age = |t: SystemTime| now.duration_since(t).unwrap_or_default();
    let owners = statuses(&files, policy.max_age, &age, runs);
    let mut swept = Swept::default();
    let mut kept = Vec::new();
    for file in files {
        let expired = match owners[&file.owner] {
            Status::Ended(ended) => age(ended) >= policy.max_age,
            Status::Live => false,
        } || (file.generation > 0 && age(file.modified) >= policy.max_age);
        if expired && swept.delete(&file) {
            swept.by_age += 1;
        } else {
            kept.push(file);
        }
    }
    if let Some(max) = policy.max_size {
        kept = swept.down_to(max, kept, &owners);
    }
    swept.kept_bytes = kept.iter().map(|f| f.size).sum();
    swept
}

/// Each owner's standing: live, or ended at the newer of its files' newest
/// mtime and the store's end of its last run.
fn statuses(
    files: &[LogFile],
    max_age: Duration,
    age: &dyn Fn(SystemTime) -> Duration,
    runs: &dyn Runs,
) -> HashMap<Owner, Status> {
    let mut owners: HashMap<Owner, Status> = HashMap::new();
    for file in files {
        let status = owners.entry(file.owner.clone()).or_insert(Status::Ended(file.modified));
        if let Status::Ended(newest) = status {
            *newest = (*newest).max(file.modified);
        }
    }
    for (owner, status) in &mut owners {
        if runs.is_live(owner) {
            *status = Status::Live;
        } else if let Status::Ended(newest) = status
            // Files written within max_age keep their owner's: the store
            // is asked only about those that may go (one indexed read each).
            && age(*newest) >= max_age
            && let Some(ended) = runs.ended_at(owner)
        {
            *newest = (*newest).max(ended);
        }
    }
    owners
}

/// How the owner of some files stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// It has (or will have) a run.
    Live,
    /// Its last run ended then (or its files were last written then).
    Ended(SystemTime),
}

impl Swept {
    /// Delete files of `kept` until they take at most `max` bytes: ended
    /// runs' files first, then live runs' rotated ones, oldest first; never
    /// a live run's live file. Returns what is left.
    fn down_to(
        &mut self,
        max: u64,
        kept: Vec<LogFile>,
        owners: &HashMap<Owner, Status>,
    ) -> Vec<LogFile> {
        let mut total: u64 = kept.iter().map(|f| f.size).sum();
        if total <= max {
            return kept;
        }
        let live = |f: &LogFile| owners[&f.owner] == Status::Live;
        let mut order: Vec<&LogFile> =
            kept.iter().filter(|f| !(live(f) && f.generation == 0)).collect();
        order.sort_by_key(|f| (live(f), f.modified));
        let mut gone = std::collections::HashSet::new();
        for file in order {
            if total <= max {
                break;
            }
            if self.delete(file) {
                self.by_size += 1;
                total -= file.size;
                gone.insert(file.path.clone());
            }
        }
        if total > max {
            self.over = Some(total - max);
        }
        kept.into_iter().filter(|f| !gone.contains(&f.path)).collect()
    }

    /// Unlink `file` unless it changed since the scan; true if it is gone.
    fn delete(&mut self, file: &LogFile) -> bool {
        let same = std::fs::symlink_metadata(&file.path)
            .is_ok_and(|m| m.ino() == file.ino && m.modified().ok() == Some(file.modified));
        if !same {
            return false;
        }
        match std::fs::remove_file(&file.path) {
            Ok(()) => {
                self.bytes += file.size;
                true
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
            Err(err) => {
                self.failed.push(format!("cannot delete {}: {err}", file.path.display()));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_stem_and_generation() {
        assert_eq!(split_name("web.0.log"), Some(("web.0", 0)));
        assert_eq!(split_name("web.0.log.3"), Some(("web.0", 3)));
        assert_eq!(split_name("12.log.1"), Some(("12", 1)));
        assert_eq!(split_name("web.0.log.0"), None);
        assert_eq!(split_name("web.0.log.x"), None);
        assert_eq!(split_name("notes.txt"), None);
        assert_eq!(split_name("web.0.log.tmp"), None);
    }
}
