//! The API's listeners: a Unix socket (mode 0600, or 0660 with
//! `socket_group`) by default, and TCP when configured — only with a bearer
//! token, loopback included. What each request must show is `crate::guard`;
//! who gets a connection at all is `crate::door`; how one is served, with
//! its header and idle timers, is `crate::conn`. A Unix socket deleted while
//! the daemon runs is bound again within a second (checked by the listener).

use crate::api::{self, AppState};
use crate::conn::{self, Timers};
use crate::door::{Door, Limits, Peer};
use crate::guard::{self, TcpGuard};
use anyhow::Context;
use axum::extract::Request;
use axum::middleware::{self, Next};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use stockade_spec::{DaemonConfig, Listen};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long open connections (event streams, followed logs) get to finish
/// after shutdown before they are cut.
const DRAIN: Duration = Duration::from_secs(2);

/// The running listeners.
pub struct Servers {
    /// What is served, as `unix:PATH` / `tcp:ADDR`.
    pub addresses: Vec<String>,
    tasks: JoinSet<std::io::Result<()>>,
    stop: CancellationToken,
    sockets: Vec<std::path::PathBuf>,
}

/// Why the daemon will not serve.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A TCP listener without a token: any local user could command the daemon.
    #[error(
        "refusing to listen on tcp:{addr} without a token: any local user (and, through DNS rebinding, any web page) could command the daemon; export STOCKADE_TOKEN=<secret>, or set token_env or token_file in [daemon], or listen on the Unix socket only"
    )]
    TokenRequired {
        /// The address.
        addr: SocketAddr,
    },
    /// `socket_group` is set but the socket could not be given to it.
    #[error(
        "cannot give the socket {} to group {group} (gid {gid}): {source}; the daemon must own the socket and be a member of the group (or root)",
        path.display()
    )]
    SocketGroup {
        /// The socket.
        path: PathBuf,
        /// The group's name.
        group: String,
        /// Its gid.
        gid: u32,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Refuse a configuration that would serve TCP without a token — checked
/// before anything starts, so nothing runs behind an open door.
pub fn check(config: &DaemonConfig) -> Result<(), ListenError> {
    for listen in &config.listen {
        if let Listen::Tcp(addr) = listen
            && config.token.is_none()
        {
            return Err(ListenError::TokenRequired { addr: *addr });
        }
    }
    Ok(())
}

/// How often a Unix listener checks that its socket file still exists.
const SOCKET_CHECK: Duration = Duration::from_secs(1);

/// Bind every listener of `config` and start serving.
pub async fn serve(config: &DaemonConfig, state: AppState) -> anyhow::Result<Servers> {
    let stop = state.stopping.clone();
    let mut servers = Servers {
        addresses: Vec::new(),
        tasks: JoinSet::new(),
        stop: stop.clone(),
        sockets: Vec::new(),
    };
    let limits = Limits::of(config);
    let timers = Timers { header: config.header_timeout, idle: config.idle_timeout };
    for listen in &config.listen {
        match listen {
            Listen::Unix(path) => {
                // The store's lock proves no other daemon owns this state
                // directory, so a socket file left here is stale.
                if path.exists() {
                    std::fs::remove_file(path).with_context(|| {
                        format!("cannot remove the stale socket {}", path.display())
                    })?;
                }
                let socket = UnixSocket {
                    path: path.clone(),
                    group: config.socket_group.as_ref().map(|g| (g.name.clone(), g.gid)),
                };
                let listener = socket.bind()?;
                let app = api::router(state.clone()).layer(middleware::from_fn(guard::json_only));
                let address = format!("unix:{}", path.display());
                let door = Door::new(address.clone(), limits);
                servers.tasks.spawn(serve_unix(socket, listener, app, door, timers, stop.clone()));
                servers.addresses.push(address);
                servers.sockets.push(path.clone());
            }
            Listen::Tcp(addr) => {
                let Some(token) = config.token.as_deref() else {
                    return Err(ListenError::TokenRequired { addr: *addr }.into());
                };
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on tcp:{addr}"))?;
                let bound = listener.local_addr().unwrap_or(*addr);
                let tcp_guard = TcpGuard::new(token, bound);
                // Layers run outside-in from the last added: Host, Origin and
                // the token first, then the content type.
                let app = api::router(state.clone())
                    .layer(middleware::from_fn(guard::json_only))
                    .layer(middleware::from_fn(move |req: Request, next: Next| {
                        guard::tcp(tcp_guard.clone(), req, next)
                    }));
                let address = format!("tcp:{bound}");
                let door = Door::new(address.clone(), limits);
                servers.tasks.spawn(serve_tcp(listener, app, door, timers, stop.clone()));
                servers.addresses.push(address);
            }
        }
    }
    Ok(servers)
}

/// A Unix socket's path and who may use it; bound at start and again if
/// the file is deleted while the daemon runs.
struct UnixSocket {
    path: PathBuf,
    group: Option<(String, u32)>,
}

impl UnixSocket {
    fn bind(&self) -> anyhow::Result<tokio::net::UnixListener> {
        let path = &self.path;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        // bind(2) creates the socket with the umask's mode, and the
        // chmod below comes after: with a socket outside the private
        // state directory (socket_group), a stranger could connect in
        // between. A tight umask closes that window; it only ever
        // makes files created meanwhile more private.
        let umask = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
        let bound = tokio::net::UnixListener::bind(path);
        rustix::process::umask(umask);
        let listener = bound.with_context(|| format!("cannot listen on {}", path.display()))?;
        let mode = if let Some((group, gid)) = &self.group {
            rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(*gid))).map_err(|e| {
                ListenError::SocketGroup {
                    path: path.clone(),
                    group: group.clone(),
                    gid: *gid,
                    source: e.into(),
                }
            })?;
            0o660
        } else {
            0o600
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the mode of {}", path.display()))?;
        Ok(listener)
    }

    /// The inode of the socket file now, if there is one.
    fn inode(&self) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(&self.path).ok().map(|m| m.ino())
    }
}

async fn serve_unix(
    socket: UnixSocket,
    mut listener: tokio::net::UnixListener,
    app: axum::Router,
    door: Arc<Door>,
    timers: Timers,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let mut conns = JoinSet::new();
    let mut inode = socket.inode();
    let mut check = tokio::time::interval(SOCKET_CHECK);
    let mut failing = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = check.tick() => {
                if socket.inode().is_none() {
                    match socket.bind() {
                        Ok(fresh) => {
                            tracing::warn!(socket = %socket.path.display(), "the API socket was deleted; re-created it");
                            listener = fresh;
                            inode = socket.inode();
                        }
                        Err(err) => tracing::error!(socket = %socket.path.display(), "the API socket was deleted and cannot be re-created: {err:#}"),
                    }
                } else if socket.inode() != inode {
                    // Someone else's file took the path: leave it, say so once.
                    tracing::warn!(socket = %socket.path.display(), "the API socket was replaced by another file; clients cannot reach this daemon there until it is removed");
                    inode = socket.inode();
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    failing = false;
                    let peer = stream.peer_cred().map(|c| Peer::Uid(c.uid())).unwrap_or(Peer::Unknown);
                    let fd = stream.as_raw_fd() as u64;
                    match door.admit(peer, fd) {
                        Ok(permit) => {
                            conns.spawn(conn::serve(stream, app.clone(), peer, timers, permit, stop.clone()));
                        }
                        Err(refusal) => {
                            let _ = stream.try_write(&refusal.response());
                        }
                    }
                }
                Err(err) => accept_failed(&door_name(&socket), err, &mut failing).await,
            },
        }
    }
    drain(conns).await;
    Ok(())
}

fn door_name(socket: &UnixSocket) -> String {
    format!("unix:{}", socket.path.display())
}

async fn serve_tcp(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    door: Arc<Door>,
    timers: Timers,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let mut conns = JoinSet::new();
    let mut failing = false;
    let name = listener.local_addr().map(|a| format!("tcp:{a}")).unwrap_or_default();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    failing = false;
                    let peer = Peer::Ip(addr.ip());
                    let fd = stream.as_raw_fd() as u64;
                    match door.admit(peer, fd) {
                        Ok(permit) => {
                            let _ = stream.set_nodelay(true);
                            conns.spawn(conn::serve(stream, app.clone(), peer, timers, permit, stop.clone()));
                        }
                        Err(refusal) => {
                            let _ = stream.try_write(&refusal.response());
                        }
                    }
                }
                Err(err) => accept_failed(&name, err, &mut failing).await,
            },
        }
    }
    drain(conns).await;
    Ok(())
}

/// accept(2) failed (EMFILE, ENFILE, ENOBUFS…): log once per episode and
/// pause briefly, so a full fd table is not spun on.
async fn accept_failed(listener: &str, err: std::io::Error, failing: &mut bool) {
    if !*failing {
        tracing::warn!(%listener, %err, "cannot accept connections; retrying every 50 ms");
        *failing = true;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Let open connections finish (they were asked to); `Servers::stop`
/// aborts this task after `DRAIN`, which drops and cuts them.
async fn drain(mut conns: JoinSet<()>) {
    while conns.join_next().await.is_some() {}
}

impl Servers {
    /// Resolves if a listener stops on its own (it should not).
    pub async fn failed(&mut self) {
        match self.tasks.join_next().await {
            Some(result) => tracing::error!(?result, "an API listener ended"),
            None => std::future::pending().await,
        }
    }

    /// Stop accepting, give open streams a moment, then cut them; remove the sockets.
    pub async fn stop(mut self) {
        self.stop.cancel();
        let drained =
            tokio::time::timeout(DRAIN, async { while self.tasks.join_next().await.is_some() {} })
                .await;
        if drained.is_err() {
            self.tasks.abort_all();
        }
        for socket in &self.sockets {
            let _ = std::fs::remove_file(socket);
        }
    }
}
