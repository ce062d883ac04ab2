//! A run's log as the agent's own stdout and stderr: the daemon opens the
//! file (`O_APPEND`, `O_NOFOLLOW`, mode 0600, in the hidden state dir) and
//! hands the fd to the box, so output never passes through the daemon — no
//! daemon CPU per line, no pipe that fills at 64 KiB and stalls the agent
//! while no daemon runs, and what is written during an outage is in the
//! file afterwards. The box holds only that one file's fd, never a
//! directory fd of the state dir.
//!
//! Rotation is the daemon's, done on its own fd and without a rename under
//! the writer: once the live file passes `max_size`, its first whole blocks
//! (only the last `max_size` of them when more than twice that piled up: a
//! writer far faster than the rotation loses its oldest output, with a
//! warning, and a rotated file stays bounded) are copied in
//! the kernel (`copy_file_range`) to `<log>.1` (after `.1..` shift up) and cut out of the live
//! file with `fallocate(FALLOC_FL_COLLAPSE_RANGE)`, which the kernel
//! serialises with the agent's appends, so no byte is lost. Where collapse
//! is not supported (not ext4/xfs) the live file is truncated after the
//! copy: the lines written during the copy are lost then, and the warning
//! says so. The post-mortem tail is read back from the file.
//!
//! The agent does not write the file directly: the box's init (walled) or
//! a relay (unwalled) reads its stdout and stderr pipes and appends
//! timestamped, stream-tagged records (`stockade_proto::log_record`), still
//! without the daemon in the path.

use crate::launcher::LogTarget;
use crate::log_read;
use crate::logs::rotated;
use crate::logs::{Stream, Tail};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use stockade_proto::{LogRecord, LogStream, LogTail};

/// How many bytes at the end of the file the post-mortem tail reads.
const TAIL_BYTES: u64 = 64 * 1024;
/// The granule `FALLOC_FL_COLLAPSE_RANGE` wants (the file system's block).
const BLOCK: u64 = 4096;

/// Open the live log for appending, refusing a symlink.
pub fn open(target: &LogTarget) -> io::Result<File> {
    if let Some(dir) = target.path.parent() {
        fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&target.path)
}

/// How far past a block boundary the end of the line it cuts is looked for
/// (a record is at most 16 KiB and a timestamp long; an old untagged line
/// longer than this is cut where it is).
const HEAD_SEARCH: u64 = 64 * 1024;

/// Rotate if the live file has passed `max_size`. Returns how many bytes
/// were cut from the live file's start (0: no rotation).
///
/// The cut is at a block (what collapse needs), so it usually falls inside
/// a record: the rotated file takes that record whole (up to its `\n`),
/// and the live file's attribute (`log_read::XATTR`) says how many of its
/// first bytes to skip. Every file then reads as whole records, and the
/// logical offsets of `log_read` stay valid across the cut.
pub fn rotate_if_full(file: &File, target: &LogTarget) -> io::Result<u64> {
    let size = file.metadata()?.len();
    if size <= target.max_size || size < 2 * BLOCK {
        return Ok(0);
    }
    let (base, head) = log_read::meta(file).unwrap_or((0, 0));
    // Whole blocks, never up to EOF (collapse refuses a range that reaches it).
    let cut = ((size - 1) / BLOCK) * BLOCK;
    let line_end = |at: u64| -> io::Result<u64> { next_line(file, at, size) };
    let new_head = line_end(cut)? - cut;
    log_read::set_meta(file, None)?;
    let result = rotate(file, target, (base, head), cut, new_head);
    // Whatever happened, say where the live file now starts.
    let collapsed = matches!(result, Ok(Cut::Collapsed));
    let now = if collapsed { (base + cut, new_head) } else { (base + size, 0) };
    log_read::set_meta(file, Some(now))?;
    match result? {
        Cut::Collapsed => Ok(cut),
        Cut::Truncated => Ok(size),
    }
}

enum Cut {
    Collapsed,
    Truncated,
}

fn rotate(
    file: &File,
    target: &LogTarget,
    (base, head): (u64, u64),
    cut: u64,
    new_head: u64,
) -> io::Result<Cut> {
    if target.keep > 0 {
        for n in (1..target.keep).rev() {
            let from = rotated(&target.path, n);
            if fs::symlink_metadata(&from).is_ok() {
                fs::rename(&from, rotated(&target.path, n + 1))?;
            }
        }
        let first = rotated(&target.path, 1);
        let _ = fs::remove_file(&first);
        let mut out = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&first)?;
        // A writer much faster than the rotation period leaves far more
        // than `max_size` before the cut: then only its last `max_size`
        // (whole blocks) is kept, so a rotated file stays bounded and a
        // rotation costs the daemon at most that, copied in the kernel.
        let max = target.max_size.div_ceil(BLOCK) * BLOCK;
        let mut keep_from = if cut > 2 * max { cut - max } else { head };
        if keep_from > head {
            tracing::warn!(path = %target.path.display(), dropped_bytes = keep_from, "the agent writes faster than its log rotates: its oldest output was dropped (raise [daemon] log_max_size to keep more)");
            keep_from = next_line(file, keep_from, cut)?;
        }
        copy_range(file, &mut out, keep_from, cut + new_head)?;
        // Where the rotated file's records sit in the whole output.
        log_read::set_meta(&out, Some((base + keep_from, 0)))?;
    }
    // SAFETY: fallocate(2) on our own open fd with a range inside the file.
    let collapsed = unsafe {
        libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_COLLAPSE_RANGE, 0, cut as libc::off_t)
    } == 0;
    if !collapsed {
        tracing::warn!(path = %target.path.display(), "this file system cannot collapse a file's start; the log was truncated and lines written during its rotation are lost");
        file.set_len(0)?;
        return Ok(Cut::Truncated);
    }
    Ok(Cut::Collapsed)
}

/// The offset just after the first `\n` at or after `at` (at most
/// [`HEAD_SEARCH`] further; `at` itself when the byte before it ends a line).
fn next_line(file: &File, at: u64, limit: u64) -> io::Result<u64> {
    if at == 0 {
        return Ok(0);
    }
    let mut buf = vec![0u8; (HEAD_SEARCH as usize).min((limit - at + 1) as usize)];
    let n = file.read_at(&mut buf, at - 1)?;
    Ok(match buf[..n].iter().position(|&b| b == b'\n') {
        Some(i) => at - 1 + i as u64 + 1,
        None => at,
    })
}

/// Copy bytes `from..to` of `src` to the end of `dst`: `copy_file_range`
/// (in the kernel, no daemon buffer), read/write where it is refused.
fn copy_range(src: &File, dst: &mut File, from: u64, to: u64) -> io::Result<()> {
    let mut at = from;
    while at < to {
        let mut off = at as libc::loff_t;
        // SAFETY: both fds are open; `off` is a live local the kernel updates;
        // a null output offset means dst's own file position.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off,
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                (to - at) as usize,
                0,
            )
        };
        match n {
            0 => return Ok(()),
            n if n > 0 => at += n as u64,
            _ => {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP) => {
                        return copy_by_hand(src, dst, at, to);
                    }
                    _ => return Err(err),
                }
            }
        }
    }
    Ok(())
}

fn copy_by_hand(src: &File, dst: &mut File, mut at: u64, to: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    while at < to {
        let want = buf.len().min((to - at) as usize);
        let n = src.read_at(&mut buf[..want], at)?;
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n])?;
        at += n as u64;
    }
    Ok(())
}

/// The last [`TAIL_LINES`](crate::logs::TAIL_LINES) lines of each stream in the live file written
/// at or after byte `from` (where this run's output began: a service's log
/// holds its earlier runs too). Pieces of one line are joined.
pub fn tail(file: &File, from: u64) -> LogTail {
    let Ok(size) = file.metadata().map(|m| m.len()) else { return LogTail::default() };
    let start = size.saturating_sub(TAIL_BYTES).max(from.min(size));
    let mut buf = vec![0u8; (size - start) as usize];
    let n = file.read_at(&mut buf, start).unwrap_or(0);
    buf.truncate(n);
    let mut records: Vec<&[u8]> = buf.split(|&b| b == b'\n').collect();
    records.pop(); // after the last `\n`: empty, or a record still being written
    if start > from && !records.is_empty() {
        records.remove(0); // cut mid-record
    }
    let mut tail = Tail::default();
    let mut pending: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    for raw in records {
        let r = LogRecord::parse(raw);
        if r.start {
            continue;
        }
        let i = usize::from(r.stream == LogStream::Stderr);
        pending[i].extend_from_slice(r.text);
        if !r.partial {
            tail.push(to_tail_stream(r.stream), &pending[i]);
            pending[i].clear();
        }
    }
    for (i, stream) in [LogStream::Stdout, LogStream::Stderr].into_iter().enumerate() {
        if !pending[i].is_empty() {
            tail.push(to_tail_stream(stream), &pending[i]);
        }
    }
    tail.into_log_tail()
}

fn to_tail_stream(stream: LogStream) -> Stream {
    match stream {
        LogStream::Stdout => Stream::Stdout,
        LogStream::Stderr => Stream::Stderr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::TAIL_LINES;

    fn target(dir: &std::path::Path, max_size: u64, keep: u32) -> LogTarget {
        LogTarget { path: dir.join("logs/r.log"), max_size, keep }
    }

    #[test]
    fn a_symlinked_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), 1 << 20, 2);
        fs::create_dir_all(t.path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &t.path).unwrap();
        let err = open(&t).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        assert!(!dir.path().join("elsewhere").exists());
    }

    #[test]
    fn rotation_loses_no_byte_and_keeps_appending_to_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), 16 * 1024, 3);
        let file = open(&t).unwrap();
        // The agent's own handle, as a box would hold it.
        let mut agent = OpenOptions::new().append(true).open(&t.path).unwrap();
        let mut written = String::new();
        for i in 0..5000 {
            let line = format!("line {i:05}\n");
            agent.write_all(line.as_bytes()).unwrap();
            written.push_str(&line);
            if i % 500 == 0 {
                rotate_if_full(&file, &t).unwrap();
            }
        }
        rotate_if_full(&file, &t).unwrap();
        let mut all = String::new();
        for n in (1..=3).rev() {
            all.push_str(&fs::read_to_string(rotated(&t.path, n)).unwrap_or_default());
        }
        // The live file's first `head` bytes end a line `.1` holds whole.
        let (_, head) = log_read::meta(&file).unwrap();
        all.push_str(&fs::read_to_string(&t.path).unwrap()[head as usize..]);
        assert!(fs::metadata(&t.path).unwrap().len() < 16 * 1024 + BLOCK);
        for n in 1..=3 {
            let text = fs::read_to_string(rotated(&t.path, n)).unwrap();
            assert!(text.starts_with("line ") && text.ends_with('\n'), "whole lines in .{n}");
        }
        // Read back as records: every line once, in order, across the files.
        let mut from = None;
        let mut got = Vec::new();
        loop {
            let (lines, next) = log_read::read(&t.path, 3, from).unwrap();
            if lines.is_empty() {
                break;
            }
            got.extend(lines.into_iter().map(|l| l.text));
            from = Some(next);
        }
        let want: Vec<String> = all.lines().map(String::from).collect();
        assert_eq!(got, want);
        // The oldest rotations were dropped; what is kept is an unbroken suffix.
        assert!(written.ends_with(&all), "the kept logs are not a suffix of what was written");
        assert!(all.len() > 3 * 16 * 1024);
        let tail = tail(&file, 0);
        assert_eq!(tail.stdout.len(), TAIL_LINES);
        assert_eq!(tail.stdout.last().unwrap(), "line 04999");
    }

    #[test]
    fn a_writer_far_ahead_of_rotation_keeps_only_the_newest_max_size() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), 16 * 1024, 1);
        let file = open(&t).unwrap();
        let mut agent = OpenOptions::new().append(true).open(&t.path).unwrap();
        let mut written = String::new();
        for i in 0..20_000 {
            let line = format!("line {i:05}\n");
            agent.write_all(line.as_bytes()).unwrap();
            written.push_str(&line);
        }
        let cut = rotate_if_full(&file, &t).unwrap();
        assert_eq!(cut, ((written.len() as u64 - 1) / BLOCK) * BLOCK);
        let first = fs::read_to_string(rotated(&t.path, 1)).unwrap();
        let len = first.len() as u64;
        assert!(
            len <= 16 * 1024 + 11 && len > 16 * 1024 - 11,
            "the rotated file holds max_size only: {len}"
        );
        assert!(first.starts_with("line ") && first.ends_with('\n'), "whole lines");
        let live = fs::read_to_string(&t.path).unwrap();
        assert!(live.len() as u64 <= BLOCK, "{}", live.len());
        let (_, head) = log_read::meta(&file).unwrap();
        // What is kept is the newest output, unbroken up to the end.
        assert!(written.ends_with(&format!("{first}{}", &live[head as usize..])));
    }
}
