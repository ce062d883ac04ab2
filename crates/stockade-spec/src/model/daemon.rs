//! `[daemon]`: where the daemon keeps its state and where it listens.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Default `log_max_size`: 10 MiB per log file before rotation.
pub const DEFAULT_LOG_MAX_SIZE: u64 = 10 << 20;
/// Default `log_keep`: rotated files kept per log.
pub const DEFAULT_LOG_KEEP: u32 = 3;
/// Default `event_retention`: the store keeps the newest 100,000 events. A count
/// rather than an age, so the store's size is bounded however busy the host is.
pub const DEFAULT_EVENT_RETENTION: u64 = 100_000;

/// Default `reserve_memory`: `MemAvailable` kept free when admitting jobs.
pub const DEFAULT_RESERVE_MEMORY: u64 = 1 << 30;
/// Default `reserve_tasks`: tasks (threads, pids) kept free when admitting
/// jobs; equal to the doctor's fail floor, so admission stops first.
pub const DEFAULT_RESERVE_TASKS: u64 = 2048;

/// Default `max_connections`: open API connections per listener.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 512;
/// Default `max_connections_per_peer`: open API connections per peer (a uid
/// on the Unix socket, an IP address on TCP).
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: u32 = 64;
/// Default `idle_timeout`: a connection with no request in flight and no
/// byte moved for this long is closed.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Default `header_timeout`: a request's headers must arrive within this.
pub const DEFAULT_HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Default `reserve_fds`: file descriptors below `RLIMIT_NOFILE` the API
/// never takes, kept for spawning boxes, logs and the store.
pub const DEFAULT_RESERVE_FDS: u32 = 1024;

/// The validated `[daemon]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    /// Absolute directory for the store, logs and socket (`state_dir`, default
    /// `.stockade`, resolved against the spec file's directory).
    pub state_dir: PathBuf,
    /// Addresses to serve the API on; never empty. Default: `unix:<state_dir>/stockade.sock`.
    pub listen: Vec<Listen>,
    /// Bearer token required on every TCP listener: `token`, the value of the
    /// environment variable named by `token_env`, the contents of `token_file`
    /// (mode 0600 or stricter), or else `$STOCKADE_TOKEN`. A spec that listens
    /// on TCP without one is refused.
    pub token: Option<String>,
    /// `socket_group`: the Unix socket becomes mode 0660 owned by this group
    /// (like the docker group); `None`: mode 0600, the daemon's user only.
    pub socket_group: Option<SocketGroup>,
    /// `id_range`: the host uids/gids the boxes' user namespaces map to.
    pub id_range: IdRange,
    /// Rotate a log file when it reaches this many bytes.
    pub log_max_size: u64,
    /// Rotated log files kept per log.
    pub log_keep: u32,
    /// Number of newest events the store keeps.
    pub event_retention: u64,
    /// `workspace_retention`: a walled run's workspace (and its `.exit`
    /// record) is removed this long after the run ended (default 7 days).
    pub workspace_retention: std::time::Duration,
    /// Bytes of `MemAvailable` a job may never take: admission holds a job
    /// whose declared memory would eat into it.
    pub reserve_memory: u64,
    /// Tasks below `kernel.threads-max` / `kernel.pid_max` a job may never take.
    pub reserve_tasks: u64,
    /// How the store syncs a commit.
    pub synchronous: Synchronous,
    /// What a plain stop (SIGTERM, `stockade down`) does to running jobs.
    pub on_stop: OnStop,
    /// Open API connections allowed per listener (`max_connections`).
    pub max_connections: u32,
    /// Open API connections allowed per peer: a uid on a Unix socket
    /// (`SO_PEERCRED`), an IP address on TCP (`max_connections_per_peer`).
    pub max_connections_per_peer: u32,
    /// A connection with nothing in flight and no byte moved for this long
    /// is closed (`idle_timeout`).
    pub idle_timeout: std::time::Duration,
    /// A request's headers must arrive within this (`header_timeout`).
    pub header_timeout: std::time::Duration,
    /// File descriptors below `RLIMIT_NOFILE` kept for spawning and the
    /// store: no connection is accepted into them (`reserve_fds`).
    pub reserve_fds: u32,
}

/// `on_stop`: what a plain stop does to running jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStop {
    /// Stop them (signal, grace, kill) and queue them again (default).
    #[default]
    Requeue,
    /// Leave them running in their boxes, ended by nothing, for the next
    /// daemon to adopt.
    Leave,
}

/// Default `workspace_retention`: the workspaces of ended runs are kept 7
/// days for the post-mortem.
pub const DEFAULT_WORKSPACE_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(7 * 86_400);

/// Default `id_range`: 2^31 up to just below the 16-bit-aligned top of the
/// uid space (`2147483648-4294901759`, 32767 blocks of 65536). Ordinary
/// accounts and `/etc/subuid` ranges (`useradd` starts at 100000) sit far
/// below it; `stockade doctor` checks that nothing on the host uses it.
pub const DEFAULT_ID_RANGE: IdRange = IdRange::DEFAULT;

/// `id_range = "FIRST-LAST"` (inclusive): host ids the sandbox hands out to
/// boxes' user namespaces. At least 65536 ids, all below 4294967295 (which
/// means "no id" to the kernel). One type for the spec, the sandbox and
/// `doctor`.
pub use stockade_proto::IdRange;

/// `socket_group`, looked up when the spec was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketGroup {
    /// The group's name.
    pub name: String,
    /// Its gid.
    pub gid: u32,
}

/// `synchronous`: how hard the store pushes each commit to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync every commit: an acknowledged job survives a power loss (default).
    #[default]
    Full,
    /// fsync at WAL checkpoints only: survives a crash of the daemon, may lose
    /// the last commits on a power loss; commits are several times faster.
    Normal,
}

/// One address the daemon listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `unix:PATH`: a Unix socket (absolute path; relative paths in the spec are
    /// resolved against the spec file's directory).
    Unix(PathBuf),
    /// `tcp:HOST:PORT` with HOST an IP address (`[::1]` for IPv6).
    Tcp(SocketAddr),
}

impl DaemonConfig {
    /// The first Unix socket the daemon listens on: where the CLI connects by default.
    pub fn socket_path(&self) -> Option<&std::path::Path> {
        self.listen.iter().find_map(|l| match l {
            Listen::Unix(path) => Some(path.as_path()),
            Listen::Tcp(_) => None,
        })
    }
}
