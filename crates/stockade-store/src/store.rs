//! [`Store`]: the handle the daemon holds. Opening takes the lock, checks and
//! migrates the file and starts the writer thread; writes go to that thread,
//! reads to the pool in [`crate::read`].

use crate::health::HealthState;
use crate::lock::StateLock;
use crate::marker::{Marker, MovedAside, now_millis};
use crate::migrate::migrate;
use crate::open::open_writer;
use crate::presence::{self, Presence, with_suffix};
use crate::read::Readers;
use crate::reserve::{Reserve, free_bytes};
use crate::writer::{Command, Counters, Writer};
use crate::{Applied, JobRecord, NewJob, NewRun, StoreError, StoreOptions, Write};
use crate::{StoreHealth, private};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use stockade_proto::{
    Event, EventKind, Evidence, ExitCause, JobId, JobState, PostMortem, RunId, UnixMillis,
};
use tokio::sync::oneshot;

/// The durable state of one daemon. Cheap to clone; every clone talks to the
/// same writer thread. When the last clone is dropped the writer finishes its
/// queue, closes the database and releases the lock before `drop` returns.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    commands: Option<Sender<Command>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Readers,
    counters: Arc<Counters>,
    health: Arc<HealthState>,
}

/// Counters of the writer since open: how well group commit batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed.
    pub transactions: u64,
    /// `apply` calls committed (each is one atomic unit inside a transaction).
    pub commands: u64,
    /// Transactions that failed to commit (their callers got the error).
    pub failed_transactions: u64,
}

impl Store {
    /// Whether another process (a running daemon) holds the store at `path`
    /// now: [`StoreError::Locked`] with its pid. Takes nothing and creates
    /// nothing; [`Store::open`] still takes the lock for real.
    pub fn check_unlocked(path: &Path) -> Result<(), StoreError> {
        StateLock::check_free(path)
    }

    /// Open (or create) the store at `path`: take `<path>.lock`, refuse a
    /// store that was lost, tighten modes, check integrity, migrate, allocate
    /// the reserve, start the writer thread.
    ///
    /// Fails with [`StoreError::Locked`] if another store holds the file;
    /// [`StoreError::Missing`], [`StoreError::Empty`] or
    /// [`StoreError::MovedAside`] where a store existed and its file is gone,
    /// empty or was moved aside (until `opts.new_store`);
    /// [`StoreError::Corrupt`] (after moving the file aside and noting it in
    /// the marker) and [`StoreError::TooNew`] for a file of a newer stockade.
    pub fn open(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        let wal = with_suffix(path, "-wal");
        let shm = with_suffix(path, "-shm");
        let lock_path = StateLock::path_for(path);
        let marker_path = Marker::path_for(path);
        let reserve_path = crate::marker::sibling(path, "reserve");
        private::tighten_all(path, &[])?;
        let lock = StateLock::acquire(path)?;
        private::tighten_all(path, &[path, &wal, &shm, &lock_path, &marker_path, &reserve_path])?;
        let (mut marker, created) = match presence::check(path, opts.new_store)? {
            Presence::New(marker) => {
                create_private_file(path)?;
                (marker, true)
            }
            Presence::Existing(marker) => (marker.unwrap_or_else(|| Marker::new(path)), false),
        };
        let mut conn = match open_writer(path, opts.synchronous) {
            Ok(conn) => conn,
            Err(err) if created => {
                // Leave no empty file behind: it would be refused as Empty.
                if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
                    let _ = std::fs::remove_file(path);
                }
                return Err(err);
            }
            Err(err) => return Err(note_moved_aside(path, marker, err)),
        };
        migrate(&mut conn, path)?;
        let bytes = db_bytes(&conn);
        if !created && bytes < marker.last_bytes {
            tracing::warn!(path = %path.display(), bytes, last_bytes = marker.last_bytes, "store is smaller than when last seen (a lost WAL, or a file from elsewhere?)");
        }
        marker.last_bytes = bytes;
        marker.moved_aside = None;
        marker.write(path)?;
        if created {
            tracing::info!(path = %path.display(), store_id = %marker.store_id, "created a new store");
        }
        let health = Arc::new(HealthState::default());
        let mut reserve = Reserve::new(path, opts.reserve_bytes);
        if let Err(err) = reserve.acquire() {
            tracing::warn!(path = %path.display(), %err, "no room for the store's reserve; new submissions are refused until there is");
            health.set_degraded(true, false);
        } else {
            health.set_degraded(false, reserve.held());
        }
        let counters = Arc::new(Counters::default());
        let (commands, receiver) = mpsc::channel();
        let writer = Writer {
            conn,
            path: path.to_path_buf(),
            counters: counters.clone(),
            event_retention: opts.event_retention,
            lock,
            marker,
            reserve,
            health: health.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("stockade-store".to_string())
            .spawn(move || writer.run(receiver))
            .map_err(|source| StoreError::Io {
                action: "start writer thread for",
                path: path.to_path_buf(),
                source: Arc::new(source),
            })?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                commands: Some(commands),
                writer: Mutex::new(Some(handle)),
                readers: Readers::new(path.to_path_buf()),
                counters,
                health,
            }),
        })
    }

    /// Open the store at `path` for reading only, as `stockade logs`,
    /// `postmortem`, `events` and `ps -a` do while no daemon runs: no lock,
    /// no presence check or move-aside, no migration, no marker or reserve
    /// written, and a database file that is not there is not created
    /// ([`StoreError::NoStore`]). Connections are `SQLITE_OPEN_READ_ONLY`. A
    /// schema newer ([`StoreError::TooNew`]) or older
    /// ([`StoreError::TooOld`]) than this build's is refused. Every write on
    /// the handle fails with [`StoreError::Closed`]. Safe beside a running
    /// daemon too (WAL readers never block its writer).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::NoStore { path: path.to_path_buf() });
        }
        let readers = Readers::new(path.to_path_buf());
        let found: u32 = readers.with(|conn, path| {
            conn.pragma_query_value(None, "user_version", |row| row.get(0))
                .map_err(|e| StoreError::sqlite(path, e))
        })?;
        let supported = crate::SCHEMA_VERSION;
        if found > supported {
            return Err(StoreError::TooNew { path: path.to_path_buf(), found, supported });
        }
        if found < supported {
            return Err(StoreError::TooOld { path: path.to_path_buf(), found, supported });
        }
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                commands: None,
                writer: Mutex::new(None),
                readers,
                counters: Arc::new(Counters::default()),
                health: Arc::new(HealthState::default()),
            }),
        })
    }

    /// Whether the store can write right now, and why not. Cheap (one
    /// statvfs); never waits for the writer. `/health/ready` should be 503
    /// with `reason` while `ready` is false.
    pub fn health(&self) -> StoreHealth {
        let failed = self.inner.counters.failed_transactions.load(Ordering::Relaxed);
        self.inner.health.snapshot(free_bytes(&self.inner.path), failed)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Writer counters since open.
    pub fn stats(&self) -> StoreStats {
        let c = &self.inner.counters;
        StoreStats {
            transactions: c.transactions.load(Ordering::Relaxed),
            commands: c.commands.load(Ordering::Relaxed),
            failed_transactions: c.failed_transactions.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn readers(&self) -> &Readers {
        &self.inner.readers
    }

    /// Apply `writes` as one atomic unit, group-committed with whatever else
    /// is queued. Returns after COMMIT, one [`Applied`] per write in order.
    /// Never blocks the calling thread: it awaits the writer's answer.
    pub async fn apply(&self, writes: Vec<Write>) -> Result<Vec<Applied>, StoreError> {
        let answer = self.send(writes)?;
        answer.await.map_err(|_| self.closed())?
    }

    /// [`Store::apply`] for threads outside a runtime (blocks until committed).
    /// Panics if called on an async runtime thread, like every blocking call.
    /// Only with the `test-support` feature: nothing outside tests needs it.
    #[cfg(feature = "test-support")]
    pub fn apply_blocking(&self, writes: Vec<Write>) -> Result<Vec<Applied>, StoreError> {
        let answer = self.send(writes)?;
        answer.blocking_recv().map_err(|_| self.closed())?
    }

    fn send(
        &self,
        writes: Vec<Write>,
    ) -> Result<oneshot::Receiver<Result<Vec<Applied>, StoreError>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let sender = self.inner.commands.as_ref().ok_or_else(|| self.closed())?;
        sender.send(Command::Apply { writes, reply }).map_err(|_| self.closed())?;
        Ok(answer)
    }

    fn closed(&self) -> StoreError {
        StoreError::Closed { path: self.inner.path.clone() }
    }

    /// Submit one job (state `queued`, attempt 0); returns after it is committed.
    pub async fn submit_job(&self, job: NewJob) -> Result<(JobRecord, Event), StoreError> {
        let mut applied = self.apply(vec![Write::SubmitJob(job)]).await?;
        Ok(expect_job(applied.pop()))
    }

    /// Submit many jobs in one atomic unit; all or none are committed.
    pub async fn submit_jobs(
        &self,
        jobs: Vec<NewJob>,
    ) -> Result<Vec<(JobRecord, Event)>, StoreError> {
        let writes = jobs.into_iter().map(Write::SubmitJob).collect();
        let applied = self.apply(writes).await?;
        Ok(applied.into_iter().map(|a| expect_job(Some(a))).collect())
    }

    /// A fenced job transition ([`Write::JobState`]).
    pub async fn transition_job(
        &self,
        job: JobId,
        (from, attempt): (JobState, u32),
        to: JobState,
        reason: Option<String>,
    ) -> Result<(JobRecord, Event), StoreError> {
        let mut applied =
            self.apply(vec![Write::JobState { job, from, to, attempt, reason }]).await?;
        Ok(expect_job(applied.pop()))
    }

    /// Record a spawned run ([`Write::StartRun`]).
    pub async fn start_run(&self, run: NewRun) -> Result<RunId, StoreError> {
        let mut applied = self.apply(vec![Write::StartRun(run)]).await?;
        match applied.pop() {
            Some(Applied::Run(id)) => Ok(id),
            other => unreachable!("StartRun answered with {other:?}"),
        }
    }

    /// Record how a run ended ([`Write::EndRun`]); returns the `RunExited` event.
    pub async fn end_run(
        &self,
        run: RunId,
        (cause, evidence): (ExitCause, Evidence),
        ended_at: UnixMillis,
    ) -> Result<Event, StoreError> {
        let applied = self.apply(vec![Write::EndRun { run, cause, evidence, ended_at }]).await?;
        applied.first().and_then(Applied::event).cloned().ok_or_else(|| self.closed())
    }

    /// Store a post-mortem ([`Write::PostMortem`]).
    pub async fn store_postmortem(&self, postmortem: PostMortem) -> Result<(), StoreError> {
        self.apply(vec![Write::PostMortem(postmortem)]).await.map(drop)
    }

    /// Delete the post-mortems of runs that ended before `ended_before`,
    /// but never one of a job still queued or running
    /// ([`Write::PrunePostMortems`]), in one transaction. Returns how many
    /// went and the bytes of their bodies.
    pub async fn prune_postmortems(
        &self,
        ended_before: UnixMillis,
    ) -> Result<(u64, u64), StoreError> {
        let applied = self.apply(vec![Write::PrunePostMortems { ended_before }]).await?;
        match applied.first() {
            Some(Applied::Pruned { postmortems, bytes }) => Ok((*postmortems, *bytes)),
            other => unreachable!("PrunePostMortems answered with {other:?}"),
        }
    }

    /// Append an event ([`Write::Event`]); returns it with its seq.
    pub async fn append_event(&self, unit: String, kind: EventKind) -> Result<Event, StoreError> {
        let applied = self.apply(vec![Write::Event { unit, kind }]).await?;
        applied.first().and_then(Applied::event).cloned().ok_or_else(|| self.closed())
    }
}

/// Create the database file 0600 before SQLite does (SQLite would use 0644,
/// and gives the WAL and SHM the database's mode).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(private::FILE_MODE)
        .open(path)
        .map(drop)
        .map_err(|source| StoreError::Io {
            action: "create",
            path: path.to_path_buf(),
            source: Arc::new(source),
        })
}

/// After a corrupt file was moved aside, remember where in the marker, so the
/// next open refuses instead of starting empty.
fn note_moved_aside(path: &Path, mut marker: Marker, err: StoreError) -> StoreError {
    if let StoreError::Corrupt { moved_to, detail, .. } = &err {
        marker.moved_aside =
            Some(MovedAside { to: moved_to.clone(), detail: detail.clone(), at: now_millis() });
        marker.previous.push(moved_to.clone());
        if let Err(write) = marker.write(path) {
            tracing::error!(path = %path.display(), %write, "could not note the moved-aside store in the marker");
        }
    }
    err
}

/// The database's size as SQLite sees it (WAL included).
pub(crate) fn db_bytes(conn: &rusqlite::Connection) -> u64 {
    let pages: u64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap_or(0);
    let size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap_or(0);
    pages * size
}

/// The writer answers each write with its documented [`Applied`] variant by
/// construction (see `writer::apply`); anything else is a bug in this crate,
/// not bad input, hence `unreachable!`.
fn expect_job(applied: Option<Applied>) -> (JobRecord, Event) {
    match applied {
        Some(Applied::Job(job, event)) => (job, event),
        other => unreachable!("job write answered with {other:?}"),
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer's loop after it has answered
        // everything queued; joining makes the lock release observable.
        self.readers.close();
        drop(self.commands.take());
        let handle = self.writer.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "store writer thread panicked");
        }
    }
}
