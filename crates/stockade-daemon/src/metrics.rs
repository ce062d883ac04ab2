//! `GET /metrics`: the daemon in the Prometheus text format (0.0.4), or in
//! OpenMetrics 1.0 when the scraper's `Accept` asks for
//! `application/openmetrics-text`; computed at scrape time. Each scrape asks the engine for a fresh [`StatusView`] (which
//! reads every live box's counters) and its [`EngineStats`], reads the
//! daemon's own `/proc/self`, and encodes that one [`Snapshot`] through a
//! `prometheus-client` [`Collector`]. Nothing is cached between scrapes, so
//! nothing goes stale and a run that ended leaves no series behind.
//!
//! Labels are bounded by the spec (service, replica index, pool, unit, cause
//! kind, decision), never by run or job ids. Per-run usage is exported for
//! service replicas only: job views carry no usage yet.

use crate::api::{AppState, Failure};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use stockade_engine::{EngineStats, WAIT_BUCKETS};
use stockade_proto::{JobState, ReplicaView, ServiceState, StatusView};

/// The OpenMetrics text format, sent when `Accept` names it.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The plain Prometheus text format, the default.
pub const PROMETHEUS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Terminal job states, each counted by `stockade_jobs_finished_total`.
const FINISHED: [JobState; 5] = [
    JobState::Succeeded,
    JobState::Failed,
    JobState::Cancelled,
    JobState::Expired,
    JobState::Rejected,
];

/// Every public replica state, so a service reports a zero for the states it
/// is not in (a series that vanishes is worse for alerting than a zero).
const REPLICA_STATES: [ServiceState; 9] = [
    ServiceState::Pending,
    ServiceState::Blocked,
    ServiceState::Starting,
    ServiceState::Running,
    ServiceState::Ready,
    ServiceState::Backoff,
    ServiceState::Stopping,
    ServiceState::Stopped,
    ServiceState::GaveUp,
];

/// `GET /metrics`.
pub async fn scrape(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let (status, stats) = tokio::join!(state.engine.status(), state.engine.stats());
    // The store's `GROUP BY` and the procfs reads (one entry per open fd) on
    // the blocking pool, never on an async worker.
    let (counts, process) = crate::api::read_store(&state.store, |s| {
        Ok((s.finished_counts()?, ProcessFacts::read(Path::new("/proc/self"))))
    })
    .await?;
    let (finished, failed) = finished_jobs(&state, counts);
    let alerts = state.alerts.gauge();
    let cluster = state.cluster.as_ref().map(ClusterFacts::read);
    let snapshot =
        Snapshot { status: status?, stats: stats?, process, finished, failed, alerts, cluster };
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let body = snapshot.render().map_err(|_| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics_encoding",
            "could not encode the metrics",
            "this is a bug in stockade; the rest of the API is unaffected",
        )
    })?;
    if openmetrics {
        return Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response());
    }
    Ok(([(header::CONTENT_TYPE, PROMETHEUS_TYPE)], to_prometheus(&body)).into_response())
}

/// Finished jobs by (template, terminal state) — a zero for every pair of
/// the spec's templates, so no series vanishes — and failed jobs by
/// (template, cause kind of the last run): one `GROUP BY` in the store.
type Finished = (BTreeMap<(String, String), u64>, BTreeMap<(String, String), u64>);

fn finished_jobs(state: &AppState, counts: Vec<(String, String, Option<String>, u64)>) -> Finished {
    let mut finished = BTreeMap::new();
    for template in state.spec().jobs.keys() {
        for job_state in FINISHED {
            finished.insert((template.clone(), job_state.as_str().to_owned()), 0);
        }
    }
    let mut failed = BTreeMap::new();
    for (template, job_state, cause, n) in counts {
        if job_state == JobState::Failed.as_str() {
            let cause = cause.unwrap_or_else(|| "none".to_owned());
            *failed.entry((template.clone(), cause)).or_insert(0) += n;
        }
        *finished.entry((template, job_state)).or_insert(0) += n;
    }
    (finished, failed)
}

/// The OpenMetrics text as Prometheus text 0.0.4: no `# EOF` or `# UNIT`, a
/// counter's `HELP`/`TYPE` name its `_total` samples, and an `info` family
/// becomes the `_info` gauge it is in Prometheus.
pub fn to_prometheus(openmetrics: &str) -> String {
    let mut renamed: BTreeMap<&str, (String, &str)> = BTreeMap::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            match rest.split_once(' ') {
                Some((name, "counter")) => {
                    renamed.insert(name, (format!("{name}_total"), "counter"))
                }
                Some((name, "info")) => renamed.insert(name, (format!("{name}_info"), "gauge")),
                _ => None,
            };
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "].iter().find_map(|p| Some((*p, line.strip_prefix(p)?)));
        if let Some((prefix, rest)) = meta {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some((new, kind)) = renamed.get(name) {
                let tail = if prefix == "# TYPE " { *kind } else { tail };
                out.push_str(&format!("{prefix}{new} {tail}\n"));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Everything one scrape reports, gathered before any encoding starts.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Replicas (with usage and limits) and pools.
    pub status: StatusView,
    /// The engine's counters since it started.
    pub stats: EngineStats,
    /// The daemon process itself.
    pub process: ProcessFacts,
    /// Finished jobs by (template, terminal state).
    pub finished: BTreeMap<(String, String), u64>,
    /// Failed jobs by (template, cause kind of the last run; `none`: never ran).
    pub failed: BTreeMap<(String, String), u64>,
    /// (alert, unit, 1 if firing) for every declared rule and every leak seen.
    pub alerts: Vec<(String, String, u64)>,
    /// This member's lease and counters, in cluster mode.
    pub cluster: Option<ClusterFacts>,
}

/// What `/metrics` says of a cluster member.
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    /// This host's name.
    pub host: String,
    /// Its epoch.
    pub epoch: u64,
    /// Seconds since its last successful lease renewal was sent.
    pub lease_age: f64,
    /// 1 while it holds the leader lease.
    pub leader: u64,
    /// 1 while it claims nothing (lease not renewed, database away, draining).
    pub degraded: u64,
    /// Counters: claims, completions, fenced, rescued, expired, self-fences.
    pub counts: [u64; 6],
}

impl ClusterFacts {
    fn read(cluster: &crate::cluster::Cluster) -> ClusterFacts {
        use std::sync::atomic::Ordering::Relaxed;
        let (host, epoch, age, leader, degraded) = cluster.standing();
        let c = cluster.counters();
        ClusterFacts {
            host,
            epoch,
            lease_age: age.as_secs_f64(),
            leader: leader.into(),
            degraded: degraded.is_some().into(),
            counts: [
                c.claims.load(Relaxed),
                c.completions.load(Relaxed),
                c.fenced.load(Relaxed),
                c.rescued.load(Relaxed),
                c.expired.load(Relaxed),
                c.self_fences.load(Relaxed),
            ],
        }
    }
}

impl Snapshot {
    /// The OpenMetrics text, `# EOF` included.
    pub fn render(self) -> Result<String, fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

/// The daemon's own threads, memory and file descriptors. A field is `None`
/// when its file could not be read; its metric is then left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessFacts {
    /// Threads of the daemon process (`Threads:` in `status`).
    pub threads: Option<u64>,
    /// Resident set size in bytes (`VmRSS:` in `status`).
    pub resident_bytes: Option<u64>,
    /// Open file descriptors (entries of `fd/`).
    pub open_fds: Option<u64>,
    /// The soft `RLIMIT_NOFILE` (`Max open files` in `limits`).
    pub max_fds: Option<u64>,
    /// Virtual memory size in bytes (`VmSize:` in `status`).
    pub virtual_bytes: Option<u64>,
    /// User plus system CPU time, in seconds (`stat` fields 14 and 15).
    pub cpu_seconds: Option<f64>,
}

impl ProcessFacts {
    /// Read them from a `/proc/<pid>` directory (`/proc/self` in the daemon,
    /// a tempdir in tests).
    pub fn read(dir: &Path) -> ProcessFacts {
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let field = |name: &str| stockade_linux::proc::status_number(&status, name);
        let limits = std::fs::read_to_string(dir.join("limits")).unwrap_or_default();
        let max_fds = limits
            .lines()
            .find_map(|line| line.strip_prefix("Max open files"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok());
        let open_fds = std::fs::read_dir(dir.join("fd")).ok().map(|d| d.count() as u64);
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let ticks = stockade_linux::proc::clock_ticks_per_second() as f64;
        let cpu_seconds = stockade_linux::proc::parse_pid_stat(&stat)
            .map(|stat| (stat.utime + stat.stime) as f64 / ticks);
        ProcessFacts {
            threads: field("Threads"),
            resident_bytes: field("VmRSS").map(|kib| kib * 1024),
            open_fds,
            max_fds,
            virtual_bytes: field("VmSize").map(|kib| kib * 1024),
            cpu_seconds,
        }
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        self.encode_services(&mut encoder)?;
        self.encode_pools(&mut encoder)?;
        self.encode_stats(&mut encoder)?;
        self.encode_runs(&mut encoder)?;
        self.encode_alerts(&mut encoder)?;
        self.encode_cluster(&mut encoder)?;
        self.encode_daemon(&mut encoder)
    }
}

/// Name, help and unit of one metric family.
struct Family<'a> {
    name: &'a str,
    help: &'a str,
    unit: Option<Unit>,
}

impl<'a> Family<'a> {
    fn new(name: &'a str, help: &'a str) -> Family<'a> {
        Family { name, help, unit: None }
    }

    fn unit(mut self, unit: Unit) -> Family<'a> {
        self.unit = Some(unit);
        self
    }

    fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
        &self,
        encoder: &mut DescriptorEncoder,
        samples: impl IntoIterator<Item = (L, V)>,
    ) -> fmt::Result {
        let mut metric = encoder.encode_descriptor(
            self.name,
            self.help,
            self.unit.as_ref(),
            MetricType::Gauge,
        )?;
        for (labels, value) in samples {
            metric.encode_family(&labels)?.encode_gauge(&value)?;
        }
        Ok(())
    }

    /// One unlabelled gauge; only its description when the value is unknown.
    fn gauge<V: EncodeGaugeValue>(
        &self,
        encoder: &mut DescriptorEncoder,
        value: Option<V>,
    ) -> fmt::Result {
        let mut metric = encoder.encode_descriptor(
            self.name,
            self.help,
            self.unit.as_ref(),
            MetricType::Gauge,
        )?;
        match value {
            Some(value) => metric.encode_gauge(&value),
            None => Ok(()),
        }
    }

    fn counters<L: EncodeLabelSet, V: EncodeCounterValue>(
        &self,
        encoder: &mut DescriptorEncoder,
        samples: impl IntoIterator<Item = (L, V)>,
    ) -> fmt::Result {
        let mut metric = encoder.encode_descriptor(
            self.name,
            self.help,
            self.unit.as_ref(),
            MetricType::Counter,
        )?;
        for (labels, value) in samples {
            metric.encode_family(&labels)?.encode_counter::<NoLabelSet, V, u64>(&value, None)?;
        }
        Ok(())
    }
}

type Labels<const N: usize> = [(&'static str, String); N];

impl Snapshot {
    fn encode_services(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let mut by_state: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        let mut restarts: BTreeMap<&str, u64> = BTreeMap::new();
        for replica in &self.status.services {
            for state in REPLICA_STATES {
                by_state.entry((&replica.service, state.as_str())).or_default();
            }
            *by_state.entry((&replica.service, replica.state.as_str())).or_default() += 1;
            *restarts.entry(&replica.service).or_default() += u64::from(replica.restarts);
        }
        Family::new("stockade_service_replicas", "Service replicas by state.").gauges(
            encoder,
            by_state.into_iter().map(|((service, state), n)| {
                ([("service", service.to_string()), ("state", state.to_string())], n)
            }),
        )?;
        Family::new(
            "stockade_service_restarts",
            "Restarts of a service's replicas since the service was last started.",
        )
        .counters(
            encoder,
            restarts.into_iter().map(|(service, n)| ([("service", service.to_string())], n)),
        )
    }

    fn encode_pools(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let pools = &self.status.pools;
        Family::new(
            "stockade_pool_jobs",
            "Live jobs of a pool by state; state=\"queued\" is the queue depth.",
        )
        .gauges(
            encoder,
            pools.iter().flat_map(|p| {
                [("queued", p.queued), ("running", p.running)]
                    .map(|(state, n)| ([("pool", p.name.clone()), ("state", state.to_string())], n))
            }),
        )?;
        Family::new("stockade_pool_max_concurrency", "The concurrency limit a pool applies now.")
            .gauges(encoder, pools.iter().map(|p| ([("pool", p.name.clone())], p.max_concurrency)))?;
        Family::new("stockade_pool_max_queued", "The most jobs a pool's queue accepts.")
            .gauges(encoder, pools.iter().map(|p| ([("pool", p.name.clone())], p.max_queued)))?;
        Family::new(
            "stockade_pool_blocked",
            "1 while the head of a pool's queue cannot start (see /api/queue/status for why).",
        )
        .gauges(
            encoder,
            pools
                .iter()
                .map(|p| ([("pool", p.name.clone())], u64::from(p.blocking_reason.is_some()))),
        )
    }

    fn encode_stats(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let stats = &self.stats;
        Family::new(
            "stockade_exits",
            "Runs that ended, by unit, kind (service or job) and cause kind.",
        )
        .counters(
            encoder,
            stats.exits.iter().map(|((unit, kind, cause), n)| {
                ([("unit", unit.clone()), ("kind", kind.clone()), ("cause", cause.clone())], *n)
            }),
        )?;
        Family::new(
            "stockade_admissions",
            "Admission decisions by pool: admitted, or the reason a pool started holding its queue.",
        )
        .counters(
            encoder,
            stats.admissions.iter().map(|((pool, decision), n)| {
                ([("pool", pool.clone()), ("decision", decision.clone())], *n)
            }),
        )?;
        let mut metric = encoder.encode_descriptor(
            "stockade_queue_wait",
            "How long jobs waited in a pool's queue before they started.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (pool, histogram) in &stats.queue_wait {
            // The engine keeps cumulative buckets; the encoder wants each
            // bucket's own count and adds them up again, +Inf included.
            let mut buckets = Vec::with_capacity(WAIT_BUCKETS.len() + 1);
            let mut below = 0;
            for (bound, cumulative) in WAIT_BUCKETS.iter().zip(histogram.buckets) {
                buckets.push((*bound, cumulative.saturating_sub(below)));
                below = cumulative;
            }
            buckets.push((f64::INFINITY, histogram.count.saturating_sub(below)));
            let labels = [("pool", pool.clone())];
            metric.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                histogram.sum,
                histogram.count,
                &buckets,
                None,
            )?;
        }
        Ok(())
    }

    fn encode_runs(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let live: Vec<(Labels<2>, &ReplicaView)> = self
            .status
            .services
            .iter()
            .filter(|r| r.run.is_some())
            .map(|r| ([("service", r.service.clone()), ("replica", r.replica.to_string())], r))
            .collect();
        let usage = |pick: fn(&ReplicaView) -> Option<u64>| {
            live.iter().filter_map(move |(labels, r)| Some((labels.clone(), pick(r)?)))
        };
        let percent = |used: fn(&ReplicaView) -> Option<u64>,
                       limit: fn(&ReplicaView) -> Option<u64>| {
            live.iter().filter_map(move |(labels, r)| {
                let limit = limit(r).filter(|l| *l > 0)?;
                Some((labels.clone(), used(r)? as f64 / limit as f64))
            })
        };
        let cpu = |r: &ReplicaView| r.usage.as_ref()?.cpu_usec;
        let memory = |r: &ReplicaView| r.usage.as_ref()?.memory_current;
        let memory_peak = |r: &ReplicaView| r.usage.as_ref()?.memory_peak;
        let memory_limit = |r: &ReplicaView| r.limits.memory;
        let pids = |r: &ReplicaView| r.usage.as_ref()?.pids_current;
        let pids_limit = |r: &ReplicaView| r.limits.pids;

        Family::new(
            "stockade_run_usage_readable",
            "1 if the counters of a live replica's box could be read at this scrape, else 0.",
        )
        .gauges(encoder, live.iter().map(|(l, r)| (l.clone(), u64::from(r.usage.is_some()))))?;
        Family::new("stockade_run_cpu", "CPU time used by every task in a replica's box.")
            .unit(Unit::Seconds)
            .counters(encoder, usage(cpu).map(|(l, usec)| (l, usec as f64 / 1e6)))?;
        Family::new("stockade_run_cpu_limit_cpus", "The CPU quota of a replica's box, in CPUs.")
            .gauges(encoder, live.iter().filter_map(|(l, r)| Some((l.clone(), r.limits.cpus?))))?;
        Family::new("stockade_run_memory", "Memory charged to a replica's box now.")
            .unit(Unit::Bytes)
            .gauges(encoder, usage(memory))?;
        Family::new("stockade_run_memory_peak", "The highest memory charge of a replica's box.")
            .unit(Unit::Bytes)
            .gauges(encoder, usage(memory_peak))?;
        Family::new("stockade_run_memory_limit", "The hard memory limit of a replica's box.")
            .unit(Unit::Bytes)
            .gauges(encoder, usage(memory_limit))?;
        Family::new(
            "stockade_run_memory_ratio",
            "Memory charged to a replica's box, as a fraction (0-1) of its memory limit.",
        )
        .gauges(encoder, percent(memory, memory_limit))?;
        Family::new("stockade_run_pids", "Tasks (processes and threads) in a replica's box now.")
            .gauges(encoder, usage(pids))?;
        Family::new("stockade_run_pids_limit", "The task limit (pids.max) of a replica's box.")
            .gauges(encoder, usage(pids_limit))?;
        Family::new(
            "stockade_run_pids_ratio",
            "Tasks in a replica's box, as a fraction (0-1) of its task limit.",
        )
        .gauges(encoder, percent(pids, pids_limit))
    }

    fn encode_cluster(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let Some(c) = &self.cluster else { return Ok(()) };
        let host = || [("host", c.host.clone())];
        Family::new("stockade_host_lease_age", "Seconds since this member's last successful lease renewal was sent; at stop_after it stops its runs.")
            .unit(Unit::Seconds)
            .gauges(encoder, [(host(), c.lease_age)])?;
        Family::new("stockade_host_epoch", "This member's epoch: every start takes a new one.")
            .gauges(encoder, [(host(), c.epoch)])?;
        Family::new(
            "stockade_cluster_leader",
            "1 while this member holds the leader lease (rescues, expiry).",
        )
        .gauges(encoder, [(host(), c.leader)])?;
        Family::new("stockade_cluster_degraded", "1 while this member claims nothing: its lease is not renewed, the database is away, or it drains.")
            .gauges(encoder, [(host(), c.degraded)])?;
        let [claims, completions, fenced, rescued, expired, self_fences] = c.counts;
        Family::new("stockade_cluster_claims", "Cluster jobs this member claimed.")
            .counters(encoder, [(host(), claims)])?;
        Family::new(
            "stockade_cluster_completions",
            "Endings of cluster jobs the cluster accepted from this member.",
        )
        .counters(encoder, [(host(), completions)])?;
        Family::new("stockade_jobs_fenced", "Cluster jobs no longer this member's when it reported them (completion refused, or taken away while running).")
            .counters(encoder, [(host(), fenced)])?;
        Family::new(
            "stockade_rescues",
            "Jobs this member, as leader, re-queued or expired, by reason.",
        )
        .counters(
            encoder,
            [
                ([("host", c.host.clone()), ("reason", "lost_host".to_owned())], rescued),
                ([("host", c.host.clone()), ("reason", "queue_timeout".to_owned())], expired),
            ],
        )?;
        Family::new("stockade_self_fences", "Times this member stopped its own runs because its lease was not renewed for stop_after.")
            .counters(encoder, [(host(), self_fences)])
    }

    fn encode_alerts(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        Family::new(
            "stockade_alert_firing",
            "1 while an alert fires: an [alert.NAME] rule (unit: its service, template or pool) or memory_leak (unit: the replica).",
        )
        .gauges(
            encoder,
            self.alerts.iter().map(|(alert, unit, firing)| {
                ([("alert", alert.clone()), ("unit", unit.clone())], *firing)
            }),
        )
    }

    fn encode_daemon(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let process = &self.process;
        Family::new(
            "stockade_jobs_finished",
            "Jobs that ended, by template and final state (succeeded, failed, cancelled, expired, rejected); the failure rate is failed over the sum.",
        )
        .counters(
            encoder,
            self.finished.iter().map(|((template, state), n)| {
                ([("template", template.clone()), ("state", state.clone())], *n)
            }),
        )?;
        Family::new(
            "stockade_jobs_failed",
            "Failed jobs by template and the cause kind of their last run (exited, oom_killed, timed_out, interrupted, ...; none: never ran).",
        )
        .counters(
            encoder,
            self.failed.iter().map(|((template, cause), n)| {
                ([("template", template.clone()), ("cause", cause.clone())], *n)
            }),
        )?;
        let mut cpu = encoder.encode_descriptor(
            "process_cpu",
            "Total user and system CPU time of the daemon process.",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?;
        if let Some(seconds) = process.cpu_seconds {
            cpu.encode_counter::<NoLabelSet, _, u64>(&seconds, None)?;
        }
        Family::new("process_threads", "Threads of the daemon process.")
            .gauge(encoder, process.threads)?;
        Family::new("process_resident_memory", "Resident memory of the daemon process.")
            .unit(Unit::Bytes)
            .gauge(encoder, process.resident_bytes)?;
        Family::new("process_virtual_memory", "Virtual memory of the daemon process.")
            .unit(Unit::Bytes)
            .gauge(encoder, process.virtual_bytes)?;
        Family::new("process_open_fds", "Open file descriptors of the daemon process.")
            .gauge(encoder, process.open_fds)?;
        Family::new("process_max_fds", "The daemon's soft RLIMIT_NOFILE.")
            .gauge(encoder, process.max_fds)?;
        Family::new("process_start_time", "When the daemon started, in Unix time.")
            .unit(Unit::Seconds)
            .gauge(encoder, Some(self.status.started_at as f64 / 1000.0))?;
        let mut info = encoder.encode_descriptor(
            "stockade_daemon",
            "The daemon's version and box backend.",
            None,
            MetricType::Info,
        )?;
        info.encode_info(&[
            ("version", env!("CARGO_PKG_VERSION")),
            ("sandbox", self.status.sandbox.as_str()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_parse::{Scrape, Value};
    use stockade_engine::WaitHistogram;
    use stockade_proto::{Limits, PoolView, RunId, Usage};

    fn replica(
        service: &str,
        index: u32,
        state: ServiceState,
        usage: Option<Usage>,
    ) -> ReplicaView {
        ReplicaView {
            service: service.into(),
            replica: index,
            state,
            reason: None,
            run: usage.as_ref().map(|_| RunId(u64::from(index) + 1)),
            pid: None,
            restarts: 2,
            started_at: None,
            last_cause: None,
            usage,
            limits: Limits { memory: Some(1000), pids: Some(50), ..Limits::default() },
        }
    }

    fn snapshot() -> Snapshot {
        let usage = Usage {
            cpu_usec: Some(1_500_000),
            memory_current: Some(250),
            memory_peak: Some(400),
            pids_current: Some(5),
            pids_peak: Some(7),
        };
        let mut unreadable = replica("web", 1, ServiceState::Running, None);
        unreadable.run = Some(RunId(99));
        let pool = PoolView {
            name: "default".into(),
            running: 3,
            queued: 7,
            max_concurrency: 4,
            utilization_percent: 75,
            blocking_reason: Some("pool full".into()),
            mode: "fixed".into(),
            limit_reason: None,
            max_queued: 100,
        };
        let mut stats = EngineStats::default();
        stats.exits.insert(("agent".into(), "job".into(), "exited".into()), 3);
        stats.admissions.insert(("default".into(), "admitted".into()), 11);
        let mut wait = WaitHistogram::default();
        wait.observe(0.02);
        wait.observe(2.0);
        wait.observe(7200.0);
        stats.queue_wait.insert("default".into(), wait);
        Snapshot {
            status: StatusView {
                pid: 1,
                started_at: 1_700_000_000_500,
                sandbox: "cgroup v1".into(),
                warnings: vec![],
                spec: "stockade.toml".into(),
                services: vec![
                    replica("web", 0, ServiceState::Running, Some(usage)),
                    unreadable,
                    replica("worker", 0, ServiceState::GaveUp, None),
                ],
                scaled: Vec::new(),
                pools: vec![pool],
                schedules: vec![],
                spec_file: None,
            },
            stats,
            process: ProcessFacts {
                threads: Some(5),
                resident_bytes: Some(4096),
                open_fds: None,
                max_fds: Some(1024),
                virtual_bytes: Some(8192),
                cpu_seconds: Some(1.5),
            },
            finished: BTreeMap::from([(("task".into(), "failed".into()), 2)]),
            failed: BTreeMap::from([
                (("task".into(), "exited".into()), 1),
                (("task".into(), "oom_killed".into()), 1),
            ]),
            alerts: vec![
                ("flappy".into(), "worker".into(), 1),
                ("memory_leak".into(), "web[0]".into(), 0),
            ],
            cluster: Some(ClusterFacts {
                host: "h1".into(),
                epoch: 3,
                lease_age: 0.5,
                leader: 1,
                degraded: 0,
                counts: [10, 8, 1, 2, 1, 0],
            }),
        }
    }

    fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                other => panic!("{name} is not a plain number: {other:?}"),
            })
    }

    fn parse(text: &str) -> Scrape {
        Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse the exposition")
    }

    #[test]
    fn a_snapshot_encodes_every_family_with_its_values() {
        let text = snapshot().render().expect("render");
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF:\n{text}");
        let scrape = parse(&text);
        let web = [("service", "web")];
        assert_eq!(
            value(&scrape, "stockade_service_replicas", &[web[0], ("state", "running")]),
            Some(2.0)
        );
        assert_eq!(
            value(&scrape, "stockade_service_replicas", &[web[0], ("state", "ready")]),
            Some(0.0)
        );
        assert_eq!(
            value(
                &scrape,
                "stockade_service_replicas",
                &[("service", "worker"), ("state", "gave_up")]
            ),
            Some(1.0)
        );
        assert_eq!(value(&scrape, "stockade_service_restarts_total", &web), Some(4.0));
        let pool = ("pool", "default");
        assert_eq!(value(&scrape, "stockade_pool_jobs", &[pool, ("state", "queued")]), Some(7.0));
        assert_eq!(value(&scrape, "stockade_pool_jobs", &[pool, ("state", "running")]), Some(3.0));
        assert_eq!(value(&scrape, "stockade_pool_max_concurrency", &[pool]), Some(4.0));
        assert_eq!(value(&scrape, "stockade_pool_blocked", &[pool]), Some(1.0));
        assert_eq!(
            value(
                &scrape,
                "stockade_exits_total",
                &[("unit", "agent"), ("kind", "job"), ("cause", "exited")]
            ),
            Some(3.0)
        );
        assert_eq!(
            value(&scrape, "stockade_admissions_total", &[pool, ("decision", "admitted")]),
            Some(11.0)
        );
        let flappy = [("alert", "flappy"), ("unit", "worker")];
        assert_eq!(value(&scrape, "stockade_alert_firing", &flappy), Some(1.0));
        let leak = [("alert", "memory_leak"), ("unit", "web[0]")];
        assert_eq!(value(&scrape, "stockade_alert_firing", &leak), Some(0.0));
        assert_eq!(value(&scrape, "process_threads", &[]), Some(5.0));
        assert_eq!(value(&scrape, "process_resident_memory_bytes", &[]), Some(4096.0));
        assert_eq!(value(&scrape, "process_open_fds", &[]), None, "unknown values are left out");
        assert_eq!(value(&scrape, "process_start_time_seconds", &[]), Some(1_700_000_000.5));
    }

    #[test]
    fn per_run_usage_is_reported_against_the_limits() {
        let scrape = parse(&snapshot().render().expect("render"));
        let r0 = [("service", "web"), ("replica", "0")];
        assert_eq!(value(&scrape, "stockade_run_cpu_seconds_total", &r0), Some(1.5));
        assert_eq!(value(&scrape, "stockade_run_memory_bytes", &r0), Some(250.0));
        assert_eq!(value(&scrape, "stockade_run_memory_limit_bytes", &r0), Some(1000.0));
        assert_eq!(value(&scrape, "stockade_run_memory_ratio", &r0), Some(0.25));
        assert_eq!(value(&scrape, "stockade_run_pids", &r0), Some(5.0));
        assert_eq!(value(&scrape, "stockade_run_pids_ratio", &r0), Some(0.1));
        assert_eq!(value(&scrape, "stockade_run_usage_readable", &r0), Some(1.0));
        // A live box whose counters could not be read says so, with no usage numbers.
        let r1 = [("service", "web"), ("replica", "1")];
        assert_eq!(value(&scrape, "stockade_run_usage_readable", &r1), Some(0.0));
        assert_eq!(value(&scrape, "stockade_run_memory_bytes", &r1), None);
        // A replica without a live run has no per-run series at all.
        let down = [("service", "worker"), ("replica", "0")];
        assert_eq!(value(&scrape, "stockade_run_usage_readable", &down), None);
    }

    #[test]
    fn the_queue_wait_histogram_is_cumulative_with_an_inf_bucket() {
        let scrape = parse(&snapshot().render().expect("render"));
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == "stockade_queue_wait_seconds")
            .expect("the histogram");
        let Value::Histogram(buckets) = &sample.value else {
            panic!("not a histogram: {:?}", sample.value);
        };
        let at = |le: f64| buckets.iter().find(|b| b.less_than == le).map(|b| b.count);
        assert_eq!(at(0.01), Some(0.0));
        assert_eq!(at(0.05), Some(1.0));
        assert_eq!(at(5.0), Some(2.0));
        assert_eq!(at(3600.0), Some(2.0));
        assert_eq!(at(f64::INFINITY), Some(3.0), "the wait past every bound lands in +Inf");
        assert_eq!(
            value(&scrape, "stockade_queue_wait_seconds_count", &[("pool", "default")]),
            Some(3.0)
        );
    }

    #[test]
    fn process_facts_come_from_the_proc_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("status"),
            "Name:\tstockade\nVmRSS:\t   12345 kB\nThreads:\t6\n",
        )
        .expect("write status");
        std::fs::write(
            dir.path().join("limits"),
            "Limit                     Soft Limit           Hard Limit           Units\n\
             Max open files            20000                20000                files\n",
        )
        .expect("write limits");
        std::fs::write(
            dir.path().join("stat"),
            "1 (stock ade) S 1 1 1 0 -1 0 0 0 0 0 150 50 0 0 20 0 1 0 12345\n",
        )
        .expect("write stat");
        std::fs::create_dir(dir.path().join("fd")).expect("fd dir");
        for fd in ["0", "1", "2"] {
            std::fs::write(dir.path().join("fd").join(fd), "").expect("fd entry");
        }
        let facts = ProcessFacts::read(dir.path());
        assert_eq!(
            facts,
            ProcessFacts {
                threads: Some(6),
                resident_bytes: Some(12345 * 1024),
                open_fds: Some(3),
                max_fds: Some(20000),
                virtual_bytes: None,
                cpu_seconds: Some(2.0),
            }
        );
        let missing = ProcessFacts::read(&dir.path().join("gone"));
        assert_eq!(missing, ProcessFacts::default());
    }

    #[test]
    fn the_prometheus_text_names_counters_by_their_samples_and_has_no_openmetrics_lines() {
        let text = to_prometheus(&snapshot().render().expect("render"));
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
        assert!(text.contains("# TYPE stockade_jobs_finished_total counter\n"), "{text}");
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"), "{text}");
        assert!(text.contains("# TYPE stockade_daemon_info gauge\n"), "{text}");
        let scrape = parse(&text);
        assert_eq!(
            value(
                &scrape,
                "stockade_jobs_finished_total",
                &[("template", "task"), ("state", "failed")]
            ),
            Some(2.0)
        );
        assert_eq!(value(&scrape, "process_cpu_seconds_total", &[]), Some(1.5));
        assert_eq!(
            value(
                &scrape,
                "stockade_jobs_failed_total",
                &[("template", "task"), ("cause", "oom_killed")]
            ),
            Some(1.0)
        );
    }
}
