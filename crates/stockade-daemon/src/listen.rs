//! The API's listeners: a Unix socket (mode 0600, or 0660 with
//! `socket_group`) by default, and TCP when configured — only with a bearer
//! token, loopback included. What each request must show is `crate::guard`.

use crate::api::{self, AppState};
use crate::guard::{self, TcpGuard};
use anyhow::Context;
use axum::extract::Request;
use axum::middleware::{self, Next};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
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

/// Bind every listener of `config` and start serving.
pub async fn serve(config: &DaemonConfig, state: AppState) -> anyhow::Result<Servers> {
    let stop = CancellationToken::new();
    let mut servers = Servers {
        addresses: Vec::new(),
        tasks: JoinSet::new(),
        stop: stop.clone(),
        sockets: Vec::new(),
    };
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
                let listener =
                    bound.with_context(|| format!("cannot listen on {}", path.display()))?;
                let mode = if let Some(group) = &config.socket_group {
                    rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(group.gid)))
                        .map_err(|e| ListenError::SocketGroup {
                            path: path.clone(),
                            group: group.name.clone(),
                            gid: group.gid,
                            source: e.into(),
                        })?;
                    0o660
                } else {
                    0o600
                };
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .with_context(|| format!("cannot set the mode of {}", path.display()))?;
                let app = api::router(state.clone()).layer(middleware::from_fn(guard::json_only));
                let token = stop.clone();
                servers.tasks.spawn(async move {
                    axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned()).await
                });
                servers.addresses.push(format!("unix:{}", path.display()));
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
                let token = stop.clone();
                servers.tasks.spawn(async move {
                    axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned()).await
                });
                servers.addresses.push(format!("tcp:{bound}"));
            }
        }
    }
    Ok(servers)
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
