//! `stockade daemon`: the daemon, headless. Logs go to stderr
//! (`STOCKADE_LOG` sets the filter, default `info`); SIGTERM or SIGINT stops
//! every service in reverse dependency order and exits 0 if all stopped
//! within their grace (a second SIGINT forces it); SIGHUP reloads the spec
//! file (`stockade reload`); SIGUSR2 (or `stockade daemon --upgrade`) replaces the daemon with
//! the binary on disk, same pid, same arguments (`upgrade.rs`).

use super::signals::{Mode, handle_signals};
use crate::cli::DaemonArgs;
use crate::exit::{FAILED, fail};
use std::path::Path;
use std::process::ExitCode;
use stockade_daemon::{Config, Stopped};

/// Run the daemon until SIGTERM/SIGINT (or exec the new binary after SIGUSR2).
pub fn run(spec_path: &Path, args: &DaemonArgs) -> anyhow::Result<ExitCode> {
    let spec = super::load_spec(spec_path)?;
    init_logging(LogTarget::Stderr);
    let runtime = daemon_runtime()?;
    let config = Config { new_store: args.store.new_store, ..Config::new(spec) };
    let stopped = runtime.block_on(async move {
        let (stopper, stops) = stockade_daemon::stop_channel();
        let signals = tokio::spawn(handle_signals(stopper, Mode::Daemon));
        let stopped = stockade_daemon::run_with(config, stops, None).await;
        signals.abort();
        stopped
    })?;
    // Every thread but this one, the store (its lock), the sockets and the
    // listeners are gone once the runtime is.
    drop(runtime);
    if stopped.upgrade {
        return Err(super::upgrade::exec_self());
    }
    summary(&stopped);
    finish_stopped(stopped)
}

/// [`finish`], and exit 1 after a forced stop (boxes killed without grace).
pub fn finish_stopped(stopped: Stopped) -> anyhow::Result<ExitCode> {
    if stopped.forced {
        tracing::info!(
            clean = stopped.report.clean,
            killed = stopped.report.killed,
            "stopped (forced)"
        );
        return Err(fail(
            FAILED,
            "the stop was forced: every box was killed without its grace",
            Some("what was running is recovered by policy at the next start".to_string()),
        ));
    }
    finish(stopped.report)
}

/// What the stop did to jobs, on stderr (and in the log): which run again.
pub fn summary(stopped: &Stopped) {
    let report = &stopped.report;
    let ids = |ids: &[stockade_proto::JobId]| {
        ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(", ")
    };
    if stopped.drain_expired {
        eprintln!("stockade: the drain's grace ran out with jobs still running");
    }
    if !report.requeued.is_empty() {
        eprintln!(
            "stockade: {} running job(s) were stopped and will run again when the daemon is back: {}",
            report.requeued.len(),
            ids(&report.requeued)
        );
    }
    if !report.left.is_empty() {
        eprintln!(
            "stockade: {} job(s) were left running for the next daemon to adopt: {}",
            report.left.len(),
            ids(&report.left)
        );
    }
    if report.queued > 0 {
        eprintln!(
            "stockade: {} job(s) are queued and will run when the daemon is back",
            report.queued
        );
    }
    tracing::info!(
        requeued = ?report.requeued,
        left = ?report.left,
        queued = report.queued,
        forced = stopped.forced,
        "exit summary"
    );
}

/// Where the daemon's own log lines go.
pub enum LogTarget {
    /// Standard error.
    Stderr,
    /// A file (when stdout is a live view).
    File(std::fs::File),
}

/// Install the tracing subscriber.
pub fn init_logging(target: LogTarget) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STOCKADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match target {
        // Colour only for a person at a terminal: never ANSI into a file,
        // a pipe or journald (`colour.rs` has the rule).
        LogTarget::Stderr => builder
            .with_ansi(crate::colour::enabled_on(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .try_init(),
        LogTarget::File(file) => {
            builder.with_ansi(false).with_writer(std::sync::Mutex::new(file)).try_init()
        }
    };
}

/// The daemon's runtime: two workers and a capped blocking pool, so the
/// thread count stays constant however many agents run (the sandbox adds
/// one spawner thread, the store one writer thread).
pub fn daemon_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .thread_name("stockade")
        .enable_all()
        .build()?)
}

/// Exit 0 when every run stopped within its grace; 1 when a box had to be killed.
pub fn finish(report: stockade_engine::ShutdownReport) -> anyhow::Result<ExitCode> {
    tracing::info!(clean = report.clean, killed = report.killed, "stopped");
    if report.killed > 0 {
        return Err(fail(
            FAILED,
            format!("{} run(s) did not stop within their grace and were killed", report.killed),
            Some("raise `stop.grace` for services that need longer to shut down".to_string()),
        ));
    }
    Ok(ExitCode::SUCCESS)
}
