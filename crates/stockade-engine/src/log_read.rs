//! Reading a run's log back: the live file and its rotated files as one
//! stream of records (`stockade_proto::log_record`) addressed by a
//! [`LogPos`] that survives rotation and a daemon restart.
//!
//! Every log file carries, in the extended attribute `user.stockade.log`,
//! `"<base> <head>"`: the *logical* offset of its byte 0 in the run's whole
//! output (the bytes cut from the live file by all earlier rotations), and
//! how many of its first bytes are the end of a line the rotated file
//! before it already holds whole (a rotation cuts at a block, not a line).
//! So a logical offset names one record for good: the live file holds
//! `[base + head, base + len)`, `<log>.1` the range ending there, and so on.
//! While a rotation runs the live file's attribute reads `rotating`;
//! readers retry.
//!
//! A [`LogPos`] is `<inode>-<logical offset>` (the live file's inode: a
//! rotation collapses the file in place and keeps it). A position whose
//! inode is not the live file's reads from the oldest record kept.

use crate::logs::rotated;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::str::FromStr;
use stockade_proto::{LogRecord, LogStream};

/// The extended attribute holding a log file's base and head.
pub const XATTR: &std::ffi::CStr = c"user.stockade.log";
/// The most bytes one [`read`] returns (whole records; a record is never longer than this).
pub const READ_MAX: usize = 1 << 20;

/// A resumable position in a run's log: just after a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPos {
    /// The live file's inode.
    pub ino: u64,
    /// The logical byte offset.
    pub offset: u64,
}

impl fmt::Display for LogPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ino, self.offset)
    }
}

impl FromStr for LogPos {
    type Err = String;
    fn from_str(s: &str) -> Result<LogPos, String> {
        let bad = || format!("{s:?} is not a log position (`<inode>-<offset>`, an SSE event id)");
        let (ino, offset) = s.split_once('-').ok_or_else(bad)?;
        Ok(LogPos {
            ino: ino.parse().map_err(|_| bad())?,
            offset: offset.parse().map_err(|_| bad())?,
        })
    }
}

/// One record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLine {
    /// The position just after it (resume here to read the next one).
    pub pos: LogPos,
    /// Nanoseconds since the epoch; `None` for an untagged (old) line.
    pub ts_ns: Option<i64>,
    /// Its stream.
    pub stream: LogStream,
    /// A piece: the next record of the same stream continues the line.
    pub partial: bool,
    /// A run-start marker, not output (`text`: what started).
    pub start: bool,
    /// Its text (invalid UTF-8 replaced).
    pub text: String,
}

/// A file's base and head, or `None` while it is being rotated.
pub fn meta(file: &File) -> Option<(u64, u64)> {
    let mut buf = [0u8; 64];
    // SAFETY: fgetxattr(2) on an open fd into a live buffer of its length.
    let n = unsafe {
        libc::fgetxattr(file.as_raw_fd(), XATTR.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
    };
    if n < 0 {
        return Some((0, 0)); // never rotated (or no xattr support)
    }
    let text = std::str::from_utf8(&buf[..n as usize]).ok()?;
    let (base, head) = text.split_once(' ')?;
    Some((base.parse().ok()?, head.parse().ok()?))
}

/// Set a file's base and head (`None`: mark it as being rotated).
pub fn set_meta(file: &File, value: Option<(u64, u64)>) -> io::Result<()> {
    let text = match value {
        Some((base, head)) => format!("{base} {head}"),
        None => "rotating".to_string(),
    };
    // SAFETY: fsetxattr(2) on an open fd with a live buffer of its length.
    let rc = unsafe {
        libc::fsetxattr(file.as_raw_fd(), XATTR.as_ptr(), text.as_ptr().cast(), text.len(), 0)
    };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// One file of the log: what logical range it holds.
struct Segment {
    file: File,
    base: u64,
    start: u64,
    end: u64,
}

/// Read whole records after `from` (`None`: from the oldest kept), at
/// most [`READ_MAX`] bytes of them. Returns the records and the position
/// after the last one (equal to `from` when nothing new was written). A
/// missing log is an empty one.
pub fn read(path: &Path, keep: u32, from: Option<LogPos>) -> io::Result<(Vec<ReadLine>, LogPos)> {
    for _ in 0..100 {
        if let Some(read) = try_read(path, keep, from)? {
            return Ok(read);
        }
        std::thread::sleep(std::time::Duration::from_millis(1)); // a rotation is under way
    }
    Err(io::Error::other(format!("{} stayed mid-rotation for 100 ms", path.display())))
}

fn try_read(
    path: &Path,
    keep: u32,
    from: Option<LogPos>,
) -> io::Result<Option<(Vec<ReadLine>, LogPos)>> {
    let live = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Some((Vec::new(), from.unwrap_or(LogPos { ino: 0, offset: 0 }))));
        }
        Err(e) => return Err(e),
    };
    let ino = live.metadata()?.ino();
    let Some(before) = meta(&live) else { return Ok(None) };
    let mut segments = Vec::new();
    for n in (1..=keep).rev() {
        if let Ok(file) = File::open(rotated(path, n))
            && let Some((base, head)) = meta(&file)
        {
            let len = file.metadata()?.len();
            segments.push(Segment { file, base, start: base + head, end: base + len });
        }
    }
    let len = live.metadata()?.len();
    let (base, head) = before;
    segments.push(Segment { file: live, base, start: base + head, end: base + len });
    let oldest = segments.iter().map(|s| s.start).min().unwrap_or(0);
    let mut at = match from {
        Some(pos) if pos.ino == ino => pos.offset.max(oldest),
        _ => oldest,
    };
    let mut lines = Vec::new();
    let mut budget = READ_MAX;
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        if at >= seg.end || budget == 0 {
            continue;
        }
        at = at.max(seg.start);
        let left = (seg.end - at) as usize;
        let want = left.min(budget);
        let mut buf = vec![0u8; want];
        let n = seg.file.read_at(&mut buf, at - seg.base)?;
        buf.truncate(n);
        // Whole records only: an unfinished last one is read next time.
        let mut whole = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole == 0 && n == READ_MAX {
            whole = n; // an old untagged line longer than a read: cut it
        }
        for raw in buf[..whole].split_inclusive(|&b| b == b'\n') {
            at += raw.len() as u64;
            let r = LogRecord::parse(raw.strip_suffix(b"\n").unwrap_or(raw));
            lines.push(ReadLine {
                pos: LogPos { ino, offset: at },
                ts_ns: r.ts_ns,
                stream: r.stream,
                partial: r.partial,
                start: r.start,
                text: String::from_utf8_lossy(r.text).into_owned(),
            });
        }
        budget -= whole;
        if whole < want {
            if i == last || want < left {
                break;
            }
            at = seg.end; // a rotated file cut mid-line (an old log): skip its tail
        }
    }
    // A rotation between the attribute read and the data: read again.
    let live = &segments[segments.len() - 1].file;
    if meta(live) != Some(before) {
        return Ok(None);
    }
    Ok(Some((lines, LogPos { ino, offset: at })))
}
