//! The cluster's statements against a real, private PostgreSQL.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{TempPostgres, eventually, options};
use stockade_cluster::{
    Beat, Budget, ClusterError, Completion, End, JobFilter, Member, NewJob, Wake,
};
use stockade_proto::{ExitCause, Headroom, JobSource, JobState};

const GIB: u64 = 1 << 30;

fn job(template: &str, pool: &str, memory: u64) -> NewJob {
    NewJob {
        template: template.to_owned(),
        pool: pool.to_owned(),
        args: vec!["a b".to_owned()],
        env: BTreeMap::from([("K".to_owned(), "v".to_owned())]),
        priority: 0,
        max_attempts: 1,
        memory,
        tasks: 10,
        idempotency_key: None,
        source: JobSource::Api,
        queue_timeout: None,
        max_queued: None,
    }
}

fn budget(pool: &str, slots: u64, memory: u64) -> Budget {
    Budget { pools: BTreeMap::from([(pool.to_owned(), slots)]), memory, tasks: 10_000, max: 1000 }
}

fn succeeded() -> End {
    End {
        state: JobState::Succeeded,
        cause: Some(ExitCause::Exited { code: 0 }),
        reason: None,
        local_id: Some(7),
    }
}

macro_rules! pg {
    () => {
        match TempPostgres::start() {
            Some(pg) => pg,
            None => return,
        }
    };
}

#[tokio::test]
async fn every_start_takes_a_new_epoch_and_a_name_is_held_by_one_live_member() {
    let pg = pg!();
    let a = pg.member_as("h1", "state-dir-A").await;
    assert_eq!(a.epoch(), 1);
    // Another state dir under the same name, while h1's lease runs: refused.
    let err = Member::join(options(pg.config(), "h1", "state-dir-B")).await.unwrap_err();
    assert!(
        matches!(err, ClusterError::NameTaken { ref instance, .. } if instance == "state-dir-A"),
        "{err}"
    );
    assert!(err.to_string().contains("give this host its own `[cluster] host` name"), "{err}");
    // The same daemon restarted (same instance) takes it back with epoch 2,
    // and the old epoch is fenced at once.
    let again = pg.member_as("h1", "state-dir-A").await;
    assert_eq!(again.epoch(), 2);
    assert_eq!(a.heartbeat(&Headroom::default(), false).await.unwrap(), Beat::Fenced);
    assert_eq!(
        again.heartbeat(&Headroom::default(), false).await.unwrap(),
        Beat::Renewed { held: vec![] }
    );
    // After it leaves, another instance may use the name.
    again.leave().await.unwrap();
    let other = pg.member_as("h1", "state-dir-B").await;
    assert_eq!(other.epoch(), 3);
}

#[tokio::test]
async fn a_host_claims_only_what_fits_its_room_and_a_job_that_fits_nowhere_says_why() {
    let pg = pg!();
    let h1 = pg.member("h1").await;
    let h2 = pg.member("h2").await;
    let mut jobs: Vec<NewJob> = (0..5).map(|_| job("small", "default", GIB)).collect();
    jobs.push(job("big", "default", 6 * GIB));
    let submitted = h1.submit(&jobs).await.unwrap();
    assert!(submitted.iter().all(|(_, new)| *new));

    // h1 has 3 GiB free and 10 slots: three small jobs, never the big one.
    let got = h1.claim(&budget("default", 10, 3 * GIB)).await.unwrap();
    assert_eq!(got.iter().map(|c| c.job.template.as_str()).collect::<Vec<_>>(), ["small"; 3]);
    // h2 has 8 GiB but 1 slot: the oldest waiting job first (FIFO), the small one.
    let got2 = h2.claim(&budget("default", 1, 8 * GIB)).await.unwrap();
    assert_eq!(got2.len(), 1);
    assert_eq!(got2[0].job.template, "small");
    assert!(got2[0].job.id > got.iter().map(|c| c.job.id).max().unwrap());

    // Published room: nobody has 6 GiB free.
    let room = |memory| Headroom {
        memory,
        tasks: 1000,
        pools: BTreeMap::from([("default".to_owned(), 4)]),
    };
    h1.heartbeat(&room(2 * GIB), false).await.unwrap();
    h2.heartbeat(&room(3 * GIB + GIB / 10), false).await.unwrap();
    let view = h1.view(None).await.unwrap();
    let big = h1
        .jobs(&JobFilter { template: Some("big".into()), limit: 10, ..JobFilter::default() })
        .await
        .unwrap()
        .0;
    let why = Member::why_waiting(&big[0], &view.hosts).unwrap();
    assert_eq!(why, "no host has 6.0 GiB free; largest free 3.1 GiB on h2");
    // A host with room takes it.
    let got3 = h2.claim(&budget("default", 4, 7 * GIB)).await.unwrap();
    assert!(got3.iter().any(|c| c.job.template == "big"), "{got3:?}");
}

#[tokio::test]
async fn priority_orders_claims_across_hosts() {
    let pg = pg!();
    let h1 = pg.member("h1").await;
    let h2 = pg.member("h2").await;
    let mut low = job("low", "p", 1);
    low.priority = -5;
    let mut high = job("high", "p", 1);
    high.priority = 10;
    h1.submit(&[low, job("mid", "p", 1), high]).await.unwrap();
    let first = h2.claim(&budget("p", 1, GIB)).await.unwrap();
    let second = h1.claim(&budget("p", 1, GIB)).await.unwrap();
    let third = h2.claim(&budget("p", 1, GIB)).await.unwrap();
    let order: Vec<&str> =
        [&first, &second, &third].iter().map(|c| c[0].job.template.as_str()).collect();
    assert_eq!(order, ["high", "mid", "low"]);
}

#[tokio::test]
async fn three_hosts_claiming_at_once_take_each_job_exactly_once() {
    let pg = pg!();
    let hosts = [pg.member("h1").await, pg.member("h2").await, pg.member("h3").await];
    let jobs: Vec<NewJob> = (0..300).map(|_| job("t", "default", 1)).collect();
    hosts[0].submit(&jobs).await.unwrap();
    let mut tasks = Vec::new();
    for h in hosts {
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = h.claim(&budget("default", 7, GIB)).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                for c in got {
                    assert_eq!(
                        h.complete(&c.fence, &succeeded()).await.unwrap(),
                        Completion::Accepted
                    );
                    mine.push((c.job.id, h.host().to_owned()));
                }
            }
        }));
    }
    let mut seen = BTreeMap::new();
    let mut per_host: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        for (id, host) in t.await.unwrap() {
            assert!(seen.insert(id, host.clone()).is_none(), "job {id} claimed twice");
            *per_host.entry(host).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 300);
    assert_eq!(
        pg.psql("SELECT count(*) FROM stockade_job WHERE state = 'succeeded' AND attempt = 1"),
        "300"
    );
    eprintln!("per host: {per_host:?}");
}

#[tokio::test]
async fn a_lost_hosts_jobs_are_rescued_and_its_late_completion_is_refused() {
    let pg = pg!();
    let h1 = pg.member("h1").await;
    let h2 = pg.member("h2").await;
    h1.submit(&[job("t", "default", 1)]).await.unwrap();
    let claimed = h1.claim(&budget("default", 1, GIB)).await.unwrap().remove(0);
    assert_eq!(
        h1.heartbeat(&Headroom::default(), false).await.unwrap(),
        Beat::Renewed {
            held: vec![stockade_cluster::Held { fence: claimed.fence.clone(), cancel: false }]
        }
    );

    // h1 stops renewing (cut off); h2 leads and keeps renewing.
    assert!(h2.lead().await.unwrap());
    assert!(!h1.lead().await.unwrap(), "one leader at a time");
    let rescued = eventually(10, || async {
        h2.heartbeat(&Headroom::default(), false).await.unwrap();
        !h2.rescue().await.unwrap().requeued.is_empty()
    })
    .await;
    assert!(rescued, "h1's job was not rescued");
    let job = h2.job(claimed.job.id).await.unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!((job.attempt, job.rescues), (1, 1));
    assert!(
        job.reason.as_deref().unwrap().contains("host h1 (epoch 1) stopped renewing"),
        "{:?}",
        job.reason
    );
    let view = h2.view(None).await.unwrap();
    assert_eq!(
        view.hosts.iter().find(|h| h.name == "h1").unwrap().state,
        stockade_proto::HostState::Lost
    );

    // h2 runs it again; h1's late word is refused, and so is its heartbeat.
    let again = h2.claim(&budget("default", 1, GIB)).await.unwrap().remove(0);
    assert_eq!(again.fence.attempt, 2);
    assert_eq!(h1.complete(&claimed.fence, &succeeded()).await.unwrap(), Completion::Fenced);
    assert_eq!(h1.heartbeat(&Headroom::default(), false).await.unwrap(), Beat::Fenced);
    assert!(
        h1.claim(&budget("default", 1, GIB)).await.unwrap().is_empty(),
        "a lost epoch claims nothing"
    );
    assert_eq!(h2.complete(&again.fence, &succeeded()).await.unwrap(), Completion::Accepted);
    let done = h2.job(claimed.job.id).await.unwrap();
    assert_eq!((done.state, done.host.as_deref()), (JobState::Succeeded, Some("h2")));
    // A second completion of the same claim changes nothing.
    assert_eq!(h2.complete(&again.fence, &succeeded()).await.unwrap(), Completion::Fenced);
}

#[tokio::test]
async fn a_restart_within_the_lease_keeps_its_jobs_under_the_new_epoch() {
    let pg = pg!();
    let h1 = pg.member_as("h1", "dir").await;
    h1.submit(&[job("t", "default", 1), job("t", "default", 1)]).await.unwrap();
    let claimed = h1.claim(&budget("default", 2, GIB)).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let (h1b, joined) = Member::join(options(pg.config(), "h1", "dir")).await.unwrap();
    assert_eq!(h1b.epoch(), 2);
    let kept: BTreeSet<u64> = joined.kept.iter().map(|f| f.job).collect();
    assert_eq!(kept, claimed.iter().map(|c| c.job.id).collect());
    // The old life's fences are refused, the new ones taken.
    assert_eq!(h1.complete(&claimed[0].fence, &succeeded()).await.unwrap(), Completion::Fenced);
    assert_eq!(h1b.complete(&joined.kept[0], &succeeded()).await.unwrap(), Completion::Accepted);
    // Given back: queued again at once, its run not counted as a rescue.
    assert_eq!(
        h1b.give_back(&joined.kept[1], "host stopping").await.unwrap(),
        Completion::Accepted
    );
    let back = h1b.job(joined.kept[1].job).await.unwrap();
    assert_eq!(
        (back.state, back.rescues, back.reason.as_deref()),
        (JobState::Queued, 0, Some("host stopping"))
    );
}

#[tokio::test]
async fn idempotency_max_queued_cancel_and_expiry_are_cluster_wide() {
    let pg = pg!();
    let h1 = pg.member("h1").await;
    let h2 = pg.member("h2").await;
    let mut keyed = job("t", "p", 1);
    keyed.idempotency_key = Some("k1".into());
    let (first, new) = h1.submit(std::slice::from_ref(&keyed)).await.unwrap().remove(0);
    assert!(new);
    let (again, new) = h2.submit(std::slice::from_ref(&keyed)).await.unwrap().remove(0);
    assert!(!new);
    assert_eq!(again.id, first.id);
    // A batch answers in its own order, a taken key with the earlier job.
    let batch = h2.submit(&[job("a", "p", 1), keyed.clone(), job("b", "p", 1)]).await.unwrap();
    let answers: Vec<(&str, bool)> =
        batch.iter().map(|(j, new)| (j.template.as_str(), *new)).collect();
    assert_eq!(answers, [("a", true), ("t", false), ("b", true)]);
    assert_eq!(batch[1].0.id, first.id);
    assert!(batch[0].0.id < batch[2].0.id);

    let mut capped = job("t", "p", 1);
    capped.max_queued = Some(4);
    h1.submit(std::slice::from_ref(&capped)).await.unwrap();
    let err = h2.submit(&[capped.clone()]).await.unwrap_err();
    assert!(matches!(err, ClusterError::QueueFull { queued: 4, .. }), "{err}");

    // Cancel: waiting ends at once; running is marked for its holder.
    let cancelled = h2.cancel(first.id).await.unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert!(matches!(h2.cancel(first.id).await.unwrap_err(), ClusterError::AlreadyFinished { .. }));
    assert!(matches!(h2.cancel(999_999).await.unwrap_err(), ClusterError::UnknownJob(999_999)));
    let running = h1.claim(&budget("p", 1, GIB)).await.unwrap().remove(0);
    let marked = h2.cancel(running.job.id).await.unwrap();
    assert_eq!((marked.state, marked.cancel_requested), (JobState::Running, true));
    let Beat::Renewed { held } = h1.heartbeat(&Headroom::default(), false).await.unwrap() else {
        panic!("fenced")
    };
    assert!(held.iter().any(|h| h.fence == running.fence && h.cancel));

    let mut brief = job("brief", "p", 1);
    brief.queue_timeout = Some(Duration::from_millis(200));
    let (brief, _) = h1.submit(&[brief]).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        h1.claim(&budget("p", 10, GIB)).await.unwrap().iter().all(|c| c.job.id != brief.id),
        "expired job claimed"
    );
    assert_eq!(h2.expire().await.unwrap(), vec![brief.id]);
    assert_eq!(h2.job(brief.id).await.unwrap().state, JobState::Expired);
}

#[tokio::test]
async fn a_schedule_fires_once_per_slot_however_many_leaders_race() {
    let pg = pg!();
    let h1 = pg.member("h1").await;
    let h2 = pg.member("h2").await;
    let slot = 1_780_000_000_000;
    let cleanup = job("cleanup", "p", 1);
    let (a, b) = tokio::join!(h1.fire_schedule(slot, &cleanup), h2.fire_schedule(slot, &cleanup));
    let fired: Vec<u64> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(
        h1.fire_schedule(slot - 1000, &job("cleanup", "p", 1)).await.unwrap(),
        None,
        "an older slot"
    );
    assert!(h2.fire_schedule(slot + 600_000, &job("cleanup", "p", 1)).await.unwrap().is_some());
    assert_eq!(h1.last_slot("cleanup").await.unwrap(), Some(slot + 600_000));
    assert_eq!(pg.psql("SELECT count(*) FROM stockade_job WHERE source = 'schedule'"), "2");
}

#[tokio::test]
async fn a_schema_from_a_newer_stockade_is_refused_and_an_unreachable_database_is_typed() {
    let pg = pg!();
    pg.member("h1").await;
    pg.psql("INSERT INTO stockade_schema_version VALUES (99)");
    let err = Member::join(options(pg.config(), "h2", "i2")).await.unwrap_err();
    assert!(matches!(err, ClusterError::SchemaTooNew { found: 99, .. }), "{err}");

    let mut gone = pg.config();
    gone.database = "postgres://postgres:secret@127.0.0.1:1/stockade".into();
    let err = Member::join(options(gone, "h3", "i3")).await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(!err.to_string().contains("secret"), "password shown: {err}");
}

#[tokio::test]
async fn wake_ups_come_per_pool_and_a_lost_listen_connection_says_reconnected() {
    let pg = pg!();
    let h1 = pg.member("h1").await;
    let mut wakes = stockade_cluster::listen(&pg.config());
    // LISTEN takes a moment to be in place: submit until a wake-up is heard
    // (a wake-up is a hint; a missed one costs a poll, never a job).
    let mut got = None;
    for _ in 0..40 {
        h1.submit(&[job("t", "gpu", 1)]).await.unwrap();
        if let Ok(wake) = tokio::time::timeout(Duration::from_millis(500), wakes.recv()).await {
            got = wake;
            break;
        }
    }
    assert_eq!(got, Some(Wake::Insert("gpu".into())));

    pg.stop_server("fast");
    pg.start_server();
    let reconnected = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if wakes.recv().await? == Wake::Reconnected {
                return Some(());
            }
        }
    })
    .await;
    assert_eq!(reconnected, Ok(Some(())));
    // The pool's connections recover too.
    assert!(
        eventually(20, || async { h1.heartbeat(&Headroom::default(), false).await.is_ok() }).await
    );
}
