//! The door (issue 13, item 1): who gets a connection at all, before HTTP.
//!
//! Every accepted connection asks the listener's [`Door`] for a [`Permit`]:
//!
//! - **file descriptors**: an accepted fd numbered at or above
//!   `RLIMIT_NOFILE − reserve_fds` is refused. The kernel hands out the
//!   lowest free number, so fd `n` proves `n` fds are open: the check is one
//!   comparison, and what lies above the line stays free for spawning boxes,
//!   their logs and the store;
//! - **per listener**: at most `max_connections` open at once;
//! - **per peer**: at most `max_connections_per_peer` for one uid on a Unix
//!   socket (`SO_PEERCRED`) or one IP address on TCP.
//!
//! When a cap is reached, the connection of that peer (or, for the
//! listener's cap, of anyone) that has been idle longest — nothing in flight,
//! no byte moved for at least [`EVICT_AFTER`] — is closed to make room:
//! a flood of idle or slow clients displaces itself, never a client that is
//! being answered, and a fresh request always finds a slot. Only when no
//! connection is idle is the new one refused.
//!
//! A refused connection gets a `503` with a `{"code","message","hint"}` body
//! if its socket takes it without waiting, and is closed. Each kind of
//! refusal is logged once per episode (the first refusal after a connection
//! was admitted again), so a flood costs one log line, not one per client.
//!
//! Rate limits for unauthenticated TCP peers are [`RateLimit`], used by
//! `crate::guard`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a connection must have been idle before a newcomer may displace it.
pub const EVICT_AFTER: Duration = Duration::from_secs(1);

/// When a connection last moved a byte, and how many requests are in flight.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity { start: Instant::now(), last_ms: AtomicU64::new(0), busy: AtomicUsize::new(0) }
    }

    /// A byte moved (or a response ended) now.
    pub fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// A request started (`+1`) or its response ended (`-1`).
    pub fn busy(&self, more: bool) {
        if more {
            self.busy.fetch_add(1, Ordering::Relaxed);
        } else {
            self.busy.fetch_sub(1, Ordering::Relaxed);
            self.touch();
        }
    }

    /// How long it has been idle (zero while a request is in flight).
    pub fn idle_for(&self) -> Duration {
        if self.busy.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let since = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(since.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// A Unix-socket client, by its uid.
    Uid(u32),
    /// A TCP client, by its address.
    Ip(IpAddr),
    /// A Unix-socket client whose credentials could not be read.
    Unknown,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Uid(uid) => write!(f, "uid {uid}"),
            Peer::Ip(ip) => write!(f, "{ip}"),
            Peer::Unknown => f.write_str("an unidentified peer"),
        }
    }
}

/// The limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once on the listener.
    pub max_connections: usize,
    /// Connections open at once per peer.
    pub max_per_peer: usize,
    /// Accepted fds numbered at or above this are refused.
    pub fd_ceiling: u64,
}

impl Limits {
    /// The limits of `[daemon]`, with the fd ceiling from the process's
    /// current `RLIMIT_NOFILE` (never below half of it, whatever the reserve).
    pub fn of(config: &stockade_spec::DaemonConfig) -> Limits {
        let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(1 << 20);
        let reserve = u64::from(config.reserve_fds).min(nofile / 2);
        Limits {
            max_connections: config.max_connections as usize,
            max_per_peer: config.max_connections_per_peer as usize,
            fd_ceiling: nofile - reserve,
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The fds kept for spawning and the store would be touched.
    #[error(
        "the daemon is out of connection slots: {open} file descriptors are open and the ones above {ceiling} are kept for spawning boxes and the store"
    )]
    Fds {
        /// The accepted fd's number (at least this many are open).
        open: u64,
        /// The ceiling.
        ceiling: u64,
    },
    /// The listener is full.
    #[error("{listener} already has {max} open connections (max_connections)")]
    Listener {
        /// The listener.
        listener: String,
        /// Its cap.
        max: usize,
    },
    /// This peer holds too many.
    #[error("{peer} already has {max} open connections to {listener} (max_connections_per_peer)")]
    Peer {
        /// The listener.
        listener: String,
        /// The peer.
        peer: Peer,
        /// The cap.
        max: usize,
    },
}

impl Refusal {
    fn kind(&self) -> usize {
        match self {
            Refusal::Fds { .. } => 0,
            Refusal::Listener { .. } => 1,
            Refusal::Peer { .. } => 2,
        }
    }

    /// The raw HTTP response sent before closing: a 503 JSON error.
    pub fn response(&self) -> Vec<u8> {
        let body = serde_json::json!({
            "code": "too_many_connections",
            "message": self.to_string(),
            "hint": "close idle connections and retry; the limits are max_connections, max_connections_per_peer and reserve_fds in [daemon]",
        })
        .to_string();
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// The connection counts of one listener.
#[derive(Debug)]
pub struct Door {
    listener: String,
    limits: Limits,
    open: Mutex<Open>,
    /// One flag per refusal kind: an episode is being refused (logged once).
    refusing: [AtomicBool; 3],
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_peer: HashMap<Peer, usize>,
    next: u64,
    conns: HashMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    peer: Peer,
    activity: Arc<Activity>,
    evict: CancellationToken,
}

impl Open {
    /// Close the longest-idle connection (of `peer`, if given) idle for at
    /// least [`EVICT_AFTER`]; `true` if one was.
    fn evict(&mut self, peer: Option<Peer>) -> bool {
        let victim = self
            .conns
            .iter()
            .filter(|(_, e)| peer.is_none_or(|p| e.peer == p))
            .map(|(id, e)| (*id, e.activity.idle_for()))
            .filter(|(_, idle)| *idle >= EVICT_AFTER)
            .max_by_key(|(_, idle)| *idle);
        let Some((id, _)) = victim else { return false };
        self.release(id);
        true
    }

    fn release(&mut self, id: u64) {
        let Some(entry) = self.conns.remove(&id) else { return };
        entry.evict.cancel();
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.by_peer.get_mut(&entry.peer) {
            *n -= 1;
            if *n == 0 {
                self.by_peer.remove(&entry.peer);
            }
        }
    }
}

impl Door {
    /// A door for `listener` (`unix:PATH`, `tcp:ADDR`).
    pub fn new(listener: String, limits: Limits) -> Arc<Door> {
        Arc::new(Door { listener, limits, open: Mutex::default(), refusing: Default::default() })
    }

    /// Admit a connection from `peer` whose fd is numbered `fd`, or say why not.
    pub fn admit(self: &Arc<Self>, peer: Peer, fd: u64) -> Result<Permit, Refusal> {
        let refused = self.check(peer, fd);
        match refused {
            Ok(permit) => {
                for flag in &self.refusing {
                    if flag.swap(false, Ordering::Relaxed) {
                        tracing::info!(listener = %self.listener, "accepting connections again");
                    }
                }
                Ok(permit)
            }
            Err(refusal) => {
                if !self.refusing[refusal.kind()].swap(true, Ordering::Relaxed) {
                    tracing::warn!(listener = %self.listener, "refusing connections: {refusal}");
                }
                Err(refusal)
            }
        }
    }

    fn check(self: &Arc<Self>, peer: Peer, fd: u64) -> Result<Permit, Refusal> {
        if fd >= self.limits.fd_ceiling {
            return Err(Refusal::Fds { open: fd, ceiling: self.limits.fd_ceiling });
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mine = open.by_peer.get(&peer).copied().unwrap_or(0);
        if mine >= self.limits.max_per_peer && !open.evict(Some(peer)) {
            return Err(Refusal::Peer {
                listener: self.listener.clone(),
                peer,
                max: self.limits.max_per_peer,
            });
        }
        if open.total >= self.limits.max_connections && !open.evict(None) {
            return Err(Refusal::Listener {
                listener: self.listener.clone(),
                max: self.limits.max_connections,
            });
        }
        *open.by_peer.entry(peer).or_default() += 1;
        open.total += 1;
        open.next += 1;
        let id = open.next;
        let activity = Arc::new(Activity::new());
        let evict = CancellationToken::new();
        open.conns.insert(id, Entry { peer, activity: activity.clone(), evict: evict.clone() });
        Ok(Permit { door: self.clone(), id, activity, evict })
    }

    /// Connections open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

/// One admitted connection; dropping it frees its slot.
#[derive(Debug)]
pub struct Permit {
    door: Arc<Door>,
    id: u64,
    activity: Arc<Activity>,
    evict: CancellationToken,
}

impl Permit {
    /// The connection's activity, which the server keeps up to date.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// Cancelled when a newcomer displaced this (idle) connection.
    pub fn evicted(&self) -> &CancellationToken {
        &self.evict
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.door.open.lock().unwrap_or_else(|e| e.into_inner());
        open.release(self.id);
    }
}

/// A token bucket per IP address: `burst` requests at once, refilled at
/// `per_second`. Used for TCP requests that do not (yet) carry the right
/// token, so a peer guessing tokens or flooding unauthenticated requests is
/// answered 429 without the daemon doing more than a map lookup.
#[derive(Debug)]
pub struct RateLimit {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// The most addresses tracked before the full buckets are forgotten.
const MAX_TRACKED: usize = 4096;

impl RateLimit {
    /// `burst` at once, `per_second` sustained.
    pub fn new(per_second: f64, burst: f64) -> RateLimit {
        RateLimit { per_second, burst, buckets: Mutex::default() }
    }

    /// Take one request from `ip`'s bucket; `false` if it is empty.
    pub fn take(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&ip) {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door(max: usize, per_peer: usize) -> Arc<Door> {
        Door::new(
            "unix:test".into(),
            Limits { max_connections: max, max_per_peer: per_peer, fd_ceiling: 100 },
        )
    }

    #[test]
    fn caps_per_listener_and_per_peer_and_frees_on_drop() {
        let door = door(3, 2);
        let a1 = door.admit(Peer::Uid(1), 5).unwrap();
        let _a2 = door.admit(Peer::Uid(1), 6).unwrap();
        let refused = door.admit(Peer::Uid(1), 7).unwrap_err();
        assert!(matches!(refused, Refusal::Peer { max: 2, .. }), "{refused:?}");
        let _b1 = door.admit(Peer::Uid(2), 7).unwrap();
        let full = door.admit(Peer::Uid(3), 8).unwrap_err();
        assert!(matches!(full, Refusal::Listener { max: 3, .. }), "{full:?}");
        drop(a1);
        assert_eq!(door.open(), 2);
        door.admit(Peer::Uid(3), 8).unwrap();
    }

    #[test]
    fn a_newcomer_displaces_the_longest_idle_connection_of_its_peer() {
        let door = door(10, 1);
        let old = door.admit(Peer::Uid(1), 5).unwrap();
        // Not idle long enough yet: refused.
        assert!(door.admit(Peer::Uid(1), 6).is_err());
        old.activity().last_ms.store(0, Ordering::Relaxed);
        std::thread::sleep(EVICT_AFTER + Duration::from_millis(50));
        // Busy: never displaced.
        old.activity().busy(true);
        assert!(door.admit(Peer::Uid(1), 6).is_err());
        old.activity().busy(false);
        old.activity().last_ms.store(0, Ordering::Relaxed);
        let new = door.admit(Peer::Uid(1), 6).unwrap();
        assert!(old.evicted().is_cancelled());
        assert!(!new.evicted().is_cancelled());
        drop(old);
        assert_eq!(door.open(), 1);
    }

    #[test]
    fn an_fd_above_the_ceiling_is_refused_with_a_json_503() {
        let door = door(10, 10);
        let refused = door.admit(Peer::Uid(1), 100).unwrap_err();
        assert_eq!(refused, Refusal::Fds { open: 100, ceiling: 100 });
        let raw = String::from_utf8(refused.response()).unwrap();
        assert!(raw.starts_with("HTTP/1.1 503 "), "{raw}");
        let body: serde_json::Value =
            serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["code"], "too_many_connections");
        assert!(body["hint"].as_str().unwrap().contains("reserve_fds"));
        assert_eq!(door.open(), 0);
    }

    #[test]
    fn the_rate_limit_allows_a_burst_then_refuses() {
        let limit = RateLimit::new(1.0, 3.0);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!((0..3).all(|_| limit.take(ip)));
        assert!(!limit.take(ip));
        assert!(limit.take("127.0.0.2".parse().unwrap()));
    }
}
