//! The disk-bound stages: the store commit a death makes (FULL and NORMAL)
//! and a raw fdatasync, sampled between the deaths of the service scenario.

use std::time::{Duration, Instant};
use stockade_proto::{PostMortem, UnitKind};
use stockade_store::{NewRun, Store, StoreOptions, Synchronous, Write};

/// The disk-bound stages, sampled between the deaths of the service
/// scenario (after its agent started, before the settle), so they see the
/// disk the deaths see: on this shared machine the cost of an fsync swings
/// by 10× with what the other tenants write.
pub(crate) struct DiskProbe {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) full: Store,
    pub(crate) normal: Store,
    pub(crate) file: std::fs::File,
    pub(crate) postmortem: PostMortem,
    pub(crate) runs: u32,
    pub(crate) samples: DiskSamples,
}

/// What [`DiskProbe`] measured.
#[derive(Default)]
pub(crate) struct DiskSamples {
    pub(crate) full: Vec<Duration>,
    pub(crate) normal: Vec<Duration>,
    pub(crate) fdatasync: Vec<Duration>,
}

impl DiskProbe {
    /// Two fresh stores (FULL and NORMAL) and a scratch file under
    /// `$TMPDIR`, beside the daemon's own state directory.
    pub(crate) fn open(postmortem: PostMortem) -> DiskProbe {
        let dir = tempfile::tempdir().expect("tempdir");
        let open = |name: &str, synchronous| {
            let options = StoreOptions { synchronous, ..StoreOptions::default() };
            Store::open(&dir.path().join(name).join("stockade.db"), options).expect("open store")
        };
        for name in ["full", "normal"] {
            std::fs::create_dir(dir.path().join(name)).expect("store dir");
        }
        let (full, normal) = (open("full", Synchronous::Full), open("normal", Synchronous::Normal));
        let file = tempfile::tempfile_in(dir.path()).expect("a scratch file");
        DiskProbe {
            _dir: dir,
            full,
            normal,
            file,
            postmortem,
            runs: 0,
            samples: Default::default(),
        }
    }

    pub(crate) async fn sample(&mut self) {
        self.runs += 1;
        let full = commit(&self.full, &self.postmortem, self.runs).await;
        let normal = commit(&self.normal, &self.postmortem, self.runs).await;
        let fdatasync = self.fdatasync();
        self.samples.full.push(full);
        self.samples.normal.push(normal);
        self.samples.fdatasync.push(fdatasync);
    }

    /// One durable 4 KiB write: what a WAL commit with `synchronous=FULL`
    /// pays at least once.
    fn fdatasync(&mut self) -> Duration {
        use std::io::{Seek, Write as _};
        let block = [0x5au8; 4096];
        let t0 = Instant::now();
        let offset = u64::from(self.runs % 16) * 4096;
        self.file.seek(std::io::SeekFrom::Start(offset)).expect("seek");
        self.file.write_all(&block).expect("write");
        self.file.sync_data().expect("fdatasync");
        t0.elapsed()
    }
}

/// The commit a death makes, timed: the run's end (with its `RunExited`
/// event) and its post-mortem in one transaction, after an untimed start.
pub(crate) async fn commit(store: &Store, postmortem: &PostMortem, attempt: u32) -> Duration {
    let new = NewRun {
        unit: "victim".into(),
        kind: UnitKind::Service,
        job: None,
        replica: 0,
        attempt,
        pid: Some(4242),
        box_name: format!("victim.0.{attempt}"),
        started_at: postmortem.started_at,
        limits: postmortem.limits.clone(),
    };
    let applied = store.apply(vec![Write::StartRun(new)]).await.expect("start run");
    let run = applied.iter().find_map(|a| a.run()).expect("a run id");
    let writes = vec![
        Write::EndRun {
            run,
            cause: postmortem.cause.clone(),
            evidence: postmortem.evidence.clone(),
            ended_at: postmortem.ended_at,
        },
        Write::PostMortem(PostMortem { run, ..postmortem.clone() }),
    ];
    let t0 = Instant::now();
    store.apply(writes).await.expect("commit the end of a run");
    t0.elapsed()
}
