//! The command line, as clap types only.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Run a herd of agents on one Linux host without the host falling over.
///
/// Every agent runs in its own box (cgroup limits on memory, cpu and pids;
/// rlimits; its whole process tree killed as one) behind walls by default
/// (its own user, pid and mount namespaces, the host read-only, a clean
/// environment; `isolation = "none"` opts out). Services are kept alive;
/// jobs are admitted only while their pool and the host have room; every
/// death is classified with a post-mortem.
#[derive(Debug, Parser)]
#[command(name = "stockade", version, propagate_version = true)]
pub struct Cli {
    /// The spec file.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "stockade.toml",
        env = "STOCKADE_FILE"
    )]
    pub file: PathBuf,
    /// The daemon's socket (default: from the spec's `state_dir`).
    #[arg(long, global = true, env = "STOCKADE_SOCKET")]
    pub socket: Option<PathBuf>,
    /// How long to wait for the daemon to answer a request (a stopped or
    /// frozen daemon): a duration like 30s or 2m; streams (logs -F, events
    /// -f, top, exec) wait this long for their start only.
    #[arg(long, global = true, env = "STOCKADE_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter spec.
    Init(InitArgs),
    /// Validate a spec; report every error at once (and warn of undefined `${VAR}`s).
    Check(JsonArg),
    /// Run the daemon in the foreground with a live view (Ctrl-C stops everything cleanly).
    Up(UpArgs),
    /// Run the daemon headless (logs to stderr), for systemd, containers and scripts;
    /// with --upgrade, replace the running one with the binary on disk.
    Daemon(DaemonArgs),
    /// Stop the running daemon (with --drain, let running jobs finish first).
    Down(DownArgs),
    /// Submit a job from a `[job.NAME]` template; prints its id.
    Run(RunArgs),
    /// List services, jobs and schedules (with each one's next run).
    Ps(PsArgs),
    /// Show the daemon, its box backend, its pools and schedules.
    Status(JsonArg),
    /// Show a service's or a job's output.
    Logs(LogsArgs),
    /// Show events (the newest that match --unit/--type); with -F, follow them.
    Events(EventsArgs),
    /// Explain why a run ended: `run:ID`, `job:ID` (or a bare job id), a service name, or one replica (`name[3]`).
    Postmortem(PostmortemArgs),
    /// Run a command inside a running service replica's or job's box.
    Exec(ExecArgs),
    /// Cancel queued or running jobs.
    Cancel(CancelArgs),
    /// Stop services (or one replica, `name[3]`) and keep them down, across daemon restarts.
    Stop(ServiceArgs),
    /// Start services (or one replica, `name[3]`); clears `gave_up`.
    Start(ServiceArgs),
    /// Restart services (or one replica, `name[3]`); clears `gave_up`.
    Restart(ServiceArgs),
    /// Run N replicas of a service from now on, across daemon restarts, until the spec's replicas change.
    Scale(ScaleArgs),
    /// Print a shell completion script: `stockade completions bash > /etc/bash_completion.d/stockade`.
    Completions(CompletionsArgs),
    /// Re-read the spec file the daemon runs, print the plan (units added,
    /// removed, updated in place, restarted) and apply it; same as SIGHUP.
    ///
    /// Changed cgroup limits (memory, pids, cpus) are written to the live
    /// boxes without a restart; a changed command, environment, walls,
    /// rlimits, replicas or probes restart only that service; added services
    /// start, removed ones stop in reverse dependency order; job templates
    /// apply to new runs, running jobs keep theirs; pool limits apply at
    /// once. An invalid spec changes nothing.
    Reload(ReloadArgs),
    /// Check the host's limits before they bite; with --plan, how many agents fit;
    /// with --cluster, the spec's `[cluster]` and the members' leases.
    Doctor(crate::commands::doctor::DoctorArgs),
    /// A live view of every run's usage against its limits, with the latest events.
    Top(crate::commands::top::TopArgs),
    /// Show the cluster this daemon is a member of: each host's state, lease,
    /// epoch, room and running jobs, the leader and the shared queue.
    Cluster(JsonArg),
    /// Stop this cluster member claiming jobs (what it runs goes on; the
    /// daemon stays up); with --undo, claim again.
    Drain(DrainArgs),
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// Print `{"path": ...}` instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Print one JSON event per line instead of the live table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: NewStoreArg,
}

/// `daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(flatten)]
    pub store: NewStoreArg,
    /// Do not start a daemon: ask the running one to replace itself with the
    /// binary on disk (same pid, same arguments; boxes are left running and
    /// recovered by the new one). Same as sending it SIGUSR2.
    #[arg(long)]
    pub upgrade: bool,
}

/// `down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Drain first: admit nothing new (submissions are refused with
    /// `draining`) and let running jobs finish for up to GRACE (default 5m;
    /// `--drain=30s`), then stop as usual.
    #[arg(long, value_name = "GRACE", num_args = 0..=1, require_equals = true)]
    pub drain: Option<Option<String>>,
    /// Print `{"pid": N, "stopped": true}` once it stopped.
    #[arg(long)]
    pub json: bool,
}

/// `drain`.
#[derive(Debug, Args)]
pub struct DrainArgs {
    /// Resume claiming.
    #[arg(long)]
    pub undo: bool,
    /// Print the cluster view (as `cluster --json`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `reload`.
#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// Only print the plan; change nothing.
    #[arg(long)]
    pub plan: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--new-store`, shared by `up` and `daemon`.
#[derive(Debug, Args)]
pub struct NewStoreArg {
    /// Start a new, empty store even though the state directory had one
    /// (missing, empty or moved aside as corrupt); the old files are renamed
    /// to `<name>.old-<millis>` and kept. For one start, not for a unit file.
    #[arg(long)]
    pub new_store: bool,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job template.
    pub template: String,
    /// Extra environment, `KEY=VALUE` (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Priority; higher runs first (negative values run after the default 0).
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub priority: Option<i32>,
    /// Follow the job; exit 0 only if it succeeds.
    #[arg(long)]
    pub wait: bool,
    /// Follow the job and stream its output here (implies --wait); Ctrl-C
    /// stops following, the job keeps running.
    #[arg(long)]
    pub attach: bool,
    /// Print the submission as JSON.
    #[arg(long)]
    pub json: bool,
    /// Arguments appended to the template's command.
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// `exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// A service name (`name[3]`: replica 3), or a running job's id.
    pub target: String,
    /// Which replica of a service (default 0; same as `name[N]`).
    #[arg(long)]
    pub replica: Option<u32>,
    /// Forward stdin to the command.
    #[arg(long, short = 'i')]
    pub interactive: bool,
    /// Give the command a terminal (a pty; stdout and stderr merged; this terminal goes raw).
    #[arg(long, short = 't')]
    pub tty: bool,
    /// After the command ends, print its exit cause as one JSON line on stdout.
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also finished jobs, and every row (no --limit).
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Show at most N jobs (the rest are counted, not listed).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
}

/// A `--json` flag.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Services (every replica, or one: `player[3]`) and job ids.
    #[arg(required = true, num_args = 1..)]
    pub targets: Vec<String>,
    /// Keep following new output, across log rotation (`-F` as in `tail -F`;
    /// `-f` is the spec file, on every command).
    #[arg(long, short = 'F')]
    pub follow: bool,
    /// Only this replica of the services named.
    #[arg(long)]
    pub replica: Option<u32>,
    /// Only the last N lines of each log (before following).
    #[arg(long, short = 'n', value_name = "N")]
    pub tail: Option<usize>,
    /// Only lines since a time ago (10m, 2h, 1d) or an RFC 3339 time.
    #[arg(long, value_name = "DURATION|TIME")]
    pub since: Option<String>,
    /// Only lines before a time ago or an RFC 3339 time.
    #[arg(long, value_name = "DURATION|TIME")]
    pub until: Option<String>,
    /// Show each line's time (when it was read from the agent's pipe).
    #[arg(long, short = 't')]
    pub timestamps: bool,
    /// One JSON object per line (`ts`, `stream`, `text`, `pos`, `source`).
    #[arg(long)]
    pub json: bool,
    /// Only the run before the newest one (a service's previous run, a job's previous attempt).
    #[arg(long)]
    pub previous: bool,
    /// Resume after this position (a line's `pos` from `--json`; one target).
    #[arg(long, value_name = "POS")]
    pub after: Option<String>,
}

/// `events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep following new events (`-f` is the spec file, on every command).
    #[arg(long, short = 'F')]
    pub follow: bool,
    /// Only events of this service or job template.
    #[arg(long)]
    pub unit: Option<String>,
    /// Only events of these types (comma-separated or repeated).
    #[arg(long = "type", value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(stockade_daemon::EVENT_TYPES))]
    pub kind: Vec<String>,
    /// Start after this sequence number (default: the last --tail matching events).
    #[arg(long)]
    pub since: Option<u64>,
    /// How many past events that match the filters to show first.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub tail: u64,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// `postmortem`.
#[derive(Debug, Args)]
pub struct PostmortemArgs {
    /// `run:ID`, `job:ID`, a bare job id, a service or template name, or
    /// `name[N]` for replica N of a service (the latest of each).
    pub target: String,
    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Job ids.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<u64>,
    /// One JSON object per job instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `stop | start | restart`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Services, or `name[3]` for one replica.
    #[arg(value_name = "NAME", required_unless_present = "all", conflicts_with = "all")]
    pub names: Vec<String>,
    /// Every service of the spec.
    #[arg(long)]
    pub all: bool,
    /// Wait until every replica asked for is there (running, or stopped),
    /// with progress on stderr; exit 1 if one gives up instead.
    #[arg(long)]
    pub wait: bool,
    /// JSON (the replicas) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The service.
    pub name: String,
    /// How many replicas.
    pub replicas: u32,
    /// Wait until the new replicas run (or the removed ones stopped).
    #[arg(long)]
    pub wait: bool,
    /// JSON (the replicas) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `--timeout`: seconds, or a duration like 30s, 5m; more than zero.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let duration = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => std::time::Duration::from_secs_f64(secs),
        Ok(_) => return Err("give a positive duration like 30s or 2m".to_string()),
        Err(_) => stockade_spec::parse_duration(text).map_err(|e| e.to_string())?,
    };
    if duration.is_zero() {
        return Err("give a positive duration like 30s or 2m".to_string());
    }
    Ok(duration)
}
