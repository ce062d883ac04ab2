//! `stockade exec` on the wire: the request ([`ExecRequest`]), the frames
//! exchanged once the connection is upgraded ([`Frame`]), and the last word
//! ([`ExecExit`]).
//!
//! `POST /api/exec` with an [`ExecRequest`] is answered `101 Switching
//! Protocols` (`Upgrade: stockade-exec`); from then on both sides speak
//! frames on the raw connection: one kind byte, a big-endian `u32` payload
//! length, the payload ([`Frame::encode`], [`FrameDecoder`]). The client sends
//! `Stdin`, `CloseStdin`, `Resize` and `Signal`; the daemon sends `Stdout`,
//! `Stderr` (none with a tty: the pty merges them) and finally one `Exit`
//! with the JSON [`ExecExit`], then closes. A client that goes away kills
//! the command.

use serde::{Deserialize, Serialize};

use crate::{ExitCause, JobId};

/// The `Upgrade` protocol token of an exec connection.
pub const EXEC_UPGRADE: &str = "stockade-exec";

/// The largest payload of one frame (larger output is split).
pub const MAX_FRAME: usize = 1 << 20;

/// `POST /api/exec`: run `argv` inside the box of a running replica or job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// A service's name (with `replica`), or …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// … which replica of it (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<u32>,
    /// … a running job's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobId>,
    /// The command; never empty.
    pub argv: Vec<String>,
    /// Allocate a pty (`-t`): stdout and stderr merged, the terminal raw.
    #[serde(default)]
    pub tty: bool,
    /// The terminal's size, with `tty`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<TermSize>,
}

impl ExecRequest {
    /// A request for `argv` in `target`.
    pub fn new(target: ExecTarget, argv: Vec<String>) -> ExecRequest {
        let (service, replica, job) = match target {
            ExecTarget::Service { service, replica } => (Some(service), Some(replica), None),
            ExecTarget::Job { job } => (None, None, Some(job)),
        };
        ExecRequest { service, replica, job, argv, tty: false, size: None }
    }

    /// The box it names, or why it names none (or two).
    pub fn target(&self) -> Result<ExecTarget, &'static str> {
        match (&self.service, self.job) {
            (Some(service), None) => Ok(ExecTarget::Service {
                service: service.clone(),
                replica: self.replica.unwrap_or(0),
            }),
            (None, Some(job)) if self.replica.is_none() => Ok(ExecTarget::Job { job }),
            (None, None) => {
                Err("name a box: {\"service\": NAME} (with \"replica\") or {\"job\": ID}")
            }
            _ => Err("name one box: either \"service\" (with \"replica\") or \"job\""),
        }
    }
}

/// The box an exec enters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecTarget {
    /// `{"service": "web", "replica": 0}`: a replica of a service.
    Service {
        /// The service.
        service: String,
        /// Its replica.
        replica: u32,
    },
    /// `{"job": 17}`: a running job.
    Job {
        /// The job.
        job: JobId,
    },
}

/// A terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermSize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// The payload of the final `Exit` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecExit {
    /// How the command ended (`exited`, `signaled`, or `spawn_failed`).
    pub cause: ExitCause,
}

impl ExecExit {
    /// The exit status a shell would report: the code, 128 + N for signal N,
    /// 127 for a program that was not found, 126 for any other spawn failure,
    /// 1 for anything else.
    pub fn status(&self) -> u8 {
        match &self.cause {
            ExitCause::Exited { code } => (*code & 0xff) as u8,
            ExitCause::Signaled { signal, .. } => (128 + (*signal & 0x7f)) as u8,
            ExitCause::SpawnFailed { errno: Some(2), .. } => 127,
            ExitCause::SpawnFailed { .. } => 126,
            _ => 1,
        }
    }
}

/// One frame of an exec connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Client → daemon: bytes for the command's stdin.
    Stdin(Vec<u8>),
    /// Daemon → client: bytes the command wrote to stdout (or the pty).
    Stdout(Vec<u8>),
    /// Daemon → client: bytes the command wrote to stderr.
    Stderr(Vec<u8>),
    /// Client → daemon: the terminal changed size.
    Resize(TermSize),
    /// Client → daemon: no more stdin (EOF).
    CloseStdin,
    /// Client → daemon: deliver this signal to the command.
    Signal(i32),
    /// Daemon → client: the command ended; nothing follows.
    Exit(ExecExit),
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// An unknown kind byte.
    UnknownKind(u8),
    /// A payload longer than [`MAX_FRAME`].
    TooLong(usize),
    /// A payload of the wrong shape for its kind.
    BadPayload(u8),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::UnknownKind(k) => write!(f, "unknown exec frame kind {k}"),
            FrameError::TooLong(n) => write!(f, "exec frame of {n} bytes exceeds {MAX_FRAME}"),
            FrameError::BadPayload(k) => write!(f, "malformed payload in exec frame kind {k}"),
        }
    }
}

impl std::error::Error for FrameError {}

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const RESIZE: u8 = 3;
const CLOSE_STDIN: u8 = 4;
const SIGNAL: u8 = 5;
const EXIT: u8 = 6;

impl Frame {
    /// The frame's bytes: kind, big-endian length, payload.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload): (u8, Vec<u8>) = match self {
            Frame::Stdin(b) => (STDIN, b.clone()),
            Frame::Stdout(b) => (STDOUT, b.clone()),
            Frame::Stderr(b) => (STDERR, b.clone()),
            Frame::Resize(s) => (RESIZE, [s.rows.to_be_bytes(), s.cols.to_be_bytes()].concat()),
            Frame::CloseStdin => (CLOSE_STDIN, Vec::new()),
            Frame::Signal(n) => (SIGNAL, n.to_be_bytes().to_vec()),
            Frame::Exit(exit) => (EXIT, serde_json::to_vec(exit).unwrap_or_default()),
        };
        let mut out = Vec::with_capacity(5 + payload.len());
        out.push(kind);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
        out
    }

    fn decode(kind: u8, payload: Vec<u8>) -> Result<Frame, FrameError> {
        let bad = || FrameError::BadPayload(kind);
        Ok(match kind {
            STDIN => Frame::Stdin(payload),
            STDOUT => Frame::Stdout(payload),
            STDERR => Frame::Stderr(payload),
            RESIZE => {
                let b: [u8; 4] = payload.try_into().map_err(|_| bad())?;
                Frame::Resize(TermSize {
                    rows: u16::from_be_bytes([b[0], b[1]]),
                    cols: u16::from_be_bytes([b[2], b[3]]),
                })
            }
            CLOSE_STDIN if payload.is_empty() => Frame::CloseStdin,
            SIGNAL => Frame::Signal(i32::from_be_bytes(payload.try_into().map_err(|_| bad())?)),
            EXIT => Frame::Exit(serde_json::from_slice(&payload).map_err(|_| bad())?),
            CLOSE_STDIN => return Err(bad()),
            other => return Err(FrameError::UnknownKind(other)),
        })
    }
}

/// Splits a byte stream into frames, however the bytes arrive.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
}

impl FrameDecoder {
    /// Add bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole frame, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buffer.len() < 5 {
            return Ok(None);
        }
        let kind = self.buffer[0];
        let len =
            u32::from_be_bytes([self.buffer[1], self.buffer[2], self.buffer[3], self.buffer[4]])
                as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLong(len));
        }
        if self.buffer.len() < 5 + len {
            return Ok(None);
        }
        let payload = self.buffer[5..5 + len].to_vec();
        self.buffer.drain(..5 + len);
        Frame::decode(kind, payload).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames() -> Vec<Frame> {
        vec![
            Frame::Stdin(b"ls\n".to_vec()),
            Frame::Stdout(vec![0, 255, 10]),
            Frame::Stderr(Vec::new()),
            Frame::Resize(TermSize { rows: 40, cols: 132 }),
            Frame::CloseStdin,
            Frame::Signal(2),
            Frame::Exit(ExecExit { cause: ExitCause::Signaled { signal: 9, core_dumped: false } }),
        ]
    }

    #[test]
    fn frames_round_trip_whatever_the_chunking() {
        let bytes: Vec<u8> = all_frames().iter().flat_map(Frame::encode).collect();
        for chunk in [1, 2, 3, 7, bytes.len()] {
            let mut decoder = FrameDecoder::default();
            let mut out = Vec::new();
            for piece in bytes.chunks(chunk) {
                decoder.push(piece);
                while let Some(frame) = decoder.next_frame().unwrap() {
                    out.push(frame);
                }
            }
            assert_eq!(out, all_frames(), "chunks of {chunk}");
        }
    }

    #[test]
    fn the_layout_is_kind_length_payload() {
        assert_eq!(Frame::Stdout(b"hi".to_vec()).encode(), [1, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(
            Frame::Resize(TermSize { rows: 1, cols: 2 }).encode(),
            [3, 0, 0, 0, 4, 0, 1, 0, 2]
        );
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        let mut d = FrameDecoder::default();
        d.push(&[9, 0, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::UnknownKind(9)));
        let mut d = FrameDecoder::default();
        d.push(&[0, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next_frame(), Err(FrameError::TooLong(_))));
        let mut d = FrameDecoder::default();
        d.push(&[3, 0, 0, 0, 1, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::BadPayload(3)));
    }

    #[test]
    fn requests_name_a_service_replica_or_a_job() {
        let service: ExecRequest =
            serde_json::from_str(r#"{"service":"web","replica":2,"argv":["sh"],"tty":true}"#)
                .unwrap();
        assert_eq!(service.target(), Ok(ExecTarget::Service { service: "web".into(), replica: 2 }));
        let job: ExecRequest = serde_json::from_str(r#"{"job":17,"argv":["ls"]}"#).unwrap();
        assert_eq!(job.target(), Ok(ExecTarget::Job { job: JobId(17) }));
        assert!(!job.tty);
        let both: ExecRequest =
            serde_json::from_str(r#"{"job":17,"service":"web","argv":["ls"]}"#).unwrap();
        assert!(both.target().is_err());
        let round = ExecRequest::new(ExecTarget::Job { job: JobId(3) }, vec!["id".into()]);
        assert_eq!(
            serde_json::to_string(&round).unwrap(),
            r#"{"job":3,"argv":["id"],"tty":false}"#
        );
        assert!(serde_json::from_str::<ExecRequest>(r#"{"job":1,"argv":[],"env":{}}"#).is_err());
    }

    #[test]
    fn exit_statuses_follow_the_shell() {
        let status = |cause| ExecExit { cause }.status();
        assert_eq!(status(ExitCause::Exited { code: 3 }), 3);
        assert_eq!(status(ExitCause::Signaled { signal: 15, core_dumped: false }), 143);
    }
}
