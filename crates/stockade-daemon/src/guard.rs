//! Who may command the daemon (DESIGN.md §4a, issue 9): the checks every
//! request passes before it reaches a handler.
//!
//! - **TCP** (loopback included — any local user can reach loopback): a
//!   bearer token, compared in constant time ([`subtle`]); a `Host` that is
//!   `localhost`, `127.0.0.1`, `[::1]` or the listen address, with the bound
//!   port — so a web page whose DNS name was rebound to 127.0.0.1 is refused
//!   (403); an `Origin`, if sent, that names the same loopback authority — so
//!   a page on another origin cannot post to it (CSRF, 403). Host and Origin
//!   are checked before the token, so a foreign page learns nothing about it.
//!   A listener on an unspecified address (`0.0.0.0`, `[::]`) accepts any
//!   IP-literal `Host`: rebinding needs a DNS name, and the token still binds.
//! - **Every listener**: a request that carries a body on a mutating method
//!   needs `Content-Type: application/json` (415), so an HTML form — which can
//!   only send `application/x-www-form-urlencoded`, `multipart/form-data` or
//!   `text/plain` without a CORS preflight — can never reach a handler.
//!
//! - **Unauthenticated TCP peers** are rate limited: each refused request
//!   spends a token of its address's bucket, 429 once it is empty.
//!
//! The Unix socket needs no token: its mode (0600, or 0660 with
//! `socket_group`) is the access check, as with Docker's socket.
//! Every refusal is `{"code","message","hint"}` ([`Failure`]).

use crate::api::Failure;
use crate::conn::PeerOf;
use crate::door::{Peer, RateLimit};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The hint of a refused content type, exactly as the issue asks for it.
pub const JSON_HINT: &str =
    "send Content-Type: application/json (curl: -H 'content-type: application/json')";

/// What a TCP listener demands of each request.
#[derive(Debug, Clone)]
pub struct TcpGuard {
    token: Vec<u8>,
    bound: SocketAddr,
    refused: Arc<RateLimit>,
}

/// Refused (unauthenticated) TCP requests answered per second and address
/// before further ones get a bare 429, and the burst allowed at once.
const REFUSED_PER_SECOND: f64 = 10.0;
const REFUSED_BURST: f64 = 50.0;

impl TcpGuard {
    /// A guard for the listener bound at `bound` that requires `token`.
    pub fn new(token: &str, bound: SocketAddr) -> TcpGuard {
        TcpGuard {
            token: token.as_bytes().to_vec(),
            bound,
            refused: Arc::new(RateLimit::new(REFUSED_PER_SECOND, REFUSED_BURST)),
        }
    }

    /// Check Host, Origin and the token of a request's headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Failure> {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !self.allowed_authority(host) {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                format!("the Host header \"{host}\" does not name this daemon"),
                format!(
                    "connect to localhost:{0}, 127.0.0.1:{0} or [::1]:{0}; other host names are refused so that a web page cannot reach the daemon through DNS rebinding",
                    self.bound.port()
                ),
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let authority =
                origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
            if !authority.is_some_and(|a| self.allowed_authority(a)) {
                return Err(Failure::new(
                    StatusCode::FORBIDDEN,
                    "forbidden_origin",
                    format!("requests from the web origin \"{origin}\" are refused"),
                    "the API is for the CLI and scripts; send no Origin header (browsers cannot drive the daemon)",
                ));
            }
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if bool::from(given.as_bytes().ct_eq(&self.token)) {
            Ok(())
        } else {
            let message = if given.is_empty() {
                "this listener needs a bearer token"
            } else {
                "the bearer token is wrong"
            };
            Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                message,
                "send `Authorization: Bearer <token>` (the daemon's token_file, token_env or $STOCKADE_TOKEN), or use the Unix socket",
            ))
        }
    }

    /// Whether `authority` (`host[:port]`) names this listener.
    fn allowed_authority(&self, authority: &str) -> bool {
        let (host, port) = split_authority(authority);
        let port_ok = match port {
            Some(p) => p == Some(self.bound.port()),
            None => self.bound.port() == 80,
        };
        if !port_ok {
            return false;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let Ok(ip) = host.parse::<std::net::IpAddr>() else { return false };
        ip.is_loopback() || ip == self.bound.ip() || self.bound.ip().is_unspecified()
    }
}

/// `host[:port]` → host and, if written, the port (`Some(None)` if it does
/// not parse). IPv6 hosts are bracketed.
fn split_authority(authority: &str) -> (&str, Option<Option<u16>>) {
    let (host, rest) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => authority.split_at(end + 1),
            None => return (authority, Some(None)),
        }
    } else {
        match authority.find(':') {
            Some(colon) => authority.split_at(colon),
            None => (authority, ""),
        }
    };
    match rest.strip_prefix(':') {
        Some(port) => (host, Some(port.parse().ok())),
        None if rest.is_empty() => (host, None),
        None => (host, Some(None)),
    }
}

/// Middleware of a TCP listener.
///
/// A request that fails the checks spends one of its peer's tokens
/// ([`RateLimit`]); once they are spent it is answered 429 instead. A request
/// with the right token always passes: every local client shares 127.0.0.1,
/// so a limit on good requests would let any local user lock out the CLI.
pub async fn tcp(guard: TcpGuard, req: Request, next: Next) -> Result<Response, Failure> {
    if let Err(refused) = guard.check(req.headers()) {
        let ip = req.extensions().get::<PeerOf>().and_then(|p| match p.0 {
            Peer::Ip(ip) => Some(ip),
            _ => None,
        });
        if let Some(ip) = ip
            && !guard.refused.take(ip)
        {
            return Err(Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many refused requests from {ip}: more than {REFUSED_BURST} at once or {REFUSED_PER_SECOND} a second"
                ),
                "send the bearer token (Authorization: Bearer <token>) and a Host naming this daemon; retry in a second",
            ));
        }
        return Err(refused);
    }
    Ok(next.run(req).await)
}

/// Middleware of every listener: mutating requests with a body are JSON.
pub async fn json_only(req: Request, next: Next) -> Result<Response, Failure> {
    check_content_type(req.method(), req.headers())?;
    Ok(next.run(req).await)
}

/// 415 unless a mutating request with a body says it is JSON.
pub fn check_content_type(method: &Method, headers: &HeaderMap) -> Result<(), Failure> {
    let mutating = matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    if !mutating || !has_body(headers) {
        return Ok(());
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let essence = content_type.map(|c| c.split(';').next().unwrap_or("").trim());
    if essence.is_some_and(|e| e.eq_ignore_ascii_case("application/json")) {
        return Ok(());
    }
    Err(Failure::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!(
            "a {method} with a body must be JSON, not {}",
            content_type.map_or("a body without a content type".to_owned(), |c| format!("\"{c}\""))
        ),
        JSON_HINT,
    ))
}

fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn status(guard: &TcpGuard, pairs: &[(&'static str, &str)]) -> Option<StatusCode> {
        guard.check(&headers(pairs)).err().map(|f| f.status())
    }

    #[test]
    fn host_origin_and_token_are_all_required_on_tcp() {
        let guard = TcpGuard::new("s3cret", "127.0.0.1:7878".parse().unwrap());
        let auth = ("authorization", "Bearer s3cret");
        for host in ["localhost:7878", "127.0.0.1:7878", "[::1]:7878", "LOCALHOST:7878"] {
            assert_eq!(status(&guard, &[("host", host), auth]), None, "{host}");
        }
        for host in ["evil.example:7878", "localhost:80", "localhost", "127.0.0.1:7879", "", "[::1"]
        {
            assert_eq!(
                status(&guard, &[("host", host), auth]),
                Some(StatusCode::FORBIDDEN),
                "{host}"
            );
        }
        let ok_host = ("host", "127.0.0.1:7878");
        assert_eq!(status(&guard, &[ok_host, auth, ("origin", "http://localhost:7878")]), None);
        for origin in ["http://evil.example", "null", "http://localhost:3000", "file://"] {
            assert_eq!(
                status(&guard, &[ok_host, auth, ("origin", origin)]),
                Some(StatusCode::FORBIDDEN),
                "{origin}"
            );
        }
        assert_eq!(status(&guard, &[ok_host]), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(
            status(&guard, &[ok_host, ("authorization", "Bearer s3cre")]),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(&guard, &[ok_host, ("authorization", "s3cret")]),
            Some(StatusCode::UNAUTHORIZED),
            "the Bearer scheme is required"
        );
    }

    #[test]
    fn an_unspecified_listen_address_accepts_ip_literals_but_not_names() {
        let guard = TcpGuard::new("t", "0.0.0.0:7878".parse().unwrap());
        let auth = ("authorization", "Bearer t");
        assert_eq!(status(&guard, &[("host", "192.0.2.7:7878"), auth]), None);
        assert_eq!(
            status(&guard, &[("host", "rebound.example:7878"), auth]),
            Some(StatusCode::FORBIDDEN)
        );
    }

    #[test]
    fn mutations_with_a_body_must_be_json() {
        let form = headers(&[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "12"),
        ]);
        let refused = check_content_type(&Method::POST, &form).unwrap_err();
        assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(check_content_type(&Method::GET, &form).is_ok(), "reads are not mutations");
        let json = headers(&[
            ("content-type", "application/json; charset=utf-8"),
            ("content-length", "2"),
        ]);
        assert!(check_content_type(&Method::POST, &json).is_ok());
        let empty = headers(&[("content-length", "0")]);
        assert!(check_content_type(&Method::POST, &empty).is_ok(), "no body, nothing to decode");
        let chunked = headers(&[("transfer-encoding", "chunked")]);
        assert!(check_content_type(&Method::DELETE, &chunked).is_err());
    }
}
