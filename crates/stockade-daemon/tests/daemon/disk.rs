//! A full disk under the real daemon (issue 13, item 3): the state directory
//! is a small tmpfs, filled while a job runs. `/health/ready` turns 503 with
//! the store's reason, submissions get 507, a job whose end cannot be written
//! says `end not yet recorded: …` instead of being forgotten, and once the
//! filler is removed everything recovers by itself: ready again, the end
//! recorded, submissions accepted, nothing acknowledged lost.
//!
//! Mounts (as root) a tmpfs under the test's own tempdir and unmounts it on
//! drop, also when the test fails; skipped where mounting is not allowed.

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use stockade_testkit::{TestDaemon, wait_until};

/// A tmpfs mount, lazily unmounted on drop.
pub struct Tmpfs {
    target: PathBuf,
}

impl Tmpfs {
    pub fn mount(target: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(target).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "stockade-door-test"])
            .arg(target)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs { target: target.to_path_buf() })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.target).status();
    }
}

/// Write `path` until the filesystem is full.
pub fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0x5a_u8; 64 << 10];
    while file.write_all(&chunk).is_ok() {}
    let mut byte = [0x5a_u8];
    while file.write_all(&byte).is_ok() {
        byte[0] ^= 1;
    }
    let _ = file.sync_all();
}

const SPEC: &str = r#"
[job.work]
command = ["sh", "-c", "sleep $SECS"]
submit_env = ["SECS"]
isolation = "none"
"#;

async fn job(d: &TestDaemon, id: u64) -> Value {
    d.api.get(&format!("/api/jobs/{id}")).await.json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_state_dir_is_not_ready_refuses_submissions_keeps_ends_and_recovers() {
    if !stockade_testkit::can_make_boxes() {
        eprintln!("skipped: needs root and a writable cgroup tree");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mount = match Tmpfs::mount(&dir.path().join("state"), "24m") {
        Ok(m) => m,
        Err(reason) => {
            eprintln!("skipped: cannot mount a tmpfs here: {reason}");
            return;
        }
    };
    let d = TestDaemon::start_with("disk-full", "", SPEC, dir).await;
    assert_eq!(d.api.get("/health/ready").await.status, 200);
    let submit = |secs: &str| json!({"template": "work", "env": {"SECS": secs}});
    let long = d.api.post("/api/jobs", &submit("3")).await;
    assert_eq!(long.status, 201, "{:?}", long.json);
    let long = long.json["id"].as_u64().unwrap();
    let mut acknowledged = vec![long];
    wait_until("the job runs", Duration::from_secs(10), || async {
        (job(&d, long).await["state"] == "running").then_some(())
    })
    .await;

    let filler = mount.target.join("filler");
    let f = filler.clone();
    tokio::task::spawn_blocking(move || fill(&f)).await.unwrap();
    // Submissions until the store notices: then 507 with a hint.
    let mut refused = None;
    for _ in 0..2000 {
        let reply = d.api.post("/api/jobs", &submit("0")).await;
        match reply.status.as_u16() {
            201 => acknowledged.push(reply.json["id"].as_u64().unwrap()),
            507 => {
                refused = Some(reply.json);
                break;
            }
            other => panic!("unexpected {other}: {:?}", reply.json),
        }
    }
    let refused = refused.expect("a submission on a full disk gets 507");
    assert!(refused["hint"].as_str().is_some_and(|h| !h.is_empty()), "{refused}");
    let ready = d.api.get("/health/ready").await;
    assert_eq!(ready.status, 503, "{:?}", ready.json);
    assert_eq!(ready.json["code"], "store_not_writable", "{:?}", ready.json);
    assert!(ready.json["message"].as_str().unwrap().contains("full"), "{:?}", ready.json);
    eprintln!("full: /health/ready 503 {}", ready.json["message"]);

    // Eat the reserve's space too, so the job's end cannot be written.
    let filler2 = mount.target.join("filler2");
    let f = filler2.clone();
    tokio::task::spawn_blocking(move || fill(&f)).await.unwrap();
    // The tmpfs is full to the byte and the WAL was truncated into the
    // reserve's space: the end cannot be written, and says so (a job that
    // succeeded instead fails the assertion below).
    let view = wait_until("the job's end unrecorded (or recorded)", Duration::from_secs(8), || {
        let d = &d;
        async move {
            let view = job(d, long).await;
            let unrecorded =
                view["reason"].as_str().is_some_and(|r| r.starts_with("end not yet recorded"));
            (unrecorded || view["state"] == "succeeded").then_some(view)
        }
    })
    .await;
    assert_eq!(view["reason"], "end not yet recorded: disk full", "{view}");
    eprintln!("while full: job {long} is {} with reason {}", view["state"], view["reason"]);

    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(&filler2).unwrap();
    let t = Instant::now();
    wait_until("ready again", Duration::from_secs(20), || async {
        (d.api.get("/health/ready").await.status == 200).then_some(())
    })
    .await;
    eprintln!("recovered: /health/ready 200 {:?} after space returned", t.elapsed());
    let done = wait_until("the end recorded", Duration::from_secs(20), || async {
        let view = job(&d, long).await;
        (view["state"] == "succeeded").then_some(view)
    })
    .await;
    assert!(done.get("reason").is_none_or(|r| r.is_null()), "{done}");
    let after = d.api.post("/api/jobs", &submit("0")).await;
    assert_eq!(after.status, 201, "{:?}", after.json);
    acknowledged.push(after.json["id"].as_u64().unwrap());
    for id in &acknowledged {
        let view = job(&d, *id).await;
        assert!(view["id"].as_u64() == Some(*id), "acknowledged job {id} lost: {view}");
    }
    d.stop().await.unwrap();
    drop(mount);
}
