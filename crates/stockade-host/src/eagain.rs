//! "Resource temporarily unavailable", explained: which of the four limits
//! behind a fork's or thread's EAGAIN was at its edge — the box's `pids.max`,
//! the uid's `RLIMIT_NPROC`, `kernel.threads-max` or `kernel.pid_max` — from
//! the same probes the doctor uses. The field report spent a day on the wrong
//! one (nproc) before finding threads-max.

use crate::HostFacts;

/// One candidate limit: name, what was in use, the limit, what to do.
struct Candidate {
    name: &'static str,
    used: u64,
    max: u64,
    fix: String,
}

impl Candidate {
    /// At its edge: within 2 % (at least 2) of the limit. Counts are read
    /// after the failure, when a few tasks may already have exited.
    fn at_edge(&self) -> bool {
        self.max.saturating_sub(self.used) <= (self.max / 50).max(2)
    }

    fn share(&self) -> f64 {
        if self.max == 0 { 1.0 } else { self.used as f64 / self.max as f64 }
    }

    fn describe(&self) -> String {
        format!("{} ({} of {})", self.name, self.used, self.max)
    }
}

/// One sentence naming the limit that most likely refused the new task, with
/// the fix. `box_pids` and `nproc` are `(current, max)` when known.
pub fn explain_eagain(
    facts: &HostFacts,
    box_pids: Option<(u64, u64)>,
    nproc: Option<(u64, u64)>,
) -> String {
    let mut candidates = Vec::new();
    if let Some((used, max)) = box_pids {
        candidates.push(Candidate {
            name: "the box's pids.max",
            used,
            max,
            fix: "raise `pids` in this unit's limits".into(),
        });
    }
    if let Some((used, max)) = nproc {
        candidates.push(Candidate {
            name: "RLIMIT_NPROC of the agent's uid",
            used,
            max,
            fix: "raise `nproc` in this unit's limits, or run agents under their own uid".into(),
        });
    }
    let tasks = facts.tasks.as_ref().ok().map(|t| t.total);
    if let (Some(used), Ok(max)) = (tasks, &facts.threads_max) {
        candidates.push(Candidate {
            name: "kernel.threads-max",
            used,
            max: *max,
            fix: crate::checks::sysctl_fix(
                "kernel.threads-max",
                crate::checks::recommend_tasks(used, 0x3fff_ffff),
            ),
        });
    }
    if let (Some(used), Ok(max)) = (tasks, &facts.pid_max) {
        candidates.push(Candidate {
            name: "kernel.pid_max",
            used,
            max: *max,
            fix: crate::checks::sysctl_fix(
                "kernel.pid_max",
                crate::checks::recommend_tasks(used, 4_194_304),
            ),
        });
    }
    if candidates.is_empty() {
        return "EAGAIN (resource temporarily unavailable) when creating a task, and no limit \
                could be read to say which one bound; run `stockade doctor`"
            .into();
    }
    let edge: Vec<&Candidate> = candidates.iter().filter(|c| c.at_edge()).collect();
    if let Some(first) = edge.first() {
        let mut text = format!(
            "EAGAIN (resource temporarily unavailable) when creating a task: {} was reached; fix: {}",
            first.describe(),
            first.fix
        );
        if edge.len() > 1 {
            let others: Vec<String> = edge[1..].iter().map(|c| c.describe()).collect();
            text.push_str(&format!("; also at its limit: {}", others.join(", ")));
        }
        return text;
    }
    let closest = candidates
        .iter()
        .max_by(|a, b| a.share().total_cmp(&b.share()))
        .expect("candidates is not empty");
    format!(
        "EAGAIN (resource temporarily unavailable) when creating a task, but no limit was at its \
         edge when measured: {}; the closest was {} at {:.0}%",
        candidates.iter().map(Candidate::describe).collect::<Vec<_>>().join(", "),
        closest.name,
        closest.share() * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;

    fn facts(fixture: &Fixture) -> HostFacts {
        let (_dir, root) = fixture.write();
        HostFacts::read(&root)
    }

    #[test]
    fn the_box_limit_is_named_first_when_it_is_full() {
        let text = explain_eagain(&facts(&Fixture::roomy()), Some((1000, 1000)), Some((40, 3168)));
        assert!(text.contains("the box's pids.max (1000 of 1000) was reached"), "{text}");
        assert!(text.contains("raise `pids`"), "{text}");
    }

    #[test]
    fn the_field_reports_threads_max_is_named_when_the_host_is_full() {
        let mut f = Fixture::field_report();
        f.set("proc/loadavg", "1 1 1 3/6330 1\n");
        let text = explain_eagain(&facts(&f), Some((60, 1000)), Some((900, 3168)));
        assert!(text.contains("kernel.threads-max (6330 of 6337) was reached"), "{text}");
        assert!(text.contains("sysctl -w kernel.threads-max=65536"), "{text}");
    }

    #[test]
    fn nproc_and_pid_max_are_named_too() {
        let text = explain_eagain(&facts(&Fixture::roomy()), None, Some((3168, 3168)));
        assert!(text.contains("RLIMIT_NPROC of the agent's uid (3168 of 3168)"), "{text}");
        let mut f = Fixture::roomy();
        f.set("proc/sys/kernel/pid_max", "32768\n").set("proc/loadavg", "1 1 1 1/32760 1\n");
        let text = explain_eagain(&facts(&f), None, None);
        assert!(text.contains("kernel.pid_max (32760 of 32768) was reached"), "{text}");
    }

    #[test]
    fn nothing_at_the_edge_names_the_closest_and_nothing_known_says_so() {
        let text = explain_eagain(&facts(&Fixture::field_report()), Some((10, 1000)), None);
        assert!(text.contains("no limit was at its edge"), "{text}");
        assert!(text.contains("the closest was kernel.threads-max at 83%"), "{text}");
        let (_dir, root) = Fixture::default().write();
        let text = explain_eagain(&HostFacts::read(&root), None, None);
        assert!(text.contains("no limit could be read"), "{text}");
    }
}
