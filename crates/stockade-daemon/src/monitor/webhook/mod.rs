//! The webhook: every `alert`, `alert_firing` and `alert_resolved` event and every abnormal `run_exited` (its
//! [`Outcome`] is a failure by the unit's own `exit_codes`) is POSTed as the event's JSON — the same
//! object `GET /api/events` streams — to `[monitor] webhook`.
//!
//! One task owns a [`queue::DropOldest`] fed from the engine's broadcast and
//! at most one delivery in flight, polled side by side in one `select!`, so
//! events are taken off the broadcast while a delivery waits on a slow
//! receiver. The engine never waits on this task; a hung or failing receiver
//! costs at most `webhook_queue` events of memory, `webhook_attempts` tries
//! per event, each cut at `webhook_timeout`. Give-ups and drops are recorded
//! as `daemon` events (never forwarded, so a dead receiver cannot feed itself).

mod deliver;
mod post;
mod queue;

use deliver::{Delivery, deliver};
use queue::DropOldest;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use stockade_engine::EngineHandle;
use stockade_proto::{Event, EventKind, Outcome};
use stockade_spec::WebhookConfig;
use tokio::sync::broadcast::{self, error::RecvError};

type InFlight = Pin<Box<dyn Future<Output = Delivery> + Send>>;

/// The success codes of each service (`[0]` for a unit not listed: jobs).
pub(crate) type SuccessCodes = HashMap<String, Vec<i32>>;

/// Deliver until the engine's broadcast closes.
pub(crate) async fn run(
    engine: EngineHandle,
    mut events: broadcast::Receiver<Event>,
    config: WebhookConfig,
    codes: SuccessCodes,
) {
    let config = Arc::new(config);
    let mut queue = DropOldest::new(config.queue as usize);
    let mut in_flight: Option<InFlight> = None;
    let mut lost = Lost::default();
    loop {
        if in_flight.is_none()
            && let Some(event) = queue.pop()
        {
            in_flight = Some(Box::pin(deliver(config.clone(), event)));
        }
        let delivered = async {
            match in_flight.as_mut() {
                Some(delivery) => delivery.await,
                None => std::future::pending().await,
            }
        };
        let step = tokio::select! {
            received = events.recv() => Step::Received(received),
            delivery = delivered => Step::Delivered(delivery),
        };
        match step {
            Step::Received(Ok(event)) if forwarded(&event, &codes) => queue.push(event),
            Step::Received(Ok(_)) => {}
            // The broadcast overwrote events this task had not read; which
            // of them were meant for the webhook is unknown.
            Step::Received(Err(RecvError::Lagged(n))) => lost.missed += n,
            Step::Received(Err(RecvError::Closed)) => return,
            Step::Delivered(delivery) => {
                in_flight = None;
                let mut notes = Vec::new();
                if let Some(failure) = &delivery.failure {
                    tracing::warn!(url = %config.url, seq = %delivery.event.seq, attempts = delivery.attempts, %failure, "webhook gave up on an event");
                    notes.push(format!(
                        "webhook {}: gave up on event {} ({}) after {} attempt(s): {failure}; check that the receiver is up and answers 2xx within webhook_timeout",
                        config.url,
                        delivery.event.seq,
                        type_name(&delivery.event.kind),
                        delivery.attempts
                    ));
                }
                notes.extend(lost.since_last_note(queue.dropped(), &config));
                for message in notes {
                    if engine.record("", EventKind::Daemon { message }).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

enum Step {
    Received(Result<Event, RecvError>),
    Delivered(Delivery),
}

/// Events the webhook never saw or had to drop, and how many were already reported.
#[derive(Debug, Default)]
struct Lost {
    missed: u64,
    reported_missed: u64,
    reported_dropped: u64,
}

impl Lost {
    fn since_last_note(&mut self, dropped: u64, config: &WebhookConfig) -> Option<String> {
        let new_dropped = dropped - self.reported_dropped;
        let new_missed = self.missed - self.reported_missed;
        if new_dropped == 0 && new_missed == 0 {
            return None;
        }
        self.reported_dropped = dropped;
        self.reported_missed = self.missed;
        Some(format!(
            "webhook {}: {new_dropped} event(s) dropped (queue of {} full) and {new_missed} missed (fell behind the event stream) since the last note; the receiver is slower than the events",
            config.url, config.queue
        ))
    }
}

/// Alerts, and runs that ended in a way nobody asked for.
fn forwarded(event: &Event, codes: &SuccessCodes) -> bool {
    match &event.kind {
        EventKind::Alert { .. }
        | EventKind::AlertFiring { .. }
        | EventKind::AlertResolved { .. } => true,
        EventKind::RunExited { cause, .. } => {
            let codes = codes.get(&event.unit).map_or(&[0][..], Vec::as_slice);
            Outcome::of(cause, codes).is_abnormal()
        }
        _ => false,
    }
}

fn type_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Alert { .. } => "alert",
        EventKind::AlertFiring { .. } => "alert_firing",
        EventKind::AlertResolved { .. } => "alert_resolved",
        EventKind::RunExited { .. } => "run_exited",
        _ => "event",
    }
}

#[cfg(test)]
mod tests {
    use super::{SuccessCodes, forwarded};
    use stockade_proto::{Event, EventKind, ExitCause, RunId, Seq};

    fn exited(cause: ExitCause) -> Event {
        Event {
            seq: Seq(1),
            at: 0,
            unit: "a".into(),
            kind: EventKind::RunExited { run: RunId(1), cause },
        }
    }

    #[test]
    fn alerts_and_abnormal_exits_are_forwarded_the_rest_is_not() {
        let none = SuccessCodes::new();
        let forwarded = |event: &Event| forwarded(event, &none);
        assert!(forwarded(&exited(ExitCause::Exited { code: 3 })));
        assert!(forwarded(&exited(ExitCause::OomKilled)));
        assert!(!forwarded(&exited(ExitCause::Exited { code: 0 })));
        assert!(!forwarded(&exited(ExitCause::Stopped)));
        let alert = EventKind::Alert { level: "warning".into(), message: "m".into() };
        assert!(forwarded(&Event { kind: alert, ..exited(ExitCause::Lost) }));
        for kind in [
            EventKind::AlertFiring { alert: "flappy".into(), message: "m".into() },
            EventKind::AlertResolved { alert: "flappy".into(), message: "m".into() },
        ] {
            assert!(forwarded(&Event { kind, ..exited(ExitCause::Lost) }));
        }
        let daemon = EventKind::Daemon { message: "webhook gave up".into() };
        assert!(!forwarded(&Event { kind: daemon, ..exited(ExitCause::Lost) }));
    }

    #[test]
    fn a_services_own_exit_codes_decide_what_is_abnormal() {
        let codes: SuccessCodes = [("a".to_string(), vec![3])].into();
        assert!(!forwarded(&exited(ExitCause::Exited { code: 3 }), &codes));
        assert!(forwarded(&exited(ExitCause::Exited { code: 0 }), &codes));
    }
}
