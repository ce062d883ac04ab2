//! Wake-ups: `LISTEN` on one dedicated connection (never a pooled one),
//! reconnecting with backoff. A wake-up is only a hint: members poll as
//! well, and after a reconnect they poll at once, since notifications sent
//! while the connection was down are gone.

use std::time::Duration;

use futures_util::StreamExt;
use stockade_spec::ClusterConfig;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::{CONTROL_CHANNEL, INSERT_CHANNEL};

/// Why a member should look at the queue now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A pool has new (or re-queued) work.
    Insert(String),
    /// A cancel was asked for, or a host came or went (payload: host name).
    Control(String),
    /// The listening connection was re-made: anything may have been missed.
    Reconnected,
}

/// Listen for wake-ups until the receiver is dropped.
pub fn listen(config: &ClusterConfig) -> mpsc::Receiver<Wake> {
    let (tx, rx) = mpsc::channel(256);
    let config = config.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        let mut first = true;
        loop {
            let Ok(pg) = crate::member::connection_config(&config) else { return };
            match pg.connect(NoTls).await {
                Ok((client, mut connection)) => {
                    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel();
                    let driver = tokio::spawn(async move {
                        let mut messages =
                            futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                        while let Some(message) = messages.next().await {
                            match message {
                                Ok(AsyncMessage::Notification(n)) => {
                                    let _ = msg_tx
                                        .send((n.channel().to_owned(), n.payload().to_owned()));
                                }
                                Ok(_) => {}
                                Err(_) => break,
                            }
                        }
                    });
                    let listening = client
                        .batch_execute(&format!(
                            "LISTEN {INSERT_CHANNEL}; LISTEN {CONTROL_CHANNEL}"
                        ))
                        .await
                        .is_ok();
                    if listening {
                        backoff = Duration::from_millis(200);
                        if !first && tx.send(Wake::Reconnected).await.is_err() {
                            driver.abort();
                            return;
                        }
                        while let Some((channel, payload)) = msg_rx.recv().await {
                            let wake = if channel == INSERT_CHANNEL {
                                Wake::Insert(payload)
                            } else {
                                Wake::Control(payload)
                            };
                            if tx.send(wake).await.is_err() {
                                driver.abort();
                                return;
                            }
                        }
                    }
                    driver.abort();
                    tracing::warn!(
                        "cluster LISTEN connection lost; reconnecting (members poll meanwhile)"
                    );
                }
                Err(e) => tracing::debug!(error = %e, "cluster LISTEN connection failed"),
            }
            if tx.is_closed() {
                return;
            }
            first = false;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
    rx
}
