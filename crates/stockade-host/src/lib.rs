//! Read-only host probes for stockade: how close the host is to its limits,
//! and what that means for running more agents.
//!
//! Start at [`HostFacts`]: one read of `/proc`, `/sys` (through an injectable
//! [`HostRoot`]) into values that are each known or unknown-with-a-reason.
//! Everything else is a pure function over it:
//! - [`checks()`] turns facts into the `stockade doctor` verdicts (one file per
//!   probe family under `checks/`), [`render_text`] prints them;
//!   [`walls_checks`] says whether this host can build walls (user namespaces,
//!   the [`IdRange`] against /etc/subuid, seccomp, idmapped mounts, tmpfs/overlay);
//! - [`lint_checks`] reads `/etc/security/limits.conf` and `/etc/sysctl.conf` (and
//!   their `.d` directories) for the typos that bit the field reports;
//! - [`plan()`] answers "how many of these agents fit, and which limit binds";
//! - [`headroom()`] and [`admits`] are admission by headroom, [`AdaptiveLimit`]
//!   the `max_concurrency = "auto"` state machine;
//!
//! Nothing here writes to the host. The engine and the CLI do the wiring.

#![deny(missing_docs)]

mod adaptive;
mod checks;
mod facts;
#[cfg(test)]
mod fixture;
mod headroom;
mod lint;
mod need;
mod plan;
mod probe;
mod render;
mod report;
mod reserve;
mod root;

pub use adaptive::{
    AdaptiveConfig, AdaptiveLimit, Decision, Direction, LimitReason, PressureSignals, Signal,
};
pub use checks::{
    IdRange, SystemdUnit, UsageRule, checks, kill_mode_check, kill_mode_of_file, rootless_check,
    unit_of_cgroup, walls_checks,
};
pub use facts::{
    CgroupFacts, CgroupMode, CgroupVersion, Depth, FileNr, Hierarchy, HostFacts, InotifyLimits,
    InotifyUsage, Meminfo, Pressure, PressureError, ProcessLimits, PsiLine, PsiResource,
    REQUIRED_CONTROLLERS, Rlimit, TaskCeiling, Tasks, read_pressure,
};
pub use headroom::{Headroom, HoldReason, admits, headroom};
pub use lint::{LintFinding, lint_checks, lint_limits, lint_sysctl};
pub use need::{AgentNeed, Amount, Basis};
pub use plan::{
    Amounts, Budget, Configured, Dimension, Plan, PoolPlan, ServicesPlan, UnitPlan, plan,
    plan_checks, render_plan,
};
pub use probe::{Probe, Unknown};
pub use render::{render_text, summary};
pub use report::{doctor, worst};
pub use reserve::Reserve;
pub use root::HostRoot;
