//! `stockade cluster`: the members of the cluster this daemon belongs to
//! (`GET /api/cluster`), one row each, under a header of this member, the
//! database, the lease settings and the cluster-wide queue.

use crate::client::Client;
use crate::colour::{Paint, paint};
use crate::render::{bytes, duration_ms, print_json, status_table};
use std::process::ExitCode;
use stockade_proto::{ClusterView, HostView};

/// Show the cluster.
pub async fn run(client: Client, json: bool) -> anyhow::Result<ExitCode> {
    let view: ClusterView = client.get("/api/cluster").await?;
    if json {
        print_json(&view)?;
    } else {
        print!("{}", render(&view));
    }
    Ok(ExitCode::SUCCESS)
}

/// The text `cluster` prints.
pub fn render(view: &ClusterView) -> String {
    let leader = match &view.leader {
        Some(name) => format!("leader {name} (*)"),
        None => "no leader".to_owned(),
    };
    let mut out = format!(
        "member   {} (epoch {}), {leader}\ndatabase {}\nleases   heartbeat {}, stop after {}, lost after {}\njobs     {} queued, {} running cluster-wide\n",
        view.host,
        view.epoch,
        view.database,
        seconds(view.heartbeat_ms),
        seconds(view.stop_after_ms),
        seconds(view.lost_after_ms),
        view.queued,
        view.running,
    );
    if let Some(why) = &view.degraded {
        out.push_str(&format!("DEGRADED {}\n", paint(why, Some(Paint::Bold))));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = view.hosts.iter().map(row).collect();
    out.push_str(&status_table(
        &["HOST", "STATE", "EPOCH", "LEASE", "RUNNING", "FREE MEM", "FREE TASKS", "POOLS"],
        &rows,
    ));
    out
}

/// One member's row: the leader marked `h1 *` (a column of its own would
/// not leave 80 columns room for the pools), its pools as free slots,
/// `default:3 gpu:0`.
fn row(host: &HostView) -> Vec<String> {
    let pools: Vec<String> =
        host.headroom.pools.iter().map(|(pool, free)| format!("{pool}:{free}")).collect();
    vec![
        if host.leader { format!("{} *", host.name) } else { host.name.clone() },
        host.state.to_string(),
        host.epoch.to_string(),
        seconds(host.lease_age_ms),
        host.running.to_string(),
        bytes(host.headroom.memory),
        host.headroom.tasks.to_string(),
        pools.join(" "),
    ]
}

/// `0.4s`, `2s`, `19.6s` below a minute (lease ages are read to the tenth);
/// `3m12s` and up as every other duration.
pub fn seconds(ms: u64) -> String {
    match ms {
        0..60_000 if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        0..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => duration_ms(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use stockade_proto::{Headroom, HostState};

    fn host(name: &str, state: HostState, lease_age_ms: u64, running: u64) -> HostView {
        HostView {
            name: name.into(),
            epoch: 1,
            state,
            lease_age_ms,
            started_at: 1_700_000_000_000,
            version: "0.1.0".into(),
            headroom: Headroom {
                memory: 12 << 30,
                tasks: 3900,
                pools: BTreeMap::from([("default".into(), 3), ("gpu".into(), 0)]),
            },
            running,
            leader: false,
        }
    }

    #[test]
    fn the_cluster_table_fits_80_columns() {
        let hosts = vec![
            HostView { leader: true, epoch: 7, ..host("h1", HostState::Live, 400, 12) },
            HostView {
                headroom: Headroom { memory: 1536 << 20, tasks: 120, pools: BTreeMap::new() },
                ..host("h2", HostState::Draining, 1_250, 4)
            },
            host("h3", HostState::Lost, 47_600, 0),
            host("h4", HostState::Left, 3_723_000, 0),
        ];
        let view = ClusterView {
            host: "h2".into(),
            epoch: 1,
            database: "postgres://stockade:***@db.internal:5432/queue".into(),
            leader: Some("h1".into()),
            degraded: Some("draining: `stockade drain --undo` resumes claiming".into()),
            heartbeat_ms: 2_000,
            stop_after_ms: 10_000,
            lost_after_ms: 20_000,
            queued: 91,
            running: 16,
            hosts,
        };
        let text = render(&view);
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "wider than 80 columns: {line:?}");
        }
        insta::assert_snapshot!("cluster", text);
    }

    #[test]
    fn lease_ages_read_to_the_tenth_of_a_second() {
        assert_eq!(seconds(400), "0.4s");
        assert_eq!(seconds(2_000), "2s");
        assert_eq!(seconds(19_640), "19.6s");
        assert_eq!(seconds(192_000), "3m12s");
    }
}
