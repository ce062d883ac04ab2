//! [`Engine::step`] driven directly: no store, no launcher, no loop. Each
//! test feeds inputs (commands, commit results, run events) on paused time
//! and checks the effects the engine asks for.

use super::commit::{Done, Followup};
use super::{Effect, Engine, Input};
use crate::command::Command;
use crate::launcher::{Exit, RunEvent, RunEventKind};
use std::sync::Arc;
use stockade_proto::{
    Event, EventKind, ExitCause, HostSnapshot, JobId, JobRequest, JobState, RunId, Seq,
};
use stockade_spec::Spec;
use stockade_store::{Applied, JobFilter, JobRecord, Write};
use tokio::sync::oneshot;

const SPEC: &str = r#"
[pool.p]
max_concurrency = 1

[job.t]
command = ["agent"]
pool = "p"
"#;

fn engine() -> Engine {
    let path = std::path::Path::new("/nonexistent/stockade.toml");
    let spec = Spec::parse(SPEC, path, &|_| None).unwrap_or_else(|e| panic!("{}", e.render()));
    Engine::new(Arc::new(spec), "fake".into(), vec![], Arc::new(HostSnapshot::default))
}

fn record(id: u64, state: JobState, attempt: u32) -> JobRecord {
    JobRecord {
        id: JobId(id),
        template: "t".into(),
        pool: "p".into(),
        args: vec!["--task".into()],
        env: Default::default(),
        priority: 0,
        state,
        attempt,
        max_attempts: 1,
        submitted_at: 1,
        started_at: (attempt > 0).then_some(2),
        finished_at: None,
        cause: None,
        reason: None,
        source: stockade_proto::JobSource::Api,
    }
}

fn job_event(id: u64, state: JobState) -> Event {
    let kind = EventKind::JobState { job: JobId(id), state, reason: None };
    Event { seq: Seq(id), at: 0, unit: "t".into(), kind }
}

/// The one `Persist` among `effects`: its writes and follow-up.
fn persisted(effects: Vec<Effect>) -> Vec<(Vec<Write>, Followup)> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Persist { writes, then } => Some((writes, then)),
            _ => None,
        })
        .collect()
}

fn committed(then: Followup, applied: Vec<Applied>) -> Input {
    Input::Committed(Done { followup: then, result: Ok(applied) })
}

/// Submit one job and commit it; returns the effects of the commit.
fn submitted(engine: &mut Engine, id: u64) -> Vec<Effect> {
    let (reply, mut answer) = oneshot::channel();
    let request = JobRequest { template: "t".into(), ..JobRequest::default() };
    let mut asked =
        persisted(engine.step(Input::Command(Command::Submit { requests: vec![request], reply })));
    assert_eq!(asked.len(), 1);
    let (writes, then) = asked.remove(0);
    assert!(matches!(writes[..], [Write::SubmitJob(_)]));
    assert!(answer.try_recv().is_err(), "not answered before it is committed");
    let applied =
        vec![Applied::Job(record(id, JobState::Queued, 0), job_event(id, JobState::Queued))];
    let effects = engine.step(committed(then, applied));
    let answers = answer.try_recv().expect("answered").expect("accepted");
    assert_eq!(answers[0].id, JobId(id));
    effects
}

#[tokio::test(start_paused = true)]
async fn a_job_from_submission_to_success_is_a_sequence_of_effects() {
    let mut engine = engine();
    let effects = submitted(&mut engine, 1);
    assert!(effects.iter().any(|e| matches!(e, Effect::Publish(_))), "the commit's event goes out");
    // Admitted at once: journal `running` and the run, not yet launch.
    let mut start = persisted(effects);
    let (writes, then) = start.remove(0);
    assert!(matches!(
        writes[..],
        [Write::JobState { from: JobState::Queued, to: JobState::Running, .. }, Write::StartRun(_)]
    ));
    assert!(matches!(then, Followup::LaunchJob { job: JobId(1), .. }));
    let run = RunId(7);
    let running = record(1, JobState::Running, 1);
    let effects = engine.step(committed(
        then,
        vec![Applied::Job(running, job_event(1, JobState::Running)), Applied::Run(run)],
    ));
    let launch = effects.iter().find_map(|e| match e {
        Effect::Launch(request) => Some((**request).clone()),
        _ => None,
    });
    let launch = launch.expect("launched once journaled");
    assert_eq!((launch.run, &launch.argv[..]), (run, &["agent".to_string(), "--task".into()][..]));
    assert!(launch.env.contains(&("STOCKADE_JOB_ID".into(), "1".into())));
    let started =
        engine.step(Input::Run(RunEvent { run, kind: RunEventKind::Started { pid: 42 } }));
    assert!(matches!(&persisted(started)[0].0[..], [Write::RunPid { pid: 42, .. }]));
    let exit = Exit::without_box(ExitCause::Exited { code: 0 }, "test");
    let ended =
        engine.step(Input::Run(RunEvent { run, kind: RunEventKind::Exited(Box::new(exit)) }));
    assert!(ended.iter().any(|e| matches!(e, Effect::Forget(r) if *r == run)));
    let (writes, then) = persisted(ended).remove(0);
    assert!(
        matches!(
            writes[..],
            [
                Write::EndRun { .. },
                Write::JobState { from: JobState::Running, to: JobState::Succeeded, .. }
            ]
        ),
        "a success gets no post-mortem"
    );
    let done = record(1, JobState::Succeeded, 1);
    engine.step(committed(then, vec![Applied::Job(done, job_event(1, JobState::Succeeded))]));
    let (reply, mut page) = oneshot::channel();
    engine.step(Input::Command(Command::Jobs {
        filter: JobFilter::default(),
        before: None,
        reply,
    }));
    let page = page.try_recv().unwrap().unwrap();
    assert_eq!((page.jobs.len(), page.total), (0, 0), "a finished job leaves the engine");
}

#[tokio::test(start_paused = true)]
async fn a_cancel_while_launching_ends_the_run_unlaunched() {
    let mut engine = engine();
    let (_, then) = persisted(submitted(&mut engine, 1)).remove(0);
    let (reply, mut view) = oneshot::channel();
    let effects = engine.step(Input::Command(Command::Cancel { id: JobId(1), reply }));
    assert!(effects.is_empty(), "nothing to stop yet: {effects:?}");
    let view = view.try_recv().unwrap().unwrap();
    assert_eq!((view.state, view.reason.as_deref()), (JobState::Running, Some("cancelling")));
    let run = RunId(3);
    let effects = engine.step(committed(
        then,
        vec![
            Applied::Job(record(1, JobState::Running, 1), job_event(1, JobState::Running)),
            Applied::Run(run),
        ],
    ));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Launch(_))), "never launched");
    let (writes, _) = persisted(effects).remove(0);
    assert!(matches!(
        writes[..],
        [
            Write::EndRun { cause: ExitCause::Stopped, .. },
            Write::JobState { to: JobState::Cancelled, .. }
        ]
    ));
}

#[tokio::test(start_paused = true)]
async fn a_submit_during_shutdown_is_refused_with_no_effect() {
    let mut engine = engine();
    let (reply, _report) = oneshot::channel();
    engine.step(Input::Command(Command::Shutdown(reply)));
    let (reply, mut answer) = oneshot::channel();
    let request = JobRequest { template: "t".into(), ..JobRequest::default() };
    let effects = engine.step(Input::Command(Command::Submit { requests: vec![request], reply }));
    assert!(effects.is_empty());
    assert!(matches!(answer.try_recv().unwrap(), Err(crate::EngineError::ShuttingDown)));
    assert!(engine.finished(), "nothing live: the shutdown is done");
}

#[tokio::test(start_paused = true)]
async fn a_submit_while_draining_is_refused_with_draining_and_no_effect() {
    let mut engine = engine();
    let (reply, mut drained) = oneshot::channel();
    assert!(engine.step(Input::Command(Command::Drain(reply))).is_empty());
    assert!(matches!(drained.try_recv(), Ok(Ok(()))), "answered at once");
    let (reply, mut answer) = oneshot::channel();
    let request = JobRequest { template: "t".into(), ..JobRequest::default() };
    let effects = engine.step(Input::Command(Command::Submit { requests: vec![request], reply }));
    assert!(effects.is_empty(), "{effects:?}");
    let err = answer.try_recv().unwrap().unwrap_err();
    assert!(matches!(err, crate::EngineError::Draining), "{err}");
    assert_eq!(err.code(), "draining");
    assert!(!engine.finished(), "a drain is not a shutdown");
}
