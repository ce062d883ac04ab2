//! Admission by headroom: how much the host can still give (after the
//! [`Reserve`]) and whether one more agent fits. Pure; the engine refreshes
//! [`HostFacts`] and calls these.
//!
//! A dimension that could not be measured does not hold work back: a hidden
//! `/proc` file must not stall every queue forever. The doctor reports it.

use crate::{AgentNeed, HostFacts, Reserve, TaskCeiling};
use serde::Serialize;
use std::fmt;
use stockade_linux::human_bytes;

/// What the host can still give to new agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Headroom {
    /// `MemAvailable` minus the reserve, bytes (`None`: unknown).
    pub memory: Option<u64>,
    /// Free tasks under the lower of `threads-max` and `pid_max`, minus the reserve.
    pub tasks: Option<u64>,
    /// Which of the two caps tasks.
    pub task_ceiling: Option<TaskCeiling>,
    /// Free file handles under `fs.file-max`, minus the reserve. Reported, not
    /// admitted on: an agent's `nofile` is a ceiling it rarely approaches.
    pub files: Option<u64>,
    /// The reserve already subtracted, for messages.
    pub reserve: Reserve,
}

/// Why a job waits: the limit that holds it back, in words (`Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HoldReason {
    /// Not enough memory above the reserve.
    Memory {
        /// Bytes the agent is counted for.
        need: u64,
        /// Bytes free above the reserve.
        free: u64,
        /// The reserve, bytes.
        reserve: u64,
    },
    /// Not enough free tasks.
    Tasks {
        /// Tasks the agent is counted for.
        need: u64,
        /// Tasks free above the reserve.
        free: u64,
        /// The kernel limit that caps tasks.
        ceiling: TaskCeiling,
        /// The reserve.
        reserve: u64,
    },
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HoldReason::Memory { need, free, reserve } => write!(
                f,
                "memory headroom: needs {}, {} free above the {} reserve",
                human_bytes(need),
                human_bytes(free),
                human_bytes(reserve)
            ),
            HoldReason::Tasks { need, free, ceiling, reserve } => write!(
                f,
                "task headroom: needs {need} tasks, {free} free under {} above the {reserve} reserve",
                ceiling.sysctl()
            ),
        }
    }
}

/// The headroom of `host` after `reserve`.
pub fn headroom(host: &HostFacts, reserve: &Reserve) -> Headroom {
    let tasks_used = host.tasks.as_ref().ok().map(|t| t.total);
    let ceiling = host.task_ceiling();
    Headroom {
        memory: host.memory.as_ref().ok().map(|m| m.available.saturating_sub(reserve.memory)),
        tasks: ceiling
            .zip(tasks_used)
            .map(|((_, max), used)| max.saturating_sub(used).saturating_sub(reserve.tasks)),
        task_ceiling: ceiling.map(|(c, _)| c),
        files: host
            .file_nr
            .as_ref()
            .ok()
            .map(|nr| nr.max.saturating_sub(nr.allocated).saturating_sub(reserve.files)),
        reserve: *reserve,
    }
}

/// Whether one more agent with `need` fits in `headroom`.
pub fn admits(headroom: &Headroom, need: &AgentNeed) -> Result<(), HoldReason> {
    if let (Some(free), Some(amount)) = (headroom.memory, need.memory_need())
        && amount.value > free
    {
        return Err(HoldReason::Memory {
            need: amount.value,
            free,
            reserve: headroom.reserve.memory,
        });
    }
    if let (Some(free), Some(amount), Some(ceiling)) =
        (headroom.tasks, need.tasks_need(), headroom.task_ceiling)
        && amount.value > free
    {
        return Err(HoldReason::Tasks {
            need: amount.value,
            free,
            ceiling,
            reserve: headroom.reserve.tasks,
        });
    }
    Ok(())
}

impl Headroom {
    /// Admit one agent and count it against the headroom, so several admissions
    /// between two reads of the host do not all spend the same room.
    pub fn take(&mut self, need: &AgentNeed) -> Result<(), HoldReason> {
        admits(self, need)?;
        let minus = |free: &mut Option<u64>, amount: Option<u64>| {
            if let (Some(f), Some(a)) = (free.as_mut(), amount) {
                *f = f.saturating_sub(a);
            }
        };
        minus(&mut self.memory, need.memory_need().map(|a| a.value));
        minus(&mut self.tasks, need.tasks_need().map(|a| a.value));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;
    use stockade_proto::UnitKind;

    fn need(memory: u64, pids: u64) -> AgentNeed {
        AgentNeed {
            name: "agent".into(),
            kind: UnitKind::Job,
            pool: Some("default".into()),
            replicas: 1,
            memory: Some(memory),
            pids: Some(pids),
            cpus: Some(1.0),
            nofile: Some(65535),
            observed_peak_memory: None,
            observed_peak_pids: None,
        }
    }

    fn field_report() -> HostFacts {
        let (_dir, root) = Fixture::field_report().write();
        HostFacts::read(&root)
    }

    #[test]
    fn the_field_reports_host_holds_a_thousand_pid_agent_on_threads() {
        let room = headroom(&field_report(), &Reserve::default());
        assert_eq!(room.task_ceiling, Some(TaskCeiling::ThreadsMax));
        assert_eq!(room.tasks, Some(0), "6337 - 5279 - 2048 reserve saturates at 0");
        let held = admits(&room, &need(512 << 20, 64)).unwrap_err();
        assert!(matches!(held, HoldReason::Tasks { need: 64, free: 0, .. }), "{held:?}");
        assert_eq!(
            held.to_string(),
            "task headroom: needs 64 tasks, 0 free under kernel.threads-max above the 2048 reserve"
        );
    }

    #[test]
    fn memory_holds_first_and_take_spends_the_room() {
        let mut f = Fixture::roomy();
        f.set("proc/meminfo", "MemTotal: 8388608 kB\nMemAvailable: 5242880 kB\n");
        let (_dir, root) = f.write();
        let mut room = headroom(&HostFacts::read(&root), &Reserve::default());
        assert_eq!(room.memory, Some(4 << 30));
        room.take(&need(2 << 30, 100)).unwrap();
        room.take(&need(2 << 30, 100)).unwrap();
        let held = room.take(&need(2 << 30, 100)).unwrap_err();
        assert_eq!(held, HoldReason::Memory { need: 2 << 30, free: 0, reserve: 1 << 30 });
        assert!(held.to_string().starts_with("memory headroom: needs 2 GiB, 0 B free"), "{held}");
    }

    #[test]
    fn unknown_dimensions_admit() {
        let (_dir, root) = Fixture::default().write();
        let room = headroom(&HostFacts::read(&root), &Reserve::default());
        assert_eq!((room.memory, room.tasks, room.files), (None, None, None));
        assert_eq!(admits(&room, &need(u64::MAX, u64::MAX)), Ok(()));
    }
}
