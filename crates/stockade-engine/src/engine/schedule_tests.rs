//! Schedules driven through [`Engine::step`] on a hand-moved wall clock: no
//! store, no launcher, no loop. A "restart" is a new engine resumed from the
//! slots the store would hold.

use super::commit::{Done, Followup};
use super::{Effect, Engine, Input};
use crate::command::Command;
use crate::launcher::{Exit, RunEvent, RunEventKind};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use stockade_proto::{
    Event, EventKind, ExitCause, HostSnapshot, JobId, JobSource, JobState, RunId, ScheduleView,
    Seq, UnixMillis,
};
use stockade_spec::Spec;
use stockade_store::{Applied, JobRecord, Write};
use tokio::sync::oneshot;

const MIN: u64 = 60_000;
/// 2026-03-28 12:00:00 UTC, a multiple of 10 minutes.
const T0: UnixMillis = 1_774_699_200_000;

struct Clock(Arc<AtomicU64>);

impl Clock {
    fn set(&self, at: UnixMillis) {
        self.0.store(at, Ordering::Relaxed);
    }
}

fn engine_at(schedule: &str, at: UnixMillis) -> (Engine, Clock) {
    let toml = format!(
        "[pool.p]\nmax_concurrency = 4\n\n[job.t]\ncommand = [\"agent\"]\npool = \"p\"\n{schedule}\n"
    );
    let path = std::path::Path::new("/nonexistent/stockade.toml");
    let spec = Spec::parse(&toml, path, &|_| None).unwrap_or_else(|e| panic!("{}", e.render()));
    let now = Arc::new(AtomicU64::new(at));
    let read = now.clone();
    let engine =
        Engine::new(Arc::new(spec), "fake".into(), vec![], Arc::new(HostSnapshot::default))
            .with_clock(Arc::new(move || read.load(Ordering::Relaxed)));
    (engine, Clock(now))
}

fn record(id: u64, state: JobState, attempt: u32) -> JobRecord {
    JobRecord {
        id: JobId(id),
        template: "t".into(),
        pool: "p".into(),
        args: vec![],
        env: Default::default(),
        priority: 0,
        state,
        attempt,
        max_attempts: 1,
        submitted_at: T0,
        started_at: None,
        finished_at: None,
        cause: None,
        reason: None,
        source: JobSource::Schedule,
    }
}

fn event(id: u64, state: JobState) -> Event {
    Event {
        seq: Seq(id),
        at: 0,
        unit: "t".into(),
        kind: EventKind::JobState { job: JobId(id), state, reason: None },
    }
}

fn persisted(effects: Vec<Effect>) -> Vec<(Vec<Write>, Followup)> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Persist { writes, then } => Some((writes, then)),
            _ => None,
        })
        .collect()
}

/// What a step asked of the schedule: the slot event of each `ScheduleSlot`
/// write, and whether a job was submitted beside it.
fn slot_writes(batches: &[(Vec<Write>, Followup)]) -> Vec<(EventKind, bool)> {
    let mut out = Vec::new();
    for (writes, _) in batches {
        let submits = writes
            .iter()
            .any(|w| matches!(w, Write::SubmitJob(j) if j.source == JobSource::Schedule));
        for w in writes {
            if let Write::ScheduleSlot { template, kind, .. } = w {
                assert_eq!(template, "t");
                out.push((kind.clone(), submits));
            }
        }
    }
    out
}

fn fired(slot: UnixMillis, missed: u64) -> (EventKind, bool) {
    (EventKind::ScheduleFired { slot, missed }, true)
}

fn tick(engine: &mut Engine) -> Vec<(Vec<Write>, Followup)> {
    persisted(engine.step(Input::Tick))
}

/// Commit a scheduled submission as job `id`; returns the step's batches
/// (the admission that follows).
fn commit_submission(
    engine: &mut Engine,
    batches: Vec<(Vec<Write>, Followup)>,
    id: u64,
) -> Vec<(Vec<Write>, Followup)> {
    let (writes, then) = batches
        .into_iter()
        .find(|(w, _)| matches!(w[0], Write::SubmitJob(_)))
        .expect("a submission");
    let Write::SubmitJob(job) = &writes[0] else { unreachable!() };
    assert_eq!((job.source, job.template.as_str()), (JobSource::Schedule, "t"));
    assert!(matches!(then, Followup::ScheduleSubmitted { .. }), "{then:?}");
    let applied = vec![
        Applied::Job(record(id, JobState::Queued, 0), event(id, JobState::Queued)),
        Applied::Event(Event {
            seq: Seq(0),
            at: 0,
            unit: "t".into(),
            kind: EventKind::Daemon { message: "slot".into() },
        }),
    ];
    persisted(engine.step(Input::Committed(Done { followup: then, result: Ok(applied) })))
}

/// Run the admitted job `id` to success, so it leaves the engine.
fn run_to_success(engine: &mut Engine, admitted: Vec<(Vec<Write>, Followup)>, id: u64) {
    let (_, then) = admitted
        .into_iter()
        .find(|(_, t)| matches!(t, Followup::LaunchJob { job, .. } if *job == JobId(id)))
        .expect("admitted");
    let run = RunId(100 + id);
    let applied = vec![
        Applied::Job(record(id, JobState::Running, 1), event(id, JobState::Running)),
        Applied::Run(run),
    ];
    engine.step(Input::Committed(Done { followup: then, result: Ok(applied) }));
    engine.step(Input::Run(RunEvent { run, kind: RunEventKind::Started { pid: 42 } }));
    let exit = Exit::without_box(ExitCause::Exited { code: 0 }, "test");
    let ended = persisted(
        engine.step(Input::Run(RunEvent { run, kind: RunEventKind::Exited(Box::new(exit)) })),
    );
    let (_, then) = ended.into_iter().next().expect("the end is journaled");
    let done =
        vec![Applied::Job(record(id, JobState::Succeeded, 1), event(id, JobState::Succeeded))];
    engine.step(Input::Committed(Done { followup: then, result: Ok(done) }));
}

fn view(engine: &mut Engine) -> ScheduleView {
    let (reply, mut answer) = oneshot::channel();
    engine.step(Input::Command(Command::Schedules(reply)));
    answer.try_recv().unwrap().unwrap().remove(0)
}

#[tokio::test(start_paused = true)]
async fn every_fires_on_its_grid_as_an_ordinary_job() {
    let (mut engine, clock) = engine_at("every = \"10m\"\nargs = [\"--sweep\"]", T0 + 3 * MIN);
    assert!(tick(&mut engine).is_empty(), "not due yet");
    assert_eq!(view(&mut engine).next_at, Some(T0 + 10 * MIN));
    clock.set(T0 + 10 * MIN + 5);
    let batches = tick(&mut engine);
    assert_eq!(slot_writes(&batches), vec![fired(T0 + 10 * MIN, 0)]);
    let Write::SubmitJob(job) = &batches[0].0[0] else { panic!() };
    assert_eq!((job.args.clone(), job.pool.as_str()), (vec!["--sweep".to_owned()], "p"));
    assert_eq!(job.idempotency_key.as_deref(), Some(&*format!("schedule:t:{}", T0 + 10 * MIN)));
    assert!(tick(&mut engine).is_empty(), "a slot fires once");
    let admitted = commit_submission(&mut engine, batches, 1);
    assert!(
        admitted.iter().any(|(_, t)| matches!(t, Followup::LaunchJob { .. })),
        "admitted like any job"
    );
    let v = view(&mut engine);
    assert_eq!(
        (v.next_at, v.last_at, v.live.clone()),
        (Some(T0 + 20 * MIN), Some(T0 + 10 * MIN), vec![JobId(1)])
    );
    run_to_success(&mut engine, admitted, 1);
    clock.set(T0 + 20 * MIN);
    assert_eq!(slot_writes(&tick(&mut engine)), vec![fired(T0 + 20 * MIN, 0)]);
}

#[tokio::test(start_paused = true)]
async fn cron_in_berlin_fires_once_across_the_spring_forward() {
    // 2026-03-29 has no 02:30 in Berlin: the slot is 03:00 CEST = 01:00 UTC.
    let (mut engine, clock) = engine_at("cron = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"", T0);
    let spring = T0 + 13 * 60 * MIN; // 2026-03-29 01:00 UTC
    assert_eq!(view(&mut engine).next_at, Some(spring));
    clock.set(spring - 1);
    assert!(tick(&mut engine).is_empty());
    clock.set(spring);
    let batches = tick(&mut engine);
    assert_eq!(slot_writes(&batches), vec![fired(spring, 0)]);
    // The next day 02:30 CEST is 00:30 UTC: 23.5 h later, not 24.
    assert_eq!(view(&mut engine).next_at, Some(spring + 23 * 60 * MIN + 30 * MIN));
}

#[tokio::test(start_paused = true)]
async fn overlap_skip_drops_a_slot_while_a_run_is_live() {
    let (mut engine, clock) = engine_at("every = \"1m\"", T0);
    clock.set(T0 + MIN);
    let batches = tick(&mut engine);
    let admitted = commit_submission(&mut engine, batches, 1);
    clock.set(T0 + 2 * MIN);
    let skipped = slot_writes(&tick(&mut engine));
    let [(EventKind::ScheduleSkipped { slot, reason }, false)] = &skipped[..] else {
        panic!("{skipped:?}")
    };
    assert_eq!(*slot, T0 + 2 * MIN);
    assert!(reason.contains("job 1") && reason.contains("overlap = \"skip\""), "{reason}");
    run_to_success(&mut engine, admitted, 1);
    clock.set(T0 + 3 * MIN);
    assert_eq!(slot_writes(&tick(&mut engine)), vec![fired(T0 + 3 * MIN, 0)]);
}

#[tokio::test(start_paused = true)]
async fn overlap_skip_counts_a_submission_not_yet_committed() {
    let (mut engine, clock) = engine_at("every = \"1m\"", T0);
    clock.set(T0 + MIN);
    assert_eq!(slot_writes(&tick(&mut engine)), vec![fired(T0 + MIN, 0)]);
    clock.set(T0 + 2 * MIN);
    let skipped = slot_writes(&tick(&mut engine));
    assert!(matches!(&skipped[..], [(EventKind::ScheduleSkipped { .. }, false)]), "{skipped:?}");
}

#[tokio::test(start_paused = true)]
async fn overlap_queue_holds_one_slot_until_the_live_run_ends() {
    let (mut engine, clock) = engine_at("every = \"1m\"\noverlap = \"queue\"", T0);
    clock.set(T0 + MIN);
    let batches = tick(&mut engine);
    let admitted = commit_submission(&mut engine, batches, 1);
    clock.set(T0 + 2 * MIN);
    assert!(tick(&mut engine).is_empty(), "held, nothing written");
    clock.set(T0 + 3 * MIN);
    assert!(tick(&mut engine).is_empty(), "still one pending");
    assert_eq!(view(&mut engine).pending, Some(T0 + 3 * MIN));
    run_to_success(&mut engine, admitted, 1);
    // The end's commit step released it: the newest slot, standing for the one before.
    let v = view(&mut engine);
    assert_eq!((v.pending, v.last_at), (None, Some(T0 + 3 * MIN)));
}

#[tokio::test(start_paused = true)]
async fn overlap_queue_submits_the_pending_slot_in_the_step_the_run_ends() {
    let (mut engine, clock) = engine_at("every = \"1m\"\noverlap = \"queue\"", T0);
    clock.set(T0 + MIN);
    let batches = tick(&mut engine);
    let admitted = commit_submission(&mut engine, batches, 1);
    clock.set(T0 + 2 * MIN);
    tick(&mut engine);
    let (_, then) =
        admitted.into_iter().find(|(_, t)| matches!(t, Followup::LaunchJob { .. })).unwrap();
    let run = RunId(9);
    let applied = vec![
        Applied::Job(record(1, JobState::Running, 1), event(1, JobState::Running)),
        Applied::Run(run),
    ];
    engine.step(Input::Committed(Done { followup: then, result: Ok(applied) }));
    let exit = Exit::without_box(ExitCause::Exited { code: 0 }, "test");
    let ended = persisted(
        engine.step(Input::Run(RunEvent { run, kind: RunEventKind::Exited(Box::new(exit)) })),
    );
    let (_, then) = ended.into_iter().next().unwrap();
    let done = vec![Applied::Job(record(1, JobState::Succeeded, 1), event(1, JobState::Succeeded))];
    let after = persisted(engine.step(Input::Committed(Done { followup: then, result: Ok(done) })));
    assert_eq!(slot_writes(&after), vec![fired(T0 + 2 * MIN, 0)]);
}

#[tokio::test(start_paused = true)]
async fn overlap_allow_submits_beside_a_live_run() {
    let (mut engine, clock) = engine_at("every = \"1m\"\noverlap = \"allow\"", T0);
    clock.set(T0 + MIN);
    let batches = tick(&mut engine);
    commit_submission(&mut engine, batches, 1);
    clock.set(T0 + 2 * MIN);
    assert_eq!(slot_writes(&tick(&mut engine)), vec![fired(T0 + 2 * MIN, 0)]);
}

/// A daemon that recorded `last` and comes back at `now`.
fn restarted(schedule: &str, last: UnixMillis, now: UnixMillis) -> (Engine, Clock) {
    let (mut engine, clock) = engine_at(schedule, now);
    engine.resume_schedules(&BTreeMap::from([("t".to_owned(), last)]), &[]);
    (engine, clock)
}

#[tokio::test(start_paused = true)]
async fn catch_up_none_after_an_hour_down_skips_the_missed_slots_once() {
    let (mut engine, clock) = restarted("every = \"10m\"", T0, T0 + 60 * MIN + 7);
    let skipped = slot_writes(&tick(&mut engine));
    let [(EventKind::ScheduleSkipped { slot, reason }, false)] = &skipped[..] else {
        panic!("{skipped:?}")
    };
    assert_eq!(*slot, T0 + 60 * MIN, "recorded as the newest missed slot");
    assert_eq!(reason, "6 slots missed while the daemon was down (catch_up = \"none\")");
    assert!(tick(&mut engine).is_empty(), "said once");
    assert_eq!(view(&mut engine).next_at, Some(T0 + 70 * MIN));
    clock.set(T0 + 70 * MIN);
    assert_eq!(slot_writes(&tick(&mut engine)), vec![fired(T0 + 70 * MIN, 0)]);
}

#[tokio::test(start_paused = true)]
async fn catch_up_one_after_an_hour_down_runs_once_at_start() {
    let (mut engine, _clock) =
        restarted("every = \"10m\"\ncatch_up = \"one\"", T0, T0 + 60 * MIN + 7);
    assert_eq!(slot_writes(&tick(&mut engine)), vec![fired(T0 + 60 * MIN, 6)]);
    assert!(tick(&mut engine).is_empty(), "one run, not six");
    assert_eq!(view(&mut engine).next_at, Some(T0 + 70 * MIN));
}

#[tokio::test(start_paused = true)]
async fn a_restart_never_fires_the_recorded_slot_again() {
    let (mut engine, clock) = engine_at("every = \"1m\"\ncatch_up = \"one\"", T0);
    clock.set(T0 + MIN);
    assert_eq!(slot_writes(&tick(&mut engine)), vec![fired(T0 + MIN, 0)]);
    // The daemon restarts 500 ms later with that slot committed.
    let (mut engine, clock) =
        restarted("every = \"1m\"\ncatch_up = \"one\"", T0 + MIN, T0 + MIN + 500);
    assert!(tick(&mut engine).is_empty(), "the recorded slot is not fired twice");
    clock.set(T0 + 2 * MIN);
    assert_eq!(slot_writes(&tick(&mut engine)), vec![fired(T0 + 2 * MIN, 0)]);
}

#[tokio::test(start_paused = true)]
async fn a_draining_engine_fires_nothing() {
    let (mut engine, clock) = engine_at("every = \"1m\"", T0);
    let (reply, _drained) = oneshot::channel();
    engine.step(Input::Command(Command::Drain(reply)));
    clock.set(T0 + 5 * MIN);
    assert!(tick(&mut engine).is_empty());
    assert!(engine.next_deadline().is_none(), "no wake-ups for slots that cannot fire");
}

fn spec_with(schedule: &str) -> Arc<Spec> {
    let toml = format!(
        "[pool.p]\nmax_concurrency = 4\n\n[job.t]\ncommand = [\"agent\"]\npool = \"p\"\n{schedule}\n"
    );
    let path = std::path::Path::new("/nonexistent/stockade.toml");
    Arc::new(Spec::parse(&toml, path, &|_| None).unwrap_or_else(|e| panic!("{}", e.render())))
}

fn reload(engine: &mut Engine, spec: Arc<Spec>) {
    let (reply, mut answer) = oneshot::channel();
    engine.step(Input::Command(Command::Reload { spec, dry_run: false, reply }));
    let plan = answer.try_recv().expect("answered at once").expect("a plan");
    assert!(plan.applied, "{plan:?}");
}

#[tokio::test(start_paused = true)]
async fn a_reload_changes_the_schedule_keeping_its_last_slot_and_firing_nothing_missed() {
    let (mut engine, clock) = engine_at("every = \"10m\"", T0 + 3 * MIN);
    clock.set(T0 + 10 * MIN);
    let batches = tick(&mut engine);
    assert_eq!(slot_writes(&batches), vec![fired(T0 + 10 * MIN, 0)]);
    let admitted = commit_submission(&mut engine, batches, 1);
    run_to_success(&mut engine, admitted, 1);

    // Every 10m becomes every 1h at 12:14: the next slot is 13:00, the last stays 12:10.
    clock.set(T0 + 14 * MIN);
    reload(&mut engine, spec_with("every = \"1h\""));
    let v = view(&mut engine);
    assert_eq!(
        (v.rule.as_str(), v.next_at, v.last_at),
        ("every 1h", Some(T0 + 60 * MIN), Some(T0 + 10 * MIN))
    );
    clock.set(T0 + 20 * MIN);
    assert!(slot_writes(&tick(&mut engine)).is_empty(), "the old 12:20 slot is gone");

    // Unscheduled, then scheduled again: no schedule, then one from now.
    reload(&mut engine, spec_with(""));
    let (reply, mut answer) = oneshot::channel();
    engine.step(Input::Command(Command::Schedules(reply)));
    assert!(answer.try_recv().unwrap().unwrap().is_empty());
    reload(&mut engine, spec_with("every = \"10m\""));
    assert_eq!(view(&mut engine).next_at, Some(T0 + 30 * MIN));
}
