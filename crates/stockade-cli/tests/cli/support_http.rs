//! [`Api`]: the one HTTP client of the CLI tests — HTTP/1.1 over the
//! daemon's Unix socket, one request per connection (`Connection: close`),
//! every read and write bounded by a timeout.

use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// A client of one daemon socket.
#[derive(Debug, Clone)]
pub struct Api {
    /// The socket it connects to.
    pub socket: PathBuf,
    /// How long a read or a write may take.
    pub timeout: Duration,
}

impl Api {
    /// A client of `socket`, with a 20 s timeout.
    pub fn new(socket: impl Into<PathBuf>) -> Api {
        Api::with_timeout(socket, Duration::from_secs(20))
    }

    /// A client of `socket` whose reads and writes give up after `timeout`.
    pub fn with_timeout(socket: impl Into<PathBuf>, timeout: Duration) -> Api {
        Api { socket: socket.into(), timeout }
    }

    /// `GET path`: the status and the JSON body (`Null` if empty).
    pub fn get(&self, path: &str) -> std::io::Result<(u16, Value)> {
        self.request("GET", path, None)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> std::io::Result<(u16, Value)> {
        self.request("POST", path, Some(body))
    }

    /// Any request with an optional JSON body; the reply must be JSON (or empty).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let (code, raw) = self.send(method, path, &body)?;
        let value = if raw.is_empty() {
            Ok(Value::Null)
        } else {
            serde_json::from_slice(&raw).map_err(|e| {
                std::io::Error::other(format!(
                    "not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&raw)
                ))
            })
        };
        Ok((code, value?))
    }

    /// `POST /api/jobs` of one request, which must be queued: its id.
    pub fn submit_one(&self, request: &Value) -> u64 {
        let (code, body) = self.post("/api/jobs", request).expect("POST /api/jobs");
        assert_eq!(code, 201, "submission refused: {body}");
        assert_eq!(body["status"], "queued", "{body}");
        id_of(&body)
    }

    /// `POST /api/jobs` of a batch, which must be acknowledged id by id.
    pub fn submit_batch(&self, requests: &[Value]) -> Vec<u64> {
        let (code, body) =
            self.post("/api/jobs", &Value::from(requests.to_vec())).expect("POST batch");
        assert_eq!(code, 201, "batch refused: {body}");
        let ids: Vec<u64> = body.as_array().expect("array reply").iter().map(id_of).collect();
        assert_eq!(ids.len(), requests.len(), "one id per job in the batch");
        ids
    }

    /// Every job in `states` (comma-separated), up to 10,000.
    pub fn jobs(&self, states: &str) -> Vec<Value> {
        let (code, body) =
            self.get(&format!("/api/jobs?state={states}&limit=10000")).expect("GET /api/jobs");
        assert_eq!(code, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    fn send(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: stockade\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        parse_response(&raw).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad HTTP response: {:?}", String::from_utf8_lossy(&raw)),
            )
        })
    }
}

/// The `id` of a job's JSON.
pub fn id_of(job: &Value) -> u64 {
    job["id"].as_u64().unwrap_or_else(|| panic!("no id in {job}"))
}

/// Status code and body (de-chunked) of a whole HTTP/1.1 response.
fn parse_response(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    Some((code, body))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
