//! The writer thread: the one owner of the write connection, and group commit.
//!
//! Callers send a [`Command`] over a channel and await a oneshot. The thread
//! blocks for the first command, drains whatever else is queued, and applies
//! all of it in ONE transaction: each command inside its own SAVEPOINT, so a
//! refused command (a fenced transition) rolls back alone while the rest of the
//! batch commits. Replies go out only after COMMIT returned, so an answered
//! write is durable (with `synchronous=FULL`, on disk). If the commit fails
//! (SQLITE_FULL), every command of that batch gets the error and nothing of it
//! is kept; the thread carries on with the next batch. Start at [`Writer::run`].
//!
//! A full disk (SQLITE_FULL) also releases the [`Reserve`]: the WAL is
//! checkpointed and truncated into the freed space, and until the reserve can
//! be allocated again (checked before every batch, and every second while
//! idle) commands that submit jobs are refused with
//! [`StoreError::DiskFull`] while every other write — ends, transitions,
//! events, which record what already happened — is still tried. Each batch's
//! outcome goes to [`HealthState`] for [`crate::Store::health`]. After a
//! failed batch the store is not ready until a write commits; so that it
//! recovers by itself even when nothing else writes, the idle thread then
//! commits a probe (a rewrite of the header's `user_version`: one page into
//! the WAL) every second.

mod apply;

use crate::health::HealthState;
use crate::marker::Marker;
use crate::reserve::Reserve;
use crate::sql::SqlResultExt;
use crate::{Applied, StoreError, Write};
use apply::Applier;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;
use tokio::sync::oneshot;

/// Stop draining once a batch holds this many writes, so one transaction (and
/// the latency of its first caller) stays bounded under a flood.
const MAX_BATCH_WRITES: usize = 8192;

/// While the reserve is released, try to allocate it again this often even
/// when no write arrives.
const RESTORE_EVERY: Duration = Duration::from_secs(1);

/// Prune old events after about this many new ones.
const PRUNE_EVERY: u64 = 1024;

/// What the writer thread is asked to do.
pub(crate) enum Command {
    /// Apply these writes atomically and answer.
    Apply { writes: Vec<Write>, reply: oneshot::Sender<Result<Vec<Applied>, StoreError>> },
}

/// Counters of the writer, readable through [`crate::Store::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub transactions: AtomicU64,
    pub commands: AtomicU64,
    pub failed_transactions: AtomicU64,
}

/// The state the writer thread owns.
pub(crate) struct Writer {
    pub conn: Connection,
    pub path: PathBuf,
    pub counters: Arc<Counters>,
    pub event_retention: u64,
    /// Held for as long as the thread runs: the store's flock. Dropped after
    /// the connection, so a later open never sees a half-closed database.
    pub lock: crate::lock::StateLock,
    /// Updated with the database's size at clean close.
    pub marker: Marker,
    /// Space held back for a full disk.
    pub reserve: Reserve,
    /// Where batch outcomes are reported.
    pub health: Arc<HealthState>,
}

type Reply = oneshot::Sender<Result<Vec<Applied>, StoreError>>;

impl Writer {
    /// Serve commands until every sender is gone.
    pub(crate) fn run(self, commands: Receiver<Command>) {
        let Writer { conn, path, counters, event_retention, lock, mut marker, mut reserve, health } =
            self;
        let mut events_appended = 0u64;
        let mut last_prune = 0u64;
        while let Some(first) = next_command(&commands, &mut reserve, &health, &conn, &path) {
            let mut batch = vec![first];
            let mut size = batch_writes(&batch);
            while size < MAX_BATCH_WRITES {
                match commands.try_recv() {
                    Ok(command) => {
                        size += batch_writes(std::slice::from_ref(&command));
                        batch.push(command);
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let degraded = reserve.enabled() && !reserve.held();
            if degraded && reserve.try_restore() {
                health.set_degraded(false, true);
            }
            let refuse_submissions = reserve.enabled() && !reserve.held();
            let mut applier = Applier { conn: &conn, path: &path, events_appended };
            let (answers, failure) =
                commit_batch(&mut applier, batch, &counters, refuse_submissions);
            events_appended = applier.events_appended;
            match &failure {
                None => health.committed(),
                Some(err) if err.is_retryable() => {
                    health.failed(err.to_string());
                    if matches!(err, StoreError::DiskFull { .. }) && reserve.held() {
                        reserve.release();
                        checkpoint(&conn, &path);
                        health.set_degraded(true, false);
                    }
                }
                Some(_) => {}
            }
            for (reply, answer) in answers {
                // A caller that stopped waiting (its future was dropped) is no
                // error: its writes are committed all the same.
                let _ = reply.send(answer);
            }
            if event_retention > 0 && events_appended - last_prune >= PRUNE_EVERY {
                last_prune = events_appended;
                prune_events(&conn, &path, event_retention);
            }
        }
        marker.last_bytes = crate::store::db_bytes(&conn);
        if let Err(err) = marker.write(&path) {
            tracing::warn!(path = %path.display(), %err, "could not update the store marker at close");
        }
        health.closed();
        drop(conn);
        drop(lock);
    }
}

/// The next command; while the reserve is released, wake every
/// [`RESTORE_EVERY`] to allocate it again, and while the last batch failed,
/// to commit a probe write. `None` once every sender is gone.
fn next_command(
    commands: &Receiver<Command>,
    reserve: &mut Reserve,
    health: &HealthState,
    conn: &Connection,
    path: &std::path::Path,
) -> Option<Command> {
    loop {
        let released = reserve.enabled() && !reserve.held();
        if !released && !health.failing() {
            return commands.recv().ok();
        }
        match commands.recv_timeout(RESTORE_EVERY) {
            Ok(command) => return Some(command),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {
                if released && reserve.try_restore() {
                    health.set_degraded(false, true);
                }
                if health.failing() && probe(conn) {
                    tracing::info!(path = %path.display(), "the store can write again");
                    health.committed();
                }
            }
        }
    }
}

/// One real write: the header's `user_version` rewritten with its own value
/// (a page into the WAL, nothing changed). Whether it committed.
fn probe(conn: &Connection) -> bool {
    let write = || -> rusqlite::Result<()> {
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        conn.execute_batch(&format!("BEGIN IMMEDIATE; PRAGMA user_version = {version}; COMMIT"))
    };
    let ok = write().is_ok();
    if !ok && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    ok
}

/// After a full disk: move the WAL into the database and truncate it, so the
/// space the reserve freed goes to the database and the WAL stays small.
fn checkpoint(conn: &Connection, path: &std::path::Path) {
    let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match result {
        Ok((busy, log, done)) => {
            tracing::info!(path = %path.display(), busy, wal_frames = log, checkpointed = done, "checkpointed the WAL after a full disk")
        }
        Err(err) => tracing::warn!(path = %path.display(), %err, "could not checkpoint the WAL"),
    }
}

fn batch_writes(batch: &[Command]) -> usize {
    batch.iter().map(|Command::Apply { writes, .. }| writes.len()).sum()
}

/// Each caller's answer, and the storage error if the batch did not commit.
type Outcome = (Vec<(Reply, Result<Vec<Applied>, StoreError>)>, Option<StoreError>);

/// Apply every command in one transaction; return each caller's answer. With
/// `refuse_submissions` a command that submits jobs is answered DiskFull
/// without being tried.
fn commit_batch(
    applier: &mut Applier<'_>,
    batch: Vec<Command>,
    counters: &Counters,
    refuse_submissions: bool,
) -> Outcome {
    let conn = applier.conn;
    let path = applier.path;
    let mut answers = Vec::with_capacity(batch.len());
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE").at(path) {
        counters.failed_transactions.fetch_add(1, Ordering::Relaxed);
        let answers = batch
            .into_iter()
            .map(|Command::Apply { reply, .. }| (reply, Err(err.clone())))
            .collect();
        return (answers, Some(err));
    }
    let mut fatal = None;
    for Command::Apply { writes, reply } in batch {
        // After a fatal error the remaining commands are not tried; their
        // placeholder answer is replaced by that error below.
        if fatal.is_some() {
            answers.push((reply, Ok(Vec::new())));
            continue;
        }
        if refuse_submissions && writes.iter().any(|w| matches!(w, Write::SubmitJob(_))) {
            answers.push((reply, Err(StoreError::DiskFull { path: path.to_path_buf() })));
            continue;
        }
        if let Err(err) = conn.execute_batch("SAVEPOINT command") {
            fatal = Some(StoreError::sqlite(path, err));
            answers.push((reply, Ok(Vec::new())));
            continue;
        }
        let result: Result<Vec<Applied>, StoreError> =
            writes.into_iter().map(|write| applier.apply(write)).collect();
        let end = match &result {
            Ok(_) => conn.execute_batch("RELEASE command"),
            Err(_) if conn.is_autocommit() => {
                // SQLite rolled the whole transaction back on its own (it may
                // on SQLITE_FULL or an I/O error): nothing of this batch is kept.
                Ok(())
            }
            Err(_) => conn.execute_batch("ROLLBACK TO command; RELEASE command"),
        };
        if conn.is_autocommit() || end.is_err() {
            let err = match (end, &result) {
                (Err(e), _) => StoreError::sqlite(path, e),
                (Ok(()), Err(e)) => e.clone(),
                (Ok(()), Ok(_)) => StoreError::Closed { path: path.to_path_buf() },
            };
            fatal = Some(err);
        }
        answers.push((reply, result));
    }
    let commit = match fatal {
        Some(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(err)
        }
        None => conn.execute_batch("COMMIT").at(path).inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK");
        }),
    };
    match commit {
        Ok(()) => {
            counters.transactions.fetch_add(1, Ordering::Relaxed);
            let done = answers.iter().filter(|(_, a)| a.is_ok()).count();
            counters.commands.fetch_add(done as u64, Ordering::Relaxed);
            (answers, None)
        }
        Err(err) => {
            counters.failed_transactions.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(path = %path.display(), %err, "store batch not committed");
            // Refusals keep their own reason; everything else lost its commit.
            let answers = answers
                .into_iter()
                .map(|(reply, answer)| match answer {
                    Err(own) if own.is_refusal() => (reply, Err(own)),
                    _ => (reply, Err(err.clone())),
                })
                .collect();
            (answers, Some(err))
        }
    }
}

/// Keep the newest `retention` events. Runs outside any caller's transaction:
/// a failure here (a full disk) only delays the pruning.
fn prune_events(conn: &Connection, path: &std::path::Path, retention: u64) {
    let result = conn
        .execute("DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) - ?1", [retention]);
    if let Err(err) = result {
        tracing::warn!(path = %path.display(), %err, "could not prune old events");
    }
}
