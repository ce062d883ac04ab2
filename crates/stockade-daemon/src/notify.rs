//! `sd_notify(3)` for `Type=notify` units: one datagram of `KEY=VALUE` lines
//! to the Unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the
//! abstract namespace). No socket in the environment: nothing is sent.
//!
//! The daemon sends `READY=1` (with `MAINPID`) once it serves, and
//! `STOPPING=1` when a stop begins; a failed send is logged, never fatal.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Send `state` (e.g. `"READY=1\n"`) to `$NOTIFY_SOCKET`, if set. Returns
/// whether a datagram was sent.
pub fn notify(state: &str) -> bool {
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET) else { return false };
    let socket = socket.to_string_lossy().into_owned();
    match send(&socket, state) {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(socket, %err, "could not notify systemd");
            false
        }
    }
}

/// Send `state` to the notify socket `socket` (a path or `@abstract`).
pub fn send(socket: &str, state: &str) -> io::Result<()> {
    let addr = address(socket)?;
    let datagram = UnixDatagram::unbound()?;
    let sent = datagram.send_to_addr(state.as_bytes(), &addr)?;
    if sent != state.len() {
        return Err(io::Error::other(format!("sent {sent} of {} bytes", state.len())));
    }
    Ok(())
}

fn address(socket: &str) -> io::Result<SocketAddr> {
    if let Some(name) = socket.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name.as_bytes());
    }
    if !socket.starts_with('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{NOTIFY_SOCKET}={socket} is neither an absolute path nor @abstract"),
        ));
    }
    SocketAddr::from_pathname(socket)
}

/// The `READY=1` message: ready, and which pid is the service's main one.
pub fn ready_message() -> String {
    format!("READY=1\nMAINPID={}\nSTATUS=serving\n", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_reaches_a_real_datagram_socket_by_path_and_by_abstract_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        send(path.to_str().unwrap(), &ready_message()).unwrap();
        let mut buf = [0u8; 256];
        let n = listener.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(text.starts_with("READY=1\n"), "{text}");
        assert!(text.contains(&format!("MAINPID={}", std::process::id())), "{text}");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("stockade-notify-test-{}", std::process::id());
        let abstract_addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&abstract_addr).unwrap();
        send(&format!("@{name}"), "STOPPING=1\n").unwrap();
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\n");
    }

    #[test]
    fn a_relative_socket_is_refused_with_its_name() {
        let err = send("relative.sock", "READY=1\n").unwrap_err();
        assert!(err.to_string().contains("relative.sock"), "{err}");
    }
}
