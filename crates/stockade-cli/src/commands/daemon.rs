//! `stockade daemon`: the daemon, headless. Logs go to stderr
//! (`STOCKADE_LOG` sets the filter, default `info`); SIGTERM or SIGINT stops
//! every service in reverse dependency order and exits 0 if all stopped
//! within their grace.

use crate::cli::DaemonArgs;
use crate::exit::{FAILED, fail};
use std::path::Path;
use std::process::ExitCode;
use stockade_daemon::Config;

/// Run the daemon until SIGTERM/SIGINT.
pub fn run(spec_path: &Path, args: &DaemonArgs) -> anyhow::Result<ExitCode> {
    let spec = super::load_spec(spec_path)?;
    init_logging(LogTarget::Stderr);
    let runtime = daemon_runtime()?;
    let config = Config { new_store: args.store.new_store, ..Config::new(spec) };
    let report = runtime.block_on(stockade_daemon::run(config, shutdown_signal(), None))?;
    finish(report)
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
        LogTarget::Stderr => builder.with_writer(std::io::stderr).try_init(),
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

/// Resolves on the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers; stop the daemon with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
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
