//! What one `Engine::step` costs, by input, with 0, 10k and 100k other jobs
//! queued: the engine alone (no store, no launcher, no loop), each short job
//! driven through its six inputs — submit, its commit, the launch commit,
//! started, exited, the end commit — with commit results made up here.
//! `cargo bench -p stockade-engine --bench step`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockade_engine::engine::{Done, Effect, Engine, Followup, Input};
use stockade_engine::{Command, Exit, RunEvent, RunEventKind};
use stockade_proto::{
    Event, EventKind, ExitCause, HostSnapshot, JobId, JobRequest, JobState, RunId, Seq,
};
use stockade_spec::Spec;
use stockade_store::{Applied, JobRecord};
use tokio::sync::oneshot;

const JOBS: u64 = 10_000;
const QUEUED: [u64; 3] = [0, 10_000, 100_000];

const SPEC: &str = r#"
[pool.hold]
max_concurrency = 1
max_queued = 1000000

[job.held]
command = ["sleep"]
pool = "hold"

[pool.p16]
max_concurrency = 16

[job.t]
command = ["true"]
pool = "p16"
"#;

fn record(id: u64, template: &str, state: JobState, attempt: u32) -> JobRecord {
    JobRecord {
        id: JobId(id),
        template: template.into(),
        pool: if template == "t" { "p16" } else { "hold" }.into(),
        args: vec![],
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

fn applied(r: JobRecord) -> Applied {
    let kind = EventKind::JobState { job: r.id, state: r.state, reason: None };
    let event = Event { seq: Seq(r.id.0), at: 0, unit: r.template.clone(), kind };
    Applied::Job(r, event)
}

fn persists(effects: Vec<Effect>) -> Vec<Followup> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Persist { then, .. } => Some(then),
            _ => None,
        })
        .collect()
}

struct Clock(BTreeMap<&'static str, (Duration, u64)>);

impl Clock {
    fn step(&mut self, engine: &mut Engine, what: &'static str, input: Input) -> Vec<Effect> {
        let t = Instant::now();
        let effects = engine.step(input);
        let e = self.0.entry(what).or_default();
        e.0 += t.elapsed();
        e.1 += 1;
        effects
    }
}

fn submit(
    engine: &mut Engine,
    clock: &mut Clock,
    template: &str,
    ids: std::ops::Range<u64>,
) -> Vec<Effect> {
    let (reply, _answer) = oneshot::channel();
    let requests = ids
        .clone()
        .map(|_| JobRequest { template: template.into(), ..JobRequest::default() })
        .collect();
    let then =
        persists(clock.step(engine, "submit", Input::Command(Command::Submit { requests, reply })))
            .remove(0);
    let records = ids.map(|id| applied(record(id, template, JobState::Queued, 0))).collect();
    clock.step(
        engine,
        "submit committed",
        Input::Committed(Done { followup: then, result: Ok(records) }),
    )
}

fn measure(queued: u64) {
    let path = std::path::Path::new("/nonexistent/stockade.toml");
    let spec = Spec::parse(SPEC, path, &|_| None).expect("spec");
    let mut engine =
        Engine::new(Arc::new(spec), "fake".into(), vec![], Arc::new(HostSnapshot::default));
    let mut warm = Clock(BTreeMap::new());
    if queued > 0 {
        submit(&mut engine, &mut warm, "held", 1..queued + 1);
    }
    let mut clock = Clock(BTreeMap::new());
    let first = 1_000_000;
    for n in 0..JOBS {
        let id = first + n;
        let effects = submit(&mut engine, &mut clock, "t", id..id + 1);
        let launch = persists(effects)
            .into_iter()
            .find(|f| matches!(f, Followup::LaunchJob { .. }))
            .expect("admitted");
        let run = RunId(id);
        let journaled = vec![applied(record(id, "t", JobState::Running, 1)), Applied::Run(run)];
        clock.step(
            &mut engine,
            "launch committed",
            Input::Committed(Done { followup: launch, result: Ok(journaled) }),
        );
        let kind = RunEventKind::Started { pid: 1 };
        let pid = persists(clock.step(&mut engine, "started", Input::Run(RunEvent { run, kind })));
        drop(pid);
        let exit = Exit::without_box(ExitCause::Exited { code: 0 }, "bench");
        let kind = RunEventKind::Exited(Box::new(exit));
        let end = persists(clock.step(&mut engine, "exited", Input::Run(RunEvent { run, kind })));
        for then in end {
            let done = applied(record(id, "t", JobState::Succeeded, 1));
            clock.step(
                &mut engine,
                "end committed",
                Input::Committed(Done { followup: then, result: Ok(vec![done]) }),
            );
        }
    }
    let mut total = Duration::ZERO;
    for (what, (time, count)) in &clock.0 {
        let per = *time / (*count as u32).max(1);
        total += per;
        println!("| {queued:>7} | {what:<18} | {count:>6} | {:>10.2?} |", per);
    }
    println!("| {queued:>7} | **one job (sum)**  |        | {:>10.2?} |", total);
}

fn main() {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let _guard = runtime.enter();
    println!("Engine::step cost by input ({JOBS} short jobs per row, mean per step)\n");
    println!("| queued  | input              | steps  | mean       |");
    println!("|---------|--------------------|--------|------------|");
    for queued in QUEUED {
        measure(queued);
    }
}
