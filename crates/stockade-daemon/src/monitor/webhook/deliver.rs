//! [`deliver`]: one event to the webhook, with bounded retries and
//! exponential backoff between them.

use super::post::{PostError, post};
use hyper::body::Bytes;
use std::sync::Arc;
use std::time::Duration;
use stockade_proto::Event;
use stockade_spec::WebhookConfig;

/// The longest wait between two attempts, however many came before.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How one event's delivery ended.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// The event.
    pub event: Event,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error, if no attempt succeeded.
    pub failure: Option<PostError>,
}

/// POST `event` until it is accepted, `config.attempts` are spent, or the
/// receiver refuses it in a way retrying cannot fix.
pub(crate) async fn deliver(config: Arc<WebhookConfig>, event: Event) -> Delivery {
    let body = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
    let mut delay = config.backoff;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match post(&config, body.clone()).await.err() {
            Some(err) if err.is_transient() && attempts < config.attempts => {
                tracing::debug!(%err, attempts, seq = %event.seq, "webhook attempt failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            failure => return Delivery { event, attempts, failure },
        }
    }
}
