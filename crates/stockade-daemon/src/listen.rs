//! The API's listeners: a Unix socket (mode 0600) by default, and TCP when
//! configured — off loopback only with a bearer token.

use crate::api::{self, AppState, Failure};
use anyhow::{Context, bail};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use std::os::unix::fs::PermissionsExt;
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
                let listener = tokio::net::UnixListener::bind(path)
                    .with_context(|| format!("cannot listen on {}", path.display()))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot make {} private", path.display()))?;
                let app = api::router(state.clone());
                let token = stop.clone();
                servers.tasks.spawn(async move {
                    axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned()).await
                });
                servers.addresses.push(format!("unix:{}", path.display()));
                servers.sockets.push(path.clone());
            }
            Listen::Tcp(addr) => {
                if !addr.ip().is_loopback() && config.token.is_none() {
                    bail!(
                        "refusing to listen on {addr} without a token: set `token` (or `token_env`) in [daemon], or listen on 127.0.0.1"
                    );
                }
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on tcp:{addr}"))?;
                let bound = listener.local_addr().unwrap_or(*addr);
                let mut app = api::router(state.clone());
                if let Some(token) = config.token.clone() {
                    let expected = format!("Bearer {token}");
                    app = app.layer(middleware::from_fn(move |req: Request, next: Next| {
                        let expected = expected.clone();
                        async move { require_token(&expected, req, next).await }
                    }));
                }
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

async fn require_token(expected: &str, req: Request, next: Next) -> Result<Response, Failure> {
    let given = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    if given == Some(expected) {
        Ok(next.run(req).await)
    } else {
        Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this listener needs a bearer token",
            "send `Authorization: Bearer <token>` (the daemon's `token`), or use the Unix socket",
        ))
    }
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
