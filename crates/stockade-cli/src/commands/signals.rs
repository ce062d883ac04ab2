//! The daemon's signals, turned into [`Stop`]s.
//!
//! | signal | effect |
//! |---|---|
//! | SIGTERM, first SIGINT | stop (services in reverse order; jobs requeued or left, per `on_stop`) |
//! | second SIGINT | force: kill every box now, skip the graces |
//! | a SIGINT within 250 ms of the first | the same Ctrl-C: `timeout -s INT` and a terminal's Ctrl-C reach the process twice (directly and through its process group) |
//! | SIGHUP | reload the spec file, as `stockade reload` (the plan goes to the log) |
//! | SIGUSR2 | `daemon`: upgrade in place; `up`: logged and ignored (its agents die with it) |

use std::time::{Duration, Instant};
use stockade_daemon::{Stop, Stopper};
use tokio::signal::unix::{SignalKind, signal};

/// SIGINTs this close to the first one are the same interrupt, delivered
/// twice: `timeout -s INT` sends it to the process and to its process
/// group, and so does a shell for a wrapper script. No person presses
/// Ctrl-C twice this fast on purpose.
const SAME_INTERRUPT: Duration = Duration::from_millis(250);

/// Which verb runs the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `stockade daemon`: SIGUSR2 upgrades.
    Daemon,
    /// `stockade up`: agents die with it, so no upgrade.
    Up,
}

/// Turn signals into stops until the daemon ends (the task is aborted then).
pub async fn handle_signals(stopper: Stopper, mode: Mode) {
    let kinds = [
        SignalKind::terminate(),
        SignalKind::interrupt(),
        SignalKind::hangup(),
        SignalKind::user_defined2(),
    ];
    let mut streams = Vec::new();
    for kind in kinds {
        match signal(kind) {
            Ok(stream) => streams.push(stream),
            Err(err) => {
                tracing::error!(%err, "cannot install signal handlers; stop the daemon with SIGKILL");
                return std::future::pending().await;
            }
        }
    }
    let [term, int, hup, usr2] = &mut streams[..] else { return };
    let mut first_interrupt: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = term.recv() => {
                stopper.stop(Stop::Now);
            }
            _ = int.recv() => {
                let first = *first_interrupt.get_or_insert_with(Instant::now);
                if first.elapsed() < SAME_INTERRUPT {
                    if mode == Mode::Daemon {
                        tracing::info!("SIGINT: stopping (again to force: kill every box now)");
                    }
                    // The first one, or the same one delivered again.
                    stopper.stop(Stop::Now);
                } else {
                    tracing::warn!("second SIGINT: forcing the stop: killing every box now, skipping the graces");
                    eprintln!("\nstockade: second Ctrl-C: forcing the stop — killing every box now, skipping the graces");
                    stopper.stop(Stop::Force);
                }
            }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the spec file");
                stopper.reload();
            }
            _ = usr2.recv() => match mode {
                Mode::Daemon => {
                    tracing::info!("SIGUSR2: upgrading in place to the binary on disk");
                    stopper.stop(Stop::Upgrade);
                }
                Mode::Up => tracing::warn!(
                    "SIGUSR2: `stockade up` cannot upgrade in place (its agents die with it); ignoring"
                ),
            },
        }
    }
}
