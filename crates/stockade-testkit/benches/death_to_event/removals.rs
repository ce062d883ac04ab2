//! The rmdir of a box inside the real daemon, seen through inotify on its
//! cgroup parent: the end of `Agent::finish`, observed without touching the
//! daemon or polling.

use crate::PATIENCE;
use std::path::PathBuf;
use std::time::Instant;
use tokio::sync::mpsc;

/// Box directories the daemon removed, as inotify reports them on its cgroup
/// parent in every hierarchy: (box name, when the watching thread read it).
/// cgroupfs raises `IN_DELETE` for an rmdir like any directory, so this sees
/// the end of `Agent::finish` inside the real daemon without polling.
pub(crate) struct Removals {
    /// The daemon's cgroup parent (a path segment).
    pub(crate) parent: String,
    /// That parent in each hierarchy that has it.
    pub(crate) dirs: Vec<PathBuf>,
    pub(crate) rx: mpsc::UnboundedReceiver<(String, Instant)>,
}

/// The box of the agent `pid` under the daemon's parent, and in how many
/// watched hierarchies it exists.
pub(crate) fn box_of(removals: &Removals, pid: u32) -> Option<(String, usize)> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let marker = format!("/{}/", removals.parent);
    let name = cgroups.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        let at = path.find(&marker)?;
        path[at + marker.len()..].split('/').next().map(str::to_string)
    })?;
    let count = removals.dirs.iter().filter(|d| d.join(&name).is_dir()).count();
    (count > 0).then_some((name, count))
}

/// When the last of `count` directories of box `name` was removed.
pub(crate) async fn removed_at(removals: &mut Removals, name: &str, count: usize) -> Instant {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen = 0;
    let mut last = None;
    while seen < count {
        let (removed, at) = tokio::time::timeout_at(deadline, removals.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("box {name} not removed within {PATIENCE:?}"))
            .unwrap_or_else(|| panic!("the inotify watcher ended before box {name} was removed"));
        if removed == name {
            seen += 1;
            last = Some(at);
        }
    }
    last.unwrap_or_else(Instant::now)
}

/// Watch the daemon's cgroup `parent` in every hierarchy for removed
/// directories, on a thread of its own (it blocks in read(2)). It ends when
/// every watched parent is gone or nobody listens. `None` (with the reason
/// printed) if inotify is unavailable.
pub(crate) fn watch_removals(parent: &str) -> Option<Removals> {
    use std::os::unix::ffi::OsStrExt;
    let dirs: Vec<PathBuf> =
        hierarchy_dirs().into_iter().map(|d| d.join(parent)).filter(|d| d.is_dir()).collect();
    // SAFETY: inotify_init1 takes flags only.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        println!("box-removal rows skipped: inotify_init1: {}", std::io::Error::last_os_error());
        return None;
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut watches = 0;
    for dir in &dirs {
        let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { continue };
        // SAFETY: `path` is a valid NUL-terminated string for the call.
        let wd = unsafe {
            libc::inotify_add_watch(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                path.as_ptr(),
                libc::IN_DELETE | libc::IN_ONLYDIR,
            )
        };
        if wd >= 0 {
            watches += 1;
        }
    }
    if watches == 0 {
        println!("box-removal rows skipped: no cgroup parent of the daemon could be watched");
        return None;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut file = std::fs::File::from(fd);
        let mut buf = [0u8; 4096];
        let mut ignored = 0;
        while ignored < watches {
            let Ok(n) = std::io::Read::read(&mut file, &mut buf) else { return };
            let at = Instant::now();
            let mut off = 0;
            // struct inotify_event: wd i32, mask u32, cookie u32, len u32, name[len].
            while off + 16 <= n {
                let word = |i: usize| {
                    u32::from_ne_bytes(buf[off + i..off + i + 4].try_into().unwrap_or([0; 4]))
                };
                let (mask, len) = (word(4), word(12) as usize);
                let name = &buf[off + 16..(off + 16 + len).min(n)];
                let name = name.split(|b| *b == 0).next().unwrap_or_default();
                if mask & libc::IN_IGNORED != 0 {
                    ignored += 1;
                } else if mask & libc::IN_DELETE != 0
                    && tx.send((String::from_utf8_lossy(name).into_owned(), at)).is_err()
                {
                    return;
                }
                off += 16 + len;
            }
        }
    });
    Some(Removals { parent: parent.to_string(), dirs, rx })
}

/// The directories of box `box_name` under `parent` in every cgroup
/// hierarchy this process is in.
pub(crate) fn box_dirs(parent: &str, box_name: &str) -> Vec<PathBuf> {
    hierarchy_dirs()
        .into_iter()
        .map(|d| d.join(parent).join(box_name))
        .filter(|d| d.is_dir())
        .collect()
}

/// This process's own cgroup directory in every hierarchy (v1 controllers
/// and the v2 tree) that exists.
pub(crate) fn hierarchy_dirs() -> Vec<PathBuf> {
    stockade_sandbox::own_cgroup_dirs().into_iter().filter(|dir| dir.is_dir()).collect()
}
