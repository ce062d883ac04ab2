//! Building blocks shared by the tests: a store in a fresh tempdir, sample values.

use std::collections::BTreeMap;
use std::path::PathBuf;
use stockade_proto::{Limits, UnitKind};
use stockade_store::{NewJob, NewRun, Store, StoreOptions};

/// A store file in its own tempdir (removed on drop, after the store).
pub struct Scratch {
    /// Keeps the directory alive as long as the paths are used.
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sqlite3");
        Scratch { _dir: dir, path }
    }

    pub fn open(&self) -> Store {
        Store::open(&self.path, StoreOptions::default()).expect("open store")
    }
}

pub fn new_job(template: &str, priority: i32) -> NewJob {
    NewJob {
        template: template.to_string(),
        pool: "default".to_string(),
        args: vec!["--task".to_string(), "x y".to_string()],
        env: BTreeMap::from([("MODE".to_string(), "fast".to_string())]),
        priority,
        max_attempts: 3,
        submitted_at: 1_700_000_000_000,
        idempotency_key: None,
        source: stockade_proto::JobSource::Api,
    }
}

pub fn new_run(unit: &str, job: Option<stockade_proto::JobId>, attempt: u32) -> NewRun {
    NewRun {
        unit: unit.to_string(),
        kind: if job.is_some() { UnitKind::Job } else { UnitKind::Service },
        job,
        replica: 0,
        attempt,
        pid: Some(4242),
        box_name: format!("stockade/{unit}/{attempt}"),
        started_at: 1_700_000_000_100,
        limits: Limits { memory: Some(512 << 20), pids: Some(100), ..Limits::default() },
    }
}
