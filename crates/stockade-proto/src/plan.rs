//! [`ReloadPlan`]: what `stockade reload` will do (or did) to the running
//! daemon, unit by unit — computed by `stockade_spec::diff`, annotated and
//! applied by the engine, printed by the CLI.

use serde::{Deserialize, Serialize};

/// The whole plan of one reload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReloadPlan {
    /// The spec file that was read.
    pub spec: String,
    /// Every unit of the old and the new spec, services in start order first,
    /// then job templates, then pools.
    pub units: Vec<UnitChange>,
    /// `[daemon]` and `[monitor]` settings that differ.
    #[serde(default)]
    pub settings: Vec<SettingChange>,
    /// `[alert.NAME]` rules added, removed or changed, by name. They apply
    /// at once: the monitor takes the new rules, an unchanged rule keeps
    /// its state, a removed one that fires resolves, a changed one starts
    /// afresh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertChange>,
    /// Whether it was carried out (`false`: `--plan`, or nothing to do).
    #[serde(default)]
    pub applied: bool,
}

/// What kind of unit a [`UnitChange`] is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PlanUnit {
    /// `[service.NAME]`.
    Service,
    /// `[job.NAME]`.
    Job,
    /// `[pool.NAME]`.
    Pool,
}

/// What a reload does to one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// New: a service starts, a template or pool takes submissions.
    Add,
    /// Gone: a service stops (reverse dependency order).
    Remove,
    /// Changed in place, no process restarted (limits written to the live
    /// cgroups, policies and pool limits take effect at once).
    Update,
    /// Changed in a way a running process cannot take: its replicas restart.
    Restart,
    /// Nothing changed.
    Keep,
}

impl PlanAction {
    /// The word the plan prints.
    pub fn word(self) -> &'static str {
        match self {
            PlanAction::Add => "add",
            PlanAction::Remove => "remove",
            PlanAction::Update => "update",
            PlanAction::Restart => "restart",
            PlanAction::Keep => "keep",
        }
    }
}

/// One unit's line of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnitChange {
    /// Service, job template or pool.
    pub kind: PlanUnit,
    /// Its name.
    pub name: String,
    /// What happens to it.
    pub action: PlanAction,
    /// What differs, one item each (`memory 64 MiB → 128 MiB`, `command`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// What the engine adds ("2 running jobs keep their template").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One differing daemon-wide setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SettingChange {
    /// `daemon.log_keep`, `monitor`, ...
    pub key: String,
    /// Whether the running daemon takes it now; otherwise it waits for the
    /// next daemon start and the plan says so.
    pub live: bool,
}

/// One alert rule that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AlertChange {
    /// The rule's name, from `[alert.NAME]`.
    pub name: String,
    /// `add`, `remove` or `update`.
    pub action: PlanAction,
    /// What differs in an `update` (`value 3 → 5`, `for`, `signal`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

impl ReloadPlan {
    /// True when no unit changes, no setting differs and no alert rule does.
    pub fn is_empty(&self) -> bool {
        self.units.iter().all(|u| u.action == PlanAction::Keep)
            && self.settings.is_empty()
            && self.alerts.is_empty()
    }

    /// How many units take `action`.
    pub fn count(&self, action: PlanAction) -> usize {
        self.units.iter().filter(|u| u.action == action).count()
    }

    /// One line: `1 added, 1 removed, 1 updated, 1 restarted, 2 unchanged`.
    pub fn summary(&self) -> String {
        let parts = [
            (PlanAction::Add, "added"),
            (PlanAction::Remove, "removed"),
            (PlanAction::Update, "updated"),
            (PlanAction::Restart, "restarted"),
            (PlanAction::Keep, "unchanged"),
        ];
        parts
            .iter()
            .map(|(action, word)| format!("{} {word}", self.count(*action)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The unit `name` of `kind`.
    pub fn unit(&self, kind: PlanUnit, name: &str) -> Option<&UnitChange> {
        self.units.iter().find(|u| u.kind == kind && u.name == name)
    }
}
