//! What `top` reads from the daemon: a [`Sample`] of status and running jobs
//! once a second, and the event stream, each on a task of its own so the
//! view never waits on the daemon.

use super::model::EVENTS_KEPT;
use crate::client::{Client, next_chunk};
use std::time::{Duration, Instant};
use stockade_proto::{Event, JobView, StatusView};
use tokio::sync::mpsc;

/// How often usage is sampled; cpu % is the cpu time used in that window.
pub(super) const REFRESH: Duration = Duration::from_secs(1);
/// How long one sample may take before the view says the daemon is stuck.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);

/// One reading of the daemon: every replica (with usage) and the running jobs.
pub(super) struct Sample {
    pub(super) status: StatusView,
    pub(super) jobs: Vec<JobView>,
    /// When it was read, for cpu rates.
    pub(super) at: Instant,
}

impl Sample {
    pub(super) async fn take(client: &Client) -> anyhow::Result<Sample> {
        let status = client.get("/api/status").await?;
        let page: stockade_proto::Page<JobView> =
            client.get("/api/jobs?state=running&limit=1000").await?;
        let jobs = page.items;
        Ok(Sample { status, jobs, at: Instant::now() })
    }
}

/// Sample once a second on a task of its own, so that a slow or hung
/// daemon never delays a key press.
pub(super) fn spawn_sampler(client: Client) -> mpsc::Receiver<anyhow::Result<Sample>> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tick.tick().await;
        loop {
            tick.tick().await;
            let sample = match tokio::time::timeout(SAMPLE_TIMEOUT, Sample::take(&client)).await {
                Ok(sample) => sample,
                Err(_) => Err(anyhow::anyhow!(
                    "the daemon did not answer within {}s",
                    SAMPLE_TIMEOUT.as_secs()
                )),
            };
            if tx.send(sample).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// What the event follower tells the view.
pub(super) enum Followed {
    Event(Event),
    Broken(String),
}

/// Follow the event stream, reconnecting (from the last seen seq) when it breaks.
pub(super) fn spawn_event_follower(client: Client) -> mpsc::Receiver<Followed> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut path = format!("/api/events?tail={EVENTS_KEPT}");
        loop {
            let why = match client.stream(&path).await {
                Ok(mut body) => {
                    let mut sse = SseReader::default();
                    loop {
                        match next_chunk(&mut body).await {
                            Ok(Some(chunk)) => {
                                for event in sse.push(&chunk) {
                                    path = format!("/api/events?since={}", event.seq.0);
                                    if tx.send(Followed::Event(event)).await.is_err() {
                                        return;
                                    }
                                }
                            }
                            Ok(None) => break "the event stream ended".to_string(),
                            Err(e) => break format!("{e:#}"),
                        }
                    }
                }
                Err(e) => format!("{e:#}"),
            };
            if tx.send(Followed::Broken(format!("events: {why}; retrying"))).await.is_err() {
                return;
            }
            tokio::time::sleep(REFRESH).await;
        }
    });
    rx
}

/// The last events, for `--once`: the replay ends when the stream goes idle.
pub(super) async fn backlog(client: &Client) -> anyhow::Result<Vec<Event>> {
    let mut body = client.stream(&format!("/api/events?tail={EVENTS_KEPT}")).await?;
    let mut sse = SseReader::default();
    let mut events = Vec::new();
    let idle = Duration::from_millis(300);
    while let Ok(chunk) = tokio::time::timeout(idle, next_chunk(&mut body)).await {
        let Some(chunk) = chunk? else { break };
        events.extend(sse.push(&chunk));
    }
    Ok(events)
}

/// Splits an SSE byte stream into events (blank-line separated blocks whose
/// `data:` lines hold one JSON [`Event`]); keep-alive comments are skipped.
#[derive(Default)]
struct SseReader {
    pending: String,
}

impl SseReader {
    fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.pending.push_str(&String::from_utf8_lossy(chunk));
        let mut events = Vec::new();
        while let Some(end) = self.pending.find("\n\n") {
            let block: String = self.pending.drain(..end + 2).collect();
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if let Ok(event) = serde_json::from_str::<Event>(&data) {
                events.push(event);
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_split_across_chunks_become_events() {
        let mut sse = SseReader::default();
        let one =
            r#"{"seq":5,"at":0,"unit":"web","type":"service_state","replica":0,"state":"running"}"#;
        let wire = format!(": keep-alive\n\nid: 5\nevent: service_state\ndata: {one}\n\n");
        let (head, tail) = wire.split_at(wire.len() / 2);
        assert!(sse.push(head.as_bytes()).is_empty());
        let events = sse.push(tail.as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].seq.0, 5);
        assert!(sse.pending.is_empty());
    }
}
