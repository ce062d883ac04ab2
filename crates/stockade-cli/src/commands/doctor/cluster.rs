//! `doctor --cluster`: the spec's `[cluster]` checked without a database
//! client of the CLI's own. Offline: the lease settings, this member's name
//! and whether the kernel calls this clock synchronized (members refuse to
//! join beyond `max_clock_skew`). The database only through a running
//! member (`GET /api/cluster`): whether it reaches it, and every host's state
//! and lease age as it sees them. [`judge`] is the pure part.

use crate::cli::Cli;
use crate::client::Client;
use crate::commands::cluster::seconds;
use crate::exit::{Fail, UNREACHABLE};
use stockade_proto::{Check, CheckStatus, ClusterView, HostState, HostView};
use stockade_spec::{ClusterConfig, Spec};

/// What the daemon on this spec's socket said about the cluster.
pub enum Member {
    /// Nothing answers on the socket.
    Absent {
        /// Where doctor looked.
        socket: String,
    },
    /// It answered the view.
    Answered(Box<ClusterView>),
    /// It answered an error (not a member, the database unreachable).
    Refused {
        /// The daemon's message.
        message: String,
        /// Its hint.
        hint: Option<String>,
        /// Whether the cause is that the database cannot be reached.
        unreachable: bool,
    },
}

/// Whether the kernel's clock discipline says the clock is synchronized.
pub enum ClockSync {
    /// `adjtimex` answered a state other than `TIME_ERROR`.
    Synced {
        /// Its estimated error, in microseconds.
        estimated_error_us: i64,
    },
    /// `adjtimex` answered `TIME_ERROR`: no NTP daemon disciplines it.
    Unsynced,
    /// `adjtimex` failed.
    Unknown(String),
}

/// The cluster checks for `cli`'s spec and daemon.
pub fn checks(cli: &Cli) -> Vec<Check> {
    let spec = match Spec::from_file(&cli.file) {
        Ok(spec) => spec,
        Err(e) => {
            return vec![check(
                "cluster",
                CheckStatus::Fail,
                Some(cli.file.display().to_string()),
                format!("the spec does not validate: a member would not start\n{}", e.render()),
                Some(format!("stockade check -f {}", cli.file.display())),
            )];
        }
    };
    let Some(config) = &spec.cluster else {
        return vec![check(
            "cluster",
            CheckStatus::Warn,
            None,
            "the spec has no [cluster] and $STOCKADE_DATABASE is unset: this daemon runs alone on SQLite".to_owned(),
            Some("add [cluster] database = \"postgres://…\" to the spec (or set STOCKADE_DATABASE)".to_owned()),
        )];
    };
    let node = stockade_daemon::cluster::host_name(config);
    judge(config, &node, &clock_sync(), &ask(cli, &spec))
}

/// `GET /api/cluster` from the daemon of `--socket` or the spec, if one
/// answers on it.
fn ask(cli: &Cli, spec: &Spec) -> Member {
    let client = match Client::locate(cli.socket.as_deref(), &cli.file, cli.timeout) {
        Ok(client) => client,
        Err(e) => return refused(&e),
    };
    if !client.connects() {
        let socket = match cli.socket.as_deref().or(spec.daemon.socket_path()) {
            Some(path) => path.display().to_string(),
            None => "the spec's socket".to_owned(),
        };
        return Member::Absent { socket };
    }
    let answer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(client.get::<ClusterView>("/api/cluster")));
    match answer {
        Ok(view) => Member::Answered(Box::new(view)),
        Err(e) => refused(&e),
    }
}

fn refused(err: &anyhow::Error) -> Member {
    match err.downcast_ref::<Fail>() {
        Some(fail) => Member::Refused {
            message: fail.message.clone(),
            hint: fail.hint.clone(),
            unreachable: fail.code == UNREACHABLE,
        },
        None => Member::Refused { message: format!("{err:#}"), hint: None, unreachable: false },
    }
}

/// Ask the kernel's clock discipline (adjtimex(2) with no modes: a read).
fn clock_sync() -> ClockSync {
    // SAFETY: an all-zero `timex` is a valid argument, and `modes == 0`
    // only reads the kernel's state into it.
    let mut timex: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `timex` is a valid, writable `struct timex`.
    match unsafe { libc::adjtimex(&mut timex) } {
        -1 => ClockSync::Unknown(std::io::Error::last_os_error().to_string()),
        libc::TIME_ERROR => ClockSync::Unsynced,
        _ => ClockSync::Synced { estimated_error_us: timex.esterror },
    }
}

/// The checks, from the spec's `[cluster]`, this member's `name`, the
/// clock and what the running member said.
pub fn judge(config: &ClusterConfig, name: &str, clock: &ClockSync, member: &Member) -> Vec<Check> {
    let mut all = vec![
        check(
            "cluster",
            CheckStatus::Ok,
            Some(config.database_redacted()),
            "the spec makes this daemon a member of the cluster on this database".to_owned(),
            None,
        ),
        leases(config),
        host(config, name),
        clock_check(config, clock),
        database(config, member),
    ];
    if let Member::Answered(view) = member {
        all.extend(view.hosts.iter().map(|h| member_check(view, h)));
    }
    all
}

fn leases(config: &ClusterConfig) -> Check {
    let value = format!(
        "{} / {} / {}",
        seconds(config.heartbeat.as_millis() as u64),
        seconds(config.stop_after.as_millis() as u64),
        seconds(config.lost_after.as_millis() as u64)
    );
    match config.unsafe_leases() {
        Some(why) => check(
            "cluster_leases",
            CheckStatus::Fail,
            Some(value),
            why,
            Some("keep the defaults (heartbeat 2s, stop_after 10s, lost_after 20s)".to_owned()),
        ),
        None => check(
            "cluster_leases",
            CheckStatus::Ok,
            Some(value),
            format!(
                "heartbeat / stop_after / lost_after: a member cut off from the database stops its runs {} before the leader may give its jobs to another host (the clock skew, {}, and a heartbeat fit in between)",
                seconds(config.lost_after.saturating_sub(config.stop_after).as_millis() as u64),
                seconds(config.max_clock_skew.as_millis() as u64),
            ),
            None,
        ),
    }
}

fn host(config: &ClusterConfig, name: &str) -> Check {
    let from = match config.host {
        Some(_) => "[cluster] host",
        None => "the kernel's node name; [cluster] host is not set",
    };
    if name.is_empty() || name == "localhost" || name.starts_with("localhost.") {
        return check(
            "cluster_host",
            CheckStatus::Warn,
            Some(name.to_owned()),
            format!(
                "this member would be `{name}` ({from}): another host of that name is refused at join"
            ),
            Some("set [cluster] host = \"NAME\", unique in the cluster".to_owned()),
        );
    }
    check(
        "cluster_host",
        CheckStatus::Ok,
        Some(name.to_owned()),
        format!("this member is `{name}` ({from}); names are unique in the cluster"),
        None,
    )
}

fn clock_check(config: &ClusterConfig, clock: &ClockSync) -> Check {
    let skew = seconds(config.max_clock_skew.as_millis() as u64);
    let refuse = format!(
        "members refuse to join when their clock is more than max_clock_skew ({skew}) off the database's"
    );
    match clock {
        ClockSync::Synced { estimated_error_us } => check(
            "cluster_clock",
            CheckStatus::Ok,
            Some(format!("±{} ms", estimated_error_us / 1000)),
            format!("the kernel says this clock is synchronized; {refuse}"),
            None,
        ),
        ClockSync::Unsynced => check(
            "cluster_clock",
            CheckStatus::Warn,
            Some("unsynchronized".to_owned()),
            format!(
                "the kernel says this clock is not synchronized (no NTP?); {refuse}, and drift grows"
            ),
            Some("run chrony or systemd-timesyncd on every member".to_owned()),
        ),
        ClockSync::Unknown(why) => check(
            "cluster_clock",
            CheckStatus::Unknown,
            None,
            format!("cannot ask the kernel whether this clock is synchronized ({why}); {refuse}"),
            None,
        ),
    }
}

fn database(config: &ClusterConfig, member: &Member) -> Check {
    let spec_db = config.database_redacted();
    match member {
        Member::Absent { socket } => check(
            "cluster_database",
            CheckStatus::Unknown,
            None,
            format!(
                "the database check needs a running member: none answers on {socket} (the CLI has no database client of its own)"
            ),
            Some(
                "start `stockade daemon` on this spec, then run `stockade doctor --cluster` again"
                    .to_owned(),
            ),
        ),
        Member::Refused { message, hint, unreachable } => check(
            "cluster_database",
            if *unreachable { CheckStatus::Fail } else { CheckStatus::Warn },
            None,
            format!("the running daemon answered: {message}"),
            hint.clone(),
        ),
        Member::Answered(view) if view.database != spec_db => check(
            "cluster_database",
            CheckStatus::Warn,
            Some(view.database.clone()),
            format!(
                "the running member `{}` uses {}, but the spec (with this environment) says {spec_db}",
                view.host, view.database
            ),
            Some(
                "restart the daemon on this spec, or check $STOCKADE_DATABASE in both environments"
                    .to_owned(),
            ),
        ),
        Member::Answered(view) => match &view.degraded {
            Some(why) => check(
                "cluster_database",
                CheckStatus::Warn,
                Some(view.database.clone()),
                format!("the running member `{}` is degraded: {why}", view.host),
                None,
            ),
            None => check(
                "cluster_database",
                CheckStatus::Ok,
                Some(view.database.clone()),
                format!(
                    "reachable: the running member `{}` (epoch {}) sees {} host(s), {} job(s) queued and {} running",
                    view.host,
                    view.epoch,
                    view.hosts.len(),
                    view.queued,
                    view.running
                ),
                None,
            ),
        },
    }
}

/// One host's standing: a live member renews within two heartbeats.
fn member_check(view: &ClusterView, host: &HostView) -> Check {
    let age = seconds(host.lease_age_ms);
    let leader = if host.leader { ", the leader" } else { "" };
    let (status, message, fix) = match host.state {
        HostState::Live if host.lease_age_ms > 2 * view.heartbeat_ms => (
            CheckStatus::Warn,
            format!(
                "live{leader}, but its lease was renewed {age} ago (heartbeat {}): it stops its runs at {} unrenewed",
                seconds(view.heartbeat_ms),
                seconds(view.stop_after_ms)
            ),
            Some(format!("look at the daemon on {} and its way to the database", host.name)),
        ),
        HostState::Live => (
            CheckStatus::Ok,
            format!("live{leader}, lease renewed {age} ago, {} running", host.running),
            None,
        ),
        HostState::Draining => (
            CheckStatus::Warn,
            format!("draining{leader}: claims nothing, runs its {}", host.running),
            Some(format!("`stockade drain --undo` on {} resumes it", host.name)),
        ),
        HostState::Lost => (
            CheckStatus::Warn,
            format!("lost: its lease is {age} old; its jobs went back to the queue"),
            Some(format!(
                "start its daemon again (it rejoins with a new epoch), or ignore it if {} is gone",
                host.name
            )),
        ),
        HostState::Left => (CheckStatus::Ok, format!("left cleanly {age} ago"), None),
    };
    check(
        &format!("cluster_member_{}", host.name),
        status,
        Some(host.state.to_string()),
        message,
        fix,
    )
}

fn check(
    id: &str,
    status: CheckStatus,
    value: Option<String>,
    message: String,
    fix: Option<String>,
) -> Check {
    Check { id: id.to_owned(), status, value, limit: None, message, fix }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use stockade_proto::Headroom;

    fn view(database: &str) -> ClusterView {
        let host = |name: &str, state, lease_age_ms, leader| HostView {
            name: name.into(),
            epoch: 2,
            state,
            lease_age_ms,
            started_at: 0,
            version: "0.1.0".into(),
            headroom: Headroom::default(),
            running: 3,
            leader,
        };
        ClusterView {
            host: "h1".into(),
            epoch: 2,
            database: database.into(),
            leader: Some("h1".into()),
            degraded: None,
            heartbeat_ms: 2_000,
            stop_after_ms: 10_000,
            lost_after_ms: 20_000,
            queued: 5,
            running: 6,
            hosts: vec![
                host("h1", HostState::Live, 300, true),
                host("h2", HostState::Live, 7_200, false),
                host("h3", HostState::Lost, 61_000, false),
            ],
        }
    }

    fn verdicts(checks: &[Check]) -> Vec<(String, CheckStatus)> {
        checks.iter().map(|c| (c.id.clone(), c.status)).collect()
    }

    #[test]
    fn a_member_with_a_running_daemon_reports_every_host() {
        let config = ClusterConfig::new("postgres://me:pw@db/q");
        let member = Member::Answered(Box::new(view("postgres://me:***@db/q")));
        let checks = judge(&config, "h1", &ClockSync::Synced { estimated_error_us: 1500 }, &member);
        insta::assert_snapshot!("doctor_cluster", stockade_host::render_text(&checks));
    }

    #[test]
    fn without_a_daemon_the_database_is_unknown_and_the_rest_is_judged() {
        let config = ClusterConfig {
            host: Some("localhost".into()),
            ..ClusterConfig::new("postgres://db/q")
        };
        let member = Member::Absent { socket: "/srv/.stockade/stockade.sock".into() };
        let checks = judge(&config, "localhost", &ClockSync::Unsynced, &member);
        assert_eq!(
            verdicts(&checks),
            [
                ("cluster".to_owned(), CheckStatus::Ok),
                ("cluster_leases".to_owned(), CheckStatus::Ok),
                ("cluster_host".to_owned(), CheckStatus::Warn),
                ("cluster_clock".to_owned(), CheckStatus::Warn),
                ("cluster_database".to_owned(), CheckStatus::Unknown),
            ]
        );
        assert!(checks[4].message.contains("needs a running member"), "{}", checks[4].message);
    }

    #[test]
    fn unsafe_leases_and_a_different_database_are_named() {
        let config = ClusterConfig {
            stop_after: Duration::from_secs(19),
            ..ClusterConfig::new("postgres://db/q")
        };
        let member = Member::Answered(Box::new(view("postgres://other/q")));
        let checks = judge(&config, "h1", &ClockSync::Synced { estimated_error_us: 0 }, &member);
        let leases = &checks[1];
        assert_eq!(leases.status, CheckStatus::Fail);
        assert!(leases.message.contains("must not exceed lost_after"), "{}", leases.message);
        let database = &checks[4];
        assert_eq!(database.status, CheckStatus::Warn);
        assert!(database.message.contains("uses postgres://other/q"), "{}", database.message);
    }
}
