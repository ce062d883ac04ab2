//! A cluster of stockade hosts sharing one PostgreSQL queue, as the API
//! shows it (`GET /api/cluster`, `stockade cluster`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// A member's standing in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Renewing its lease and claiming work.
    Live,
    /// Renewing its lease, running what it holds, claiming nothing (`stockade drain`).
    Draining,
    /// Its lease ran out: the leader re-queued its jobs; its epoch is fenced.
    Lost,
    /// Stopped cleanly and said so.
    Left,
}

impl HostState {
    /// How the database and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Live => "live",
            HostState::Draining => "draining",
            HostState::Lost => "lost",
            HostState::Left => "left",
        }
    }

    /// The state spelled `s`, if any.
    pub fn parse(s: &str) -> Option<HostState> {
        [HostState::Live, HostState::Draining, HostState::Lost, HostState::Left]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

impl std::fmt::Display for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Room a host has for jobs, published with each heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Headroom {
    /// Bytes of memory free for jobs (above `reserve_memory`, less held requests).
    pub memory: u64,
    /// Tasks (pids) free for jobs (above `reserve_tasks`).
    pub tasks: u64,
    /// Free run slots per pool (`max_concurrency` less running).
    #[serde(default)]
    pub pools: BTreeMap<String, u64>,
}

/// One member (`GET /api/cluster`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostView {
    /// Its `[cluster] host` name, unique in the cluster.
    pub name: String,
    /// The epoch of its current life; every start takes a new one, and every
    /// claim and completion is fenced by it.
    pub epoch: u64,
    /// Live, draining, lost or left.
    pub state: HostState,
    /// Milliseconds since it last renewed its lease (by the database's clock).
    pub lease_age_ms: u64,
    /// When this life began.
    pub started_at: UnixMillis,
    /// The stockade version it runs.
    pub version: String,
    /// Its room as of its last heartbeat.
    pub headroom: Headroom,
    /// Cluster jobs it is running now.
    pub running: u64,
    /// Whether it holds the leader lease (rescues and schedules).
    pub leader: bool,
}

/// The cluster as one member sees it (`GET /api/cluster`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClusterView {
    /// The member answering.
    pub host: String,
    /// Its epoch.
    pub epoch: u64,
    /// The database, password redacted.
    pub database: String,
    /// The leader's name, if any member holds the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// Why this member is not claiming, when it is not (lost its lease,
    /// the database is unreachable, draining).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
    /// `heartbeat`, `stop_after`, `lost_after` in milliseconds.
    pub heartbeat_ms: u64,
    /// Unrenewed this long, a member stops its runs.
    pub stop_after_ms: u64,
    /// Unrenewed this long, the leader re-queues a member's jobs.
    pub lost_after_ms: u64,
    /// Jobs waiting, cluster-wide.
    pub queued: u64,
    /// Jobs running, cluster-wide.
    pub running: u64,
    /// Every member the database knows, live ones first.
    pub hosts: Vec<HostView>,
}
