//! [`JobTable`]: the live jobs, by id, with an index by the state a view
//! shows, so a listing walks only the jobs it returns.
//!
//! A listing is newest first: it walks each wanted state's ids downward from
//! the cursor and merges them, stopping at `limit + 1` (one more tells
//! whether there is a next page). With a template or pool filter it skips
//! the jobs that do not match (no view is built for them). `total` is the
//! size of the wanted states' indexes, or a count of the matching ids when
//! a template or pool is asked for. Every change to a job goes through
//! [`JobTable::update`], which keeps the index true.

use super::job::Job;
use std::collections::{BTreeSet, HashMap};
use stockade_proto::{JobId, JobState};
use stockade_store::JobFilter;

/// Every state a view can show, in index order.
const STATES: [JobState; 7] = [
    JobState::Queued,
    JobState::Running,
    JobState::Succeeded,
    JobState::Failed,
    JobState::Cancelled,
    JobState::Expired,
    JobState::Rejected,
];

fn slot(state: JobState) -> usize {
    STATES.iter().position(|s| *s == state).unwrap_or(0)
}

#[derive(Default)]
pub(super) struct JobTable {
    jobs: HashMap<JobId, Job>,
    by_state: [BTreeSet<JobId>; STATES.len()],
}

/// One page of ids, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IdPage {
    pub ids: Vec<JobId>,
    /// The cursor of the next page, if there is one.
    pub next: Option<JobId>,
    /// How many live jobs match in all.
    pub total: u64,
}

/// The state a view of `job` shows.
pub(super) fn shown(job: &Job) -> JobState {
    job.life.public().unwrap_or(job.record.state)
}

impl JobTable {
    pub fn get(&self, id: &JobId) -> Option<&Job> {
        self.jobs.get(id)
    }

    pub fn insert(&mut self, job: Job) {
        let id = job.record.id;
        self.remove(&id);
        self.by_state[slot(shown(&job))].insert(id);
        self.jobs.insert(id, job);
    }

    pub fn remove(&mut self, id: &JobId) -> Option<Job> {
        let job = self.jobs.remove(id)?;
        self.by_state[slot(shown(&job))].remove(id);
        Some(job)
    }

    /// Change a job; the index follows.
    pub fn update<R>(&mut self, id: JobId, change: impl FnOnce(&mut Job) -> R) -> Option<R> {
        let job = self.jobs.get_mut(&id)?;
        let before = shown(job);
        let result = change(job);
        let after = shown(job);
        if before != after {
            self.by_state[slot(before)].remove(&id);
            self.by_state[slot(after)].insert(id);
        }
        Some(result)
    }

    /// Every live job, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Job> + '_ {
        self.jobs.values()
    }

    /// Ids shown in `state`.
    pub fn in_state(&self, state: JobState) -> impl Iterator<Item = JobId> + '_ {
        self.by_state[slot(state)].iter().copied()
    }

    /// The ids of live jobs matching `filter`, newest first, below `before`.
    pub fn page(&self, filter: &JobFilter, before: Option<JobId>) -> IdPage {
        let states: Vec<&BTreeSet<JobId>> = STATES
            .iter()
            .filter(|s| filter.states.is_empty() || filter.states.contains(s))
            .map(|s| &self.by_state[slot(*s)])
            .collect();
        let matches = |id: &JobId| {
            let job = &self.jobs[id];
            filter.template.as_ref().is_none_or(|t| *t == job.record.template)
                && filter.pool.as_ref().is_none_or(|p| *p == job.record.pool)
        };
        let narrowed = filter.template.is_some() || filter.pool.is_some();
        let total = if narrowed {
            states.iter().map(|set| set.iter().filter(|id| matches(id)).count() as u64).sum()
        } else {
            states.iter().map(|set| set.len() as u64).sum()
        };
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut ids: Vec<JobId> = Vec::new();
        for set in &states {
            let range = match before {
                Some(b) => set.range(..b),
                None => set.range(..),
            };
            ids.extend(range.rev().copied().filter(|id| matches(id)).take(limit.saturating_add(1)));
        }
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let next = if ids.len() > limit {
            ids.truncate(limit);
            ids.last().copied()
        } else {
            None
        };
        IdPage { ids, next, total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::job_life::JobLife;
    use stockade_store::JobRecord;
    use tokio::time::Instant;

    fn job(id: u64, template: &str, running: bool) -> Job {
        let record = JobRecord {
            id: JobId(id),
            template: template.into(),
            pool: "p".into(),
            args: Vec::new(),
            env: Default::default(),
            priority: 0,
            state: if running { JobState::Running } else { JobState::Queued },
            attempt: 0,
            max_attempts: 1,
            submitted_at: 0,
            started_at: None,
            finished_at: None,
            cause: None,
            reason: None,
            source: stockade_proto::JobSource::Api,
        };
        let mut job = Job::queued(record, Instant::now(), None);
        if running {
            job.life = JobLife::Launching { box_name: "b".into(), stop: None };
        }
        job
    }

    fn filter(states: &[JobState], template: Option<&str>, limit: usize) -> JobFilter {
        JobFilter {
            states: states.to_vec(),
            template: template.map(str::to_string),
            pool: None,
            limit: Some(limit),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pages_walk_newest_first_across_states_with_a_cursor_and_a_total() {
        let mut table = JobTable::default();
        for id in 1..=10 {
            table.insert(job(id, if id % 2 == 0 { "even" } else { "odd" }, id % 3 == 0));
        }
        let all = filter(&[], None, 4);
        let first = table.page(&all, None);
        assert_eq!(first.ids, [10, 9, 8, 7].map(JobId));
        assert_eq!((first.next, first.total), (Some(JobId(7)), 10));
        let second = table.page(&all, first.next);
        assert_eq!(second.ids, [6, 5, 4, 3].map(JobId));
        let last = table.page(&all, second.next);
        assert_eq!((last.ids, last.next), (vec![JobId(2), JobId(1)], None));
        let running = table.page(&filter(&[JobState::Running], None, 10), None);
        assert_eq!((running.ids, running.total), (vec![JobId(9), JobId(6), JobId(3)], 3));
        let even_queued = table.page(&filter(&[JobState::Queued], Some("even"), 2), None);
        assert_eq!(even_queued.ids, vec![JobId(10), JobId(8)]);
        assert_eq!((even_queued.next, even_queued.total), (Some(JobId(8)), 4));
        // An update that changes the shown state moves the job in the index.
        table.update(JobId(10), |j| {
            j.life = JobLife::Launching { box_name: "b".into(), stop: None }
        });
        assert_eq!(table.page(&filter(&[JobState::Running], None, 1), None).ids, vec![JobId(10)]);
        table.remove(&JobId(10));
        assert_eq!(table.page(&all, None).total, 9);
    }
}
