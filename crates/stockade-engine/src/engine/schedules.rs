//! Schedules (`every`, `cron` on a job template) as timers on the wall clock.
//!
//! Each scheduled template has a *next slot* (Unix milliseconds). Every
//! reconcile compares it with the engine's wall clock (`Engine::clock`,
//! injected so tests move time by hand); `next_deadline` wakes the shell at
//! the slot (at most a minute ahead, so a wall-clock jump is noticed). A due
//! slot is decided by `overlap` against this schedule's live jobs: submit
//! (through the normal submission write, `source = schedule`), keep one
//! pending (`queue`), or skip. Either way the slot is recorded in the store
//! (`Write::ScheduleSlot`, with its `schedule_fired` / `schedule_skipped`
//! event) in the same transaction as the job, so a restarted daemon starts
//! after the last recorded slot: it never fires a slot twice, and what lies
//! between that slot and now was missed — `catch_up` decides (`none`: one
//! skipped event; `one`: one run at start). A fire whose commit never came
//! (a crash) is a missed slot the same way.

use super::Engine;
use super::commit::Followup;
use super::job::Job;
use super::job_life::JobLife;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use stockade_proto::{EventKind, JobId, JobSource, ScheduleView, UnixMillis};
use stockade_spec::{CatchUp, Overlap, Schedule, Spec};
use stockade_store::{Applied, NewJob, StoreError, Write};
use tokio::time::Instant;

/// The longest the shell sleeps toward a slot before looking at the wall clock again.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// How many missed slots are counted one by one before "at least" is said.
const COUNT_LIMIT: u64 = 100_000;

/// One template's schedule and where it stands.
#[derive(Debug)]
pub(super) struct Scheduled {
    template: String,
    schedule: Schedule,
    /// The next slot to handle (`None`: a cron with no more matches).
    next: Option<UnixMillis>,
    /// The last slot handled (fired or skipped), as recorded.
    last: Option<UnixMillis>,
    /// Slots missed while the daemon was down, to be handled at the first reconcile.
    missed: Option<Missed>,
    /// Jobs this schedule submitted that are still queued or running.
    live: BTreeSet<JobId>,
    /// Fires whose submission is not committed yet (they count as live).
    submitting: u32,
    /// A slot held back by `overlap = "queue"`, and how many it stands for.
    pending: Option<(UnixMillis, u64)>,
}

/// Slots that passed while the daemon was down.
#[derive(Debug, Clone, Copy)]
struct Missed {
    /// The newest of them.
    latest: UnixMillis,
    /// How many.
    count: u64,
}

/// Every template's schedule, by template name.
pub(super) type Schedules = BTreeMap<String, Scheduled>;

/// The schedules of `spec` with nothing recorded yet.
pub(super) fn from_spec(spec: &Spec) -> Schedules {
    let scheduled = spec.jobs.values().filter_map(|job| Some((job, job.schedule.clone()?)));
    scheduled
        .map(|(job, schedule)| {
            let s = Scheduled {
                template: job.name.clone(),
                schedule,
                next: None,
                last: None,
                missed: None,
                live: BTreeSet::new(),
                submitting: 0,
                pending: None,
            };
            (job.name.clone(), s)
        })
        .collect()
}

impl Scheduled {
    /// Place the schedule at `now` given the last slot the store recorded.
    fn resume(&mut self, last: Option<UnixMillis>, now: UnixMillis) {
        self.last = last;
        self.missed = None;
        let Some(last) = last else {
            // Never fired: nothing was missed; start at the next slot.
            self.next = self.schedule.next_after(now);
            return;
        };
        let first_due = self.schedule.next_after(last);
        match first_due {
            Some(due) if due <= now => {
                let latest = self.schedule.last_at_or_before(now).unwrap_or(due).max(due);
                let count = self.count_slots(due, latest);
                self.missed = Some(Missed { latest, count });
                self.next = self.schedule.next_after(latest);
            }
            other => self.next = other,
        }
    }

    /// Slots from `from` to `to`, both included (`from` is a slot).
    fn count_slots(&self, from: UnixMillis, to: UnixMillis) -> u64 {
        if let stockade_spec::ScheduleRule::Every(period) = &self.schedule.rule {
            let period = (period.as_millis() as u64).max(1);
            return (to - from) / period + 1;
        }
        let mut count = 1;
        let mut at = from;
        while count < COUNT_LIMIT {
            match self.schedule.next_after(at) {
                Some(next) if next <= to => {
                    count += 1;
                    at = next;
                }
                _ => break,
            }
        }
        count
    }

    /// Forget live jobs that left the engine (they finished).
    fn prune(&mut self, live: impl Fn(&JobId) -> bool) {
        self.live.retain(|id| live(id));
    }

    fn busy(&self) -> bool {
        !self.live.is_empty() || self.submitting > 0
    }

    pub(super) fn view(&self) -> ScheduleView {
        ScheduleView {
            template: self.template.clone(),
            rule: self.schedule.describe(),
            overlap: self.schedule.overlap.as_str().to_owned(),
            catch_up: self.schedule.catch_up.as_str().to_owned(),
            next_at: self.next,
            last_at: self.last,
            live: self.live.iter().copied().collect(),
            pending: self.pending.map(|(slot, _)| slot),
        }
    }
}

impl Engine {
    /// After recovery: place every schedule after its recorded slot, and count
    /// the jobs it submitted that are still live.
    pub(super) fn resume_schedules(
        &mut self,
        slots: &BTreeMap<String, UnixMillis>,
        live: &[(String, JobId)],
    ) {
        let now = (self.clock)();
        for (name, scheduled) in &mut self.schedules {
            scheduled.resume(slots.get(name).copied(), now);
        }
        for (template, id) in live {
            if let Some(s) = self.schedules.get_mut(template) {
                s.live.insert(*id);
            }
        }
    }

    /// After a reload: the new spec's schedules. One whose rule is unchanged
    /// keeps where it stands; a changed one keeps its last slot and live jobs
    /// and starts at its next slot from now (a reload misses nothing); a
    /// removed one is forgotten (its live jobs stay ordinary jobs).
    pub(super) fn reschedule(&mut self) {
        let now = (self.clock)();
        let mut old = std::mem::take(&mut self.schedules);
        self.schedules = from_spec(&self.spec);
        for (name, fresh) in &mut self.schedules {
            let Some(before) = old.remove(name) else {
                fresh.next = fresh.schedule.next_after(now);
                continue;
            };
            if before.schedule == fresh.schedule {
                *fresh = before;
                continue;
            }
            fresh.last = before.last;
            fresh.live = before.live;
            fresh.submitting = before.submitting;
            fresh.next = fresh.schedule.next_after(now);
        }
    }

    /// The earliest moment a schedule needs the engine (capped, so a jump of
    /// the wall clock is seen within a minute); none while draining or
    /// shutting down, when nothing fires.
    pub(super) fn next_schedule_deadline(&self) -> Option<Instant> {
        if self.shutdown.is_some() || self.draining {
            return None;
        }
        let now = (self.clock)();
        let next = self.schedules.values().filter_map(|s| s.next).min()?;
        let wait = Duration::from_millis(next.saturating_sub(now)).min(MAX_SLEEP);
        Some(Instant::now() + wait)
    }

    /// Handle missed slots once, and every slot that is due; release a
    /// pending slot whose live runs ended.
    pub(super) fn schedule_timers(&mut self) {
        if self.shutdown.is_some() || self.draining || self.schedules.is_empty() {
            return;
        }
        let now = (self.clock)();
        let names: Vec<String> = self.schedules.keys().cloned().collect();
        for name in names {
            self.missed_slots(&name);
            self.due_slots(&name, now);
            self.release_pending(&name);
        }
    }

    fn missed_slots(&mut self, name: &str) {
        let Some(s) = self.schedules.get_mut(name) else { return };
        let Some(missed) = s.missed.take() else { return };
        match s.schedule.catch_up {
            CatchUp::None => {
                let reason = format!(
                    "{} missed while the daemon was down (catch_up = \"none\")",
                    slots(missed.count)
                );
                self.skip_slot(name, missed.latest, reason);
            }
            CatchUp::One => self.slot_due(name, missed.latest, missed.count),
        }
    }

    fn due_slots(&mut self, name: &str, now: UnixMillis) {
        let Some(s) = self.schedules.get_mut(name) else { return };
        let Some(next) = s.next.filter(|next| *next <= now) else { return };
        // Late by more than one slot (the engine stalled, the clock jumped):
        // the newest due slot stands for the ones before it.
        let latest = s.schedule.last_at_or_before(now).unwrap_or(next).max(next);
        let behind = s.count_slots(next, latest) - 1;
        s.next = s.schedule.next_after(latest);
        self.slot_due(name, latest, behind);
    }

    /// A slot came: submit, hold or skip it by `overlap`.
    fn slot_due(&mut self, name: &str, slot: UnixMillis, missed: u64) {
        let jobs = &self.jobs;
        let Some(s) = self.schedules.get_mut(name) else { return };
        s.prune(|id| jobs.get(id).is_some());
        if !s.busy() || s.schedule.overlap == Overlap::Allow {
            self.fire(name, slot, missed);
            return;
        }
        match s.schedule.overlap {
            Overlap::Queue => {
                // One pending slot at most: a newer one replaces it and
                // stands for both.
                let before = s.pending.map_or(0, |(_, n)| n + 1);
                s.pending = Some((slot, missed + before));
            }
            _ => {
                let reason = match s.live.first() {
                    Some(id) => {
                        format!("job {id} of this schedule is still live (overlap = \"skip\")")
                    }
                    None => "the last run is still being submitted (overlap = \"skip\")".to_owned(),
                };
                self.skip_slot(name, slot, reason);
            }
        }
    }

    fn release_pending(&mut self, name: &str) {
        let jobs = &self.jobs;
        let Some(s) = self.schedules.get_mut(name) else { return };
        if s.pending.is_none() {
            return;
        }
        s.prune(|id| jobs.get(id).is_some());
        if s.busy() {
            return;
        }
        if let Some((slot, missed)) = s.pending.take() {
            self.fire(name, slot, missed);
        }
    }

    fn skip_slot(&mut self, name: &str, slot: UnixMillis, reason: String) {
        if let Some(s) = self.schedules.get_mut(name) {
            s.last = Some(slot);
        }
        tracing::info!(template = name, slot, %reason, "schedule slot skipped");
        let kind = EventKind::ScheduleSkipped { slot, reason };
        self.persist(vec![Write::ScheduleSlot { template: name.to_owned(), slot, kind }]);
    }

    /// Submit one run of `name` for `slot`, as an ordinary job.
    fn fire(&mut self, name: &str, slot: UnixMillis, missed: u64) {
        let Some(template) = self.spec.jobs.get(name) else { return };
        let Some(pool) = self.pools.get(&template.pool) else { return };
        let queued = pool.queue.len() as u64 + pool.submitting;
        if queued >= pool.spec.max_queued {
            let reason = format!("pool `{}` queue is full ({queued})", template.pool);
            self.skip_slot(name, slot, reason);
            return;
        }
        let job = NewJob {
            template: template.name.clone(),
            pool: template.pool.clone(),
            args: template.schedule.as_ref().map(|s| s.args.clone()).unwrap_or_default(),
            env: BTreeMap::new(),
            priority: template.priority,
            max_attempts: template.retries.max + 1,
            submitted_at: (self.clock)(),
            // A second fence behind the recorded slot: the store refuses a
            // second job with this key.
            idempotency_key: Some(format!("schedule:{name}:{slot}")),
            source: JobSource::Schedule,
        };
        let pool_name = template.pool.clone();
        if let Some(pool) = self.pools.get_mut(&pool_name) {
            pool.submitting += 1;
        }
        if let Some(s) = self.schedules.get_mut(name) {
            s.submitting += 1;
            s.last = Some(slot);
        }
        tracing::info!(template = name, slot, missed, "schedule fired");
        let kind = EventKind::ScheduleFired { slot, missed };
        let writes = vec![
            Write::SubmitJob(job),
            Write::ScheduleSlot { template: name.to_owned(), slot, kind },
        ];
        self.commit(
            writes,
            Followup::ScheduleSubmitted { template: name.to_owned(), pool: pool_name },
        );
    }

    /// A scheduled submission committed (or failed): queue the job and count it live.
    pub(super) fn schedule_submitted(
        &mut self,
        template: String,
        pool: String,
        result: Result<Vec<Applied>, StoreError>,
    ) {
        if let Some(p) = self.pools.get_mut(&pool) {
            p.submitting = p.submitting.saturating_sub(1);
        }
        if let Some(s) = self.schedules.get_mut(&template) {
            s.submitting = s.submitting.saturating_sub(1);
        }
        let applied = match result {
            Ok(applied) => applied,
            Err(e) => {
                tracing::error!(%template, error = %e, "could not submit a scheduled run; the slot counts as missed at the next start");
                return;
            }
        };
        let now = Instant::now();
        for record in applied.iter().filter_map(Applied::job) {
            if !self.pools.contains_key(&record.pool) {
                continue;
            }
            let job = Job::queued(record.clone(), now, None);
            debug_assert!(matches!(job.life, JobLife::Queued { .. }));
            if let Some(s) = self.schedules.get_mut(&template) {
                s.live.insert(record.id);
            }
            self.enqueue(job);
        }
    }

    /// Every schedule, for `status` and `GET /api/schedules`.
    pub(super) fn schedule_views(&self) -> Vec<ScheduleView> {
        let jobs = &self.jobs;
        self.schedules
            .values()
            .map(|s| {
                let mut view = s.view();
                view.live.retain(|id| jobs.get(id).is_some());
                if self.shutdown.is_some() {
                    view.next_at = None;
                }
                view
            })
            .collect()
    }
}

fn slots(n: u64) -> String {
    match n {
        1 => "1 slot".to_owned(),
        n if n >= COUNT_LIMIT => format!("at least {n} slots"),
        n => format!("{n} slots"),
    }
}
