//! The stored log format: one record per line of output, tagged where it is
//! produced (the box's init, or the relay of an unwalled box), never by the
//! daemon.
//!
//! ```text
//! 2026-12-02T14:22:01.123456789Z O hello from stdout
//! 2026-12-02T14:22:01.123501000Z E a warning on stderr
//! 2026-12-02T14:22:01.200000000Z o a piece of a longer line, continued by the next
//! ```
//!
//! A record is a fixed 30-byte UTC timestamp (RFC 3339, nanoseconds), a
//! space, a tag, a space, the text, and `\n`. The tag is `O`/`E` (stdout /
//! stderr) for a line that ended; lowercase `o`/`e` for a *piece*: a line
//! longer than [`MAX_PIECE`], a tail that waited [`HOLD_NS`] without a newline
//! (a progress bar) or the last bytes before the stream closed. The next
//! record of the same stream continues it. The text is the agent's bytes
//! verbatim, `\n` being the only byte that cannot occur in it, so the format
//! is binary-safe and stays greppable (`grep ' E '`). The timestamp is that of
//! the read that delivered the line's first byte.
//!
//! Tag `S` marks the start of a run (written by the init or relay before
//! the agent's first byte; its text says what started), so the runs of a
//! service's one log can be told apart (`logs --previous`).
//!
//! A line that is not a record (a log written before this format) reads as
//! stdout with no timestamp.
//!
//! This file is std-only on purpose: the box's init (`stockade-sandbox/init`)
//! compiles it into its own tiny static binary, so writer and reader are one
//! source.

/// The length of a record's timestamp.
pub const TS_LEN: usize = 30;
/// The longest text in one record; a longer line is cut into pieces.
pub const MAX_PIECE: usize = 16 * 1024;
/// How long a tail without a newline is held before it is written as a piece.
pub const HOLD_NS: i64 = 100_000_000;

/// Which of the agent's pipes a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl LogStream {
    /// `"stdout"` or `"stderr"`, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            LogStream::Stdout => 0,
            LogStream::Stderr => 1,
        }
    }

    fn tag(self, partial: bool) -> u8 {
        match (self, partial) {
            (LogStream::Stdout, false) => b'O',
            (LogStream::Stderr, false) => b'E',
            (LogStream::Stdout, true) => b'o',
            (LogStream::Stderr, true) => b'e',
        }
    }
}

/// One parsed record (borrowing the line it was read from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// Nanoseconds since the Unix epoch; `None` for a line in the old, untagged format.
    pub ts_ns: Option<i64>,
    /// The pipe it came from.
    pub stream: LogStream,
    /// A piece of a line: the next record of the same stream continues it.
    pub partial: bool,
    /// A run-start marker (tag `S`), not output.
    pub start: bool,
    /// The agent's bytes, without the `\n`.
    pub text: &'a [u8],
}

impl<'a> LogRecord<'a> {
    /// Parse one line (without its `\n`). Never fails: a line that is not a
    /// record is untagged stdout.
    pub fn parse(line: &'a [u8]) -> LogRecord<'a> {
        let tagged = line.len() >= TS_LEN + 2
            && line[TS_LEN] == b' '
            && (line.len() == TS_LEN + 2 || line[TS_LEN + 2] == b' ');
        // (No let-chains: the init compiles this file as edition 2021.)
        let ts = if tagged { parse_rfc3339(&line[..TS_LEN]) } else { None };
        let tag = match line.get(TS_LEN + 1) {
            Some(b'O') => Some((LogStream::Stdout, false)),
            Some(b'E') => Some((LogStream::Stderr, false)),
            Some(b'o') => Some((LogStream::Stdout, true)),
            Some(b'e') => Some((LogStream::Stderr, true)),
            Some(b'S') => Some((LogStream::Stdout, false)),
            _ => None,
        };
        if let (Some(ts), Some((stream, partial))) = (ts, tag) {
            let text = line.get(TS_LEN + 3..).unwrap_or(&[]);
            let start = line[TS_LEN + 1] == b'S';
            return LogRecord { ts_ns: Some(ts), stream, partial, start, text };
        }
        LogRecord {
            ts_ns: None,
            stream: LogStream::Stdout,
            partial: false,
            start: false,
            text: line,
        }
    }
}

/// Append a run-start marker (`S`) at `now_ns` saying `what` started.
pub fn start_marker(out: &mut Vec<u8>, now_ns: i64, what: &[u8]) {
    write_rfc3339(out, now_ns);
    out.extend_from_slice(b" S ");
    out.extend(what.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
    out.push(b'\n');
}

/// Turns the bytes of both pipes into records. Holds at most one unfinished
/// line per stream, of at most [`MAX_PIECE`] bytes.
#[derive(Debug, Default)]
pub struct Framer {
    pending: [Vec<u8>; 2],
    since: [i64; 2],
    /// The last timestamp formatted: every line of one read shares it, so
    /// a chunk of short lines costs one format, not one per line.
    stamp: Option<(i64, [u8; TS_LEN])>,
}

impl Framer {
    /// Frame `bytes` read from `stream` at `now_ns`, appending records to `out`.
    pub fn feed(&mut self, stream: LogStream, now_ns: i64, mut bytes: &[u8], out: &mut Vec<u8>) {
        let i = stream.index();
        while !bytes.is_empty() {
            // A full piece waits for the next byte: a line of exactly
            // MAX_PIECE bytes then ends in one record, not a piece and an empty one.
            if self.pending[i].len() == MAX_PIECE {
                if bytes[0] == b'\n' {
                    let ts = self.since[i];
                    self.record(out, ts, stream.tag(false), i);
                    self.pending[i].clear();
                    bytes = &bytes[1..];
                    continue;
                }
                self.flush(stream, out);
            }
            if self.pending[i].is_empty() {
                self.since[i] = now_ns;
            }
            let room = MAX_PIECE - self.pending[i].len();
            let window = &bytes[..bytes.len().min(room)];
            match window.iter().position(|&b| b == b'\n') {
                Some(n) => {
                    let ts = self.since[i];
                    if self.pending[i].is_empty() {
                        self.write_record(out, ts, stream.tag(false), &window[..n]);
                    } else {
                        self.pending[i].extend_from_slice(&window[..n]);
                        self.record(out, ts, stream.tag(false), i);
                    }
                    bytes = &bytes[n + 1..];
                }
                None => {
                    self.pending[i].extend_from_slice(window);
                    bytes = &bytes[window.len()..];
                }
            }
        }
    }

    /// Write what is held of `stream` as a piece.
    pub fn flush(&mut self, stream: LogStream, out: &mut Vec<u8>) {
        let i = stream.index();
        if !self.pending[i].is_empty() {
            let ts = self.since[i];
            self.record(out, ts, stream.tag(true), i);
        }
    }

    /// Flush the tails held for [`HOLD_NS`] or longer by `now_ns`.
    pub fn flush_old(&mut self, now_ns: i64, out: &mut Vec<u8>) {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            if self.held_since(stream).is_some_and(|t| now_ns - t >= HOLD_NS) {
                self.flush(stream, out);
            }
        }
    }

    /// When the oldest held tail was read, if any.
    pub fn oldest(&self) -> Option<i64> {
        [LogStream::Stdout, LogStream::Stderr].into_iter().filter_map(|s| self.held_since(s)).min()
    }

    fn held_since(&self, stream: LogStream) -> Option<i64> {
        let i = stream.index();
        (!self.pending[i].is_empty()).then_some(self.since[i])
    }
}

impl Framer {
    /// Write the pending text of stream `i` as one record and clear it.
    fn record(&mut self, out: &mut Vec<u8>, ts_ns: i64, tag: u8, i: usize) {
        let text = std::mem::take(&mut self.pending[i]);
        self.write_record(out, ts_ns, tag, &text);
        self.pending[i] = text;
        self.pending[i].clear();
    }

    fn write_record(&mut self, out: &mut Vec<u8>, ts_ns: i64, tag: u8, text: &[u8]) {
        let stamp = match self.stamp {
            Some((at, bytes)) if at == ts_ns => bytes,
            _ => {
                let mut v = Vec::with_capacity(TS_LEN);
                write_rfc3339(&mut v, ts_ns);
                let mut bytes = [0u8; TS_LEN];
                bytes.copy_from_slice(&v);
                self.stamp = Some((ts_ns, bytes));
                bytes
            }
        };
        out.extend_from_slice(&stamp);
        out.extend_from_slice(&[b' ', tag, b' ']);
        out.extend_from_slice(text);
        out.push(b'\n');
    }
}

/// Append `ts_ns` as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (exactly [`TS_LEN`] bytes).
pub fn write_rfc3339(out: &mut Vec<u8>, ts_ns: i64) {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let nanos = ts_ns.rem_euclid(1_000_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut buf = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |end: usize, width: usize, mut v: i64| {
        for slot in buf[end - width..end].iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(4, 4, y.clamp(0, 9999));
    put(7, 2, m);
    put(10, 2, d);
    put(13, 2, sod / 3600);
    put(16, 2, sod / 60 % 60);
    put(19, 2, sod % 60);
    put(29, 9, nanos);
    out.extend_from_slice(&buf);
}

/// `ts_ns` as an RFC 3339 string (UTC, nanoseconds).
pub fn format_rfc3339(ts_ns: i64) -> String {
    let mut out = Vec::with_capacity(TS_LEN);
    write_rfc3339(&mut out, ts_ns);
    String::from_utf8(out).unwrap_or_default()
}

/// Parse an RFC 3339 time: `YYYY-MM-DD[T ]HH:MM:SS[.fraction](Z|±HH:MM)`.
pub fn parse_rfc3339(s: &[u8]) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0')))
    };
    let sep = |i: usize, ok: &[u8]| s.get(i).is_some_and(|b| ok.contains(b));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if sep(i, b".") {
        i += 1;
        let start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(s[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..9 {
            nanos *= 10;
        }
    }
    let offset = match s.get(i)? {
        b'Z' | b'z' if i + 1 == s.len() => 0,
        b'+' | b'-' if i + 6 == s.len() && s[i + 3] == b':' => {
            let o = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if s[i] == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(out: &[u8]) -> Vec<(LogStream, bool, String)> {
        out.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let r = LogRecord::parse(l);
                assert!(r.ts_ns.is_some(), "{:?}", String::from_utf8_lossy(l));
                (r.stream, r.partial, String::from_utf8_lossy(r.text).into_owned())
            })
            .collect()
    }

    #[test]
    fn timestamps_round_trip_and_parse_offsets() {
        for ns in [0, 1_764_685_321_123_456_789, 951_782_400_000_000_001, 4_102_444_799_999_999_999]
        {
            let s = format_rfc3339(ns);
            assert_eq!(s.len(), TS_LEN);
            assert_eq!(parse_rfc3339(s.as_bytes()), Some(ns), "{s}");
        }
        assert_eq!(format_rfc3339(1_764_685_321_123_456_789), "2025-12-02T14:22:01.123456789Z");
        assert_eq!(
            parse_rfc3339(b"2025-12-02T15:22:01+01:00"),
            parse_rfc3339(b"2025-12-02T14:22:01Z")
        );
        assert_eq!(parse_rfc3339(b"2025-12-02 14:22:01.5Z"), Some(1_764_685_321_500_000_000));
        for bad in [&b"2025-13-02T14:22:01Z"[..], b"2025-12-02T14:22:01", b"yesterday", b""] {
            assert_eq!(parse_rfc3339(bad), None);
        }
    }

    #[test]
    fn lines_pieces_and_held_tails_are_framed_per_stream() {
        let mut f = Framer::default();
        let mut out = Vec::new();
        f.feed(LogStream::Stdout, 1, b"one\ntw", &mut out);
        f.feed(LogStream::Stderr, 2, b"oops\n", &mut out);
        f.feed(LogStream::Stdout, 3, b"o\n", &mut out);
        f.feed(LogStream::Stdout, 4, b"50%", &mut out);
        f.flush_old(4 + HOLD_NS - 1, &mut out);
        assert_eq!(f.oldest(), Some(4));
        f.flush_old(4 + HOLD_NS, &mut out);
        f.feed(LogStream::Stdout, 5, b" done\n", &mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            records(&out),
            vec![
                (LogStream::Stdout, false, "one".into()),
                (LogStream::Stderr, false, "oops".into()),
                (LogStream::Stdout, false, "two".into()),
                (LogStream::Stdout, true, "50%".into()),
                (LogStream::Stdout, false, " done".into()),
            ]
        );
        // "two" carries the time its first byte was read.
        assert!(text.lines().nth(2).unwrap().starts_with(&format_rfc3339(1)), "{text}");
    }

    #[test]
    fn a_long_line_is_cut_into_pieces_and_any_byte_but_newline_survives() {
        let mut f = Framer::default();
        let mut out = Vec::new();
        let mut line: Vec<u8> =
            (0..=255u8).filter(|&b| b != b'\n').cycle().take(MAX_PIECE * 3 + 7).collect();
        f.feed(LogStream::Stderr, 9, &line, &mut out);
        f.feed(LogStream::Stderr, 9, b"\n", &mut out);
        let mut joined = Vec::new();
        let mut pieces = 0;
        for l in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let r = LogRecord::parse(l);
            assert_eq!(r.stream, LogStream::Stderr);
            assert!(r.text.len() <= MAX_PIECE);
            joined.extend_from_slice(r.text);
            pieces += 1;
            if !r.partial {
                break;
            }
        }
        assert_eq!(pieces, 4);
        assert_eq!(joined, line);
        // Exactly two pieces' worth, then the newline: two records, no empty third.
        let mut out = Vec::new();
        f.feed(LogStream::Stdout, 9, &vec![b'y'; MAX_PIECE * 2], &mut out);
        f.feed(LogStream::Stdout, 9, b"\n", &mut out);
        let recs = records(&out);
        assert_eq!(recs.len(), 2);
        assert!(recs[0].1 && !recs[1].1 && recs[1].2.len() == MAX_PIECE);
        line.truncate(0);
        assert_eq!(LogRecord::parse(b"plain old line").text, b"plain old line");
        assert_eq!(LogRecord::parse(b"plain old line").ts_ns, None);
        let empty = b"2025-12-02T14:22:01.123456789Z O ";
        assert_eq!(LogRecord::parse(empty).text, b"");
        let mut marker = Vec::new();
        start_marker(&mut marker, 5, b"sh -c\necho");
        let m = LogRecord::parse(&marker[..marker.len() - 1]);
        assert!(m.start && m.ts_ns == Some(5) && m.text == b"sh -c echo");
        assert!(LogRecord::parse(empty).ts_ns.is_some());
    }
}
