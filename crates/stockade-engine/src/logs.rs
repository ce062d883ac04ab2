//! Run output: a size-rotated log file per instance, and the last lines of
//! each stream kept in memory for the post-mortem.
//!
//! Output is read line by line from the box's pipes. A line longer than
//! [`MAX_LINE`] is cut into pieces, so an agent that prints megabytes without a
//! newline costs bounded memory. The default rotation (10 MiB × 3 files) means
//! the logs can never fill a disk.

use crate::launcher::LogTarget;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use stockade_proto::LogTail;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The longest line kept whole, in bytes.
pub const MAX_LINE: usize = 16 * 1024;
/// How many lines of each stream a post-mortem keeps.
pub const TAIL_LINES: usize = 50;

/// A log file that rotates itself by size.
#[derive(Debug)]
pub struct RotatingLog {
    target: LogTarget,
    file: File,
    size: u64,
}

impl RotatingLog {
    /// Open (append to) the live file, creating its directory.
    pub fn open(target: LogTarget) -> io::Result<RotatingLog> {
        if let Some(dir) = target.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&target.path)?;
        let size = file.metadata()?.len();
        Ok(RotatingLog { target, file, size })
    }

    /// Append one line (a newline is added).
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 + 1 > self.target.max_size {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.file.write_all(b"\n")?;
        self.size += line.len() as u64 + 1;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.target.keep;
        if keep == 0 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..keep).rev() {
            let from = rotated(&self.target.path, n);
            if from.exists() {
                fs::rename(&from, rotated(&self.target.path, n + 1))?;
            }
        }
        fs::rename(&self.target.path, rotated(&self.target.path, 1))?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.target.path)?;
        self.size = 0;
        Ok(())
    }
}

/// The name of rotated file number `n` (`app.log.1` is the newest).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// The last [`TAIL_LINES`] of each stream.
#[derive(Debug, Default)]
pub struct Tail {
    stdout: VecDeque<String>,
    stderr: VecDeque<String>,
}

impl Tail {
    /// Remember a line.
    pub fn push(&mut self, stream: Stream, line: &[u8]) {
        let lines = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(String::from_utf8_lossy(line).into_owned());
    }

    /// The kept lines, oldest first.
    pub fn into_log_tail(self) -> LogTail {
        LogTail { stdout: self.stdout.into(), stderr: self.stderr.into() }
    }
}

/// Splits a byte stream into lines of at most [`MAX_LINE`] bytes.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feed bytes; `emit` is called for every complete line (without `\n`).
    pub fn feed(&mut self, mut bytes: &[u8], mut emit: impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            let room = MAX_LINE - self.pending.len();
            let window = &bytes[..bytes.len().min(room)];
            match window.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.pending.extend_from_slice(&window[..i]);
                    emit(&self.pending);
                    self.pending.clear();
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.pending.extend_from_slice(window);
                    bytes = &bytes[window.len()..];
                    if self.pending.len() == MAX_LINE {
                        emit(&self.pending);
                        self.pending.clear();
                    }
                }
            }
        }
    }

    /// The stream ended: emit what is left, if anything.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

/// Copy both pipes of a run into its log until both close; return the tail.
/// A log file that cannot be written does not stop the reading (the agent must
/// never block on a full pipe); the first write error is returned beside the tail.
pub async fn pump<O, E>(
    stdout: Option<O>,
    stderr: Option<E>,
    mut log: Option<RotatingLog>,
) -> (Tail, Option<io::Error>)
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let mut tail = Tail::default();
    let mut error = None;
    let (mut out, mut err) = (stdout, stderr);
    let (mut split_out, mut split_err) = (LineSplitter::default(), LineSplitter::default());
    let (mut buf_out, mut buf_err) = (vec![0u8; 8192], vec![0u8; 8192]);
    while out.is_some() || err.is_some() {
        let (stream, n) = tokio::select! {
            n = read_some(&mut out, &mut buf_out) => (Stream::Stdout, n),
            n = read_some(&mut err, &mut buf_err) => (Stream::Stderr, n),
        };
        let mut sink = |line: &[u8]| {
            tail.push(stream, line);
            if let Some(file) = log.as_mut()
                && let Err(e) = file.write_line(line)
            {
                error.get_or_insert(e);
            }
        };
        let (splitter, buf) = match stream {
            Stream::Stdout => (&mut split_out, &buf_out),
            Stream::Stderr => (&mut split_err, &buf_err),
        };
        match n {
            Some(n) if n > 0 => splitter.feed(&buf[..n], &mut sink),
            _ => {
                splitter.finish(&mut sink);
                match stream {
                    Stream::Stdout => out = None,
                    Stream::Stderr => err = None,
                }
            }
        }
    }
    (tail, error)
}

/// Read from a stream that may already be closed (then never resolves, so the
/// other branch of the select wins). `None` on error, `Some(0)` at end.
async fn read_some<R: AsyncRead + Unpin>(reader: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    match reader {
        Some(r) => r.read(buf).await.ok(),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dir: &Path, max_size: u64, keep: u32) -> LogTarget {
        LogTarget { path: dir.join("logs/web.0.log"), max_size, keep }
    }

    #[test]
    fn rotation_keeps_at_most_keep_files_of_bounded_size() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), 100, 2);
        let mut log = RotatingLog::open(t.clone()).unwrap();
        for i in 0..100 {
            log.write_line(format!("line {i:04} xxxxxxxxxxxx").as_bytes()).unwrap();
        }
        let live = fs::read_to_string(&t.path).unwrap();
        assert!(live.len() <= 100, "live file is {} bytes", live.len());
        assert!(live.ends_with("line 0099 xxxxxxxxxxxx\n"));
        assert!(rotated(&t.path, 1).exists());
        assert!(rotated(&t.path, 2).exists());
        assert!(!rotated(&t.path, 3).exists());
        let newest_rotated = fs::read_to_string(rotated(&t.path, 1)).unwrap();
        assert!(newest_rotated.contains("line 009"));
    }

    #[test]
    fn splitter_cuts_long_lines_and_keeps_partial_ones() {
        let mut s = LineSplitter::default();
        let mut lines: Vec<Vec<u8>> = Vec::new();
        s.feed(b"ab", |l| lines.push(l.to_vec()));
        s.feed(b"c\nde", |l| lines.push(l.to_vec()));
        assert_eq!(lines, vec![b"abc".to_vec()]);
        s.finish(|l| lines.push(l.to_vec()));
        assert_eq!(lines.last().unwrap(), b"de");
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        let mut n = 0;
        s.feed(&long, |l| {
            assert!(l.len() <= MAX_LINE);
            n += 1;
        });
        assert_eq!(n, 2);
    }

    #[test]
    fn tail_keeps_the_last_lines_of_each_stream() {
        let mut tail = Tail::default();
        for i in 0..120 {
            tail.push(Stream::Stdout, format!("out {i}").as_bytes());
        }
        tail.push(Stream::Stderr, b"boom");
        let t = tail.into_log_tail();
        assert_eq!(t.stdout.len(), TAIL_LINES);
        assert_eq!(t.stdout[0], "out 70");
        assert_eq!(t.stderr, vec!["boom".to_string()]);
    }

    #[tokio::test]
    async fn pump_copies_both_streams_until_they_close() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), 1 << 20, 2);
        let out: &[u8] = b"one\ntwo\nthree";
        let err: &[u8] = b"oops\n";
        let (tail, error) =
            pump(Some(out), Some(err), Some(RotatingLog::open(t.clone()).unwrap())).await;
        assert!(error.is_none());
        let tail = tail.into_log_tail();
        assert_eq!(tail.stdout, vec!["one", "two", "three"]);
        assert_eq!(tail.stderr, vec!["oops"]);
        let file = fs::read_to_string(&t.path).unwrap();
        for line in ["one", "two", "three", "oops"] {
            assert!(file.lines().any(|l| l == line), "{line} missing from {file:?}");
        }
    }
}
