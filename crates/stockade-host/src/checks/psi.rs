//! Pressure stall information for cpu, memory and io (avg10).
//!
//! Memory: warn at `some` ≥ 10 %, fail at `full` ≥ 20 % (queue-anchors §4.3:
//! well below systemd-oomd's 60 %, so stockade sheds load first). CPU pressure
//! slows agents but kills none: warn at `some` ≥ 50 %, never fail. IO: warn
//! at `some` ≥ 50 % or `full` ≥ 20 %.

use super::unknown;
use crate::{HostFacts, PsiResource};
use stockade_proto::{Check, CheckStatus};

/// Thresholds for one resource; `None` never triggers.
struct Thresholds {
    warn_some: Option<f64>,
    warn_full: Option<f64>,
    fail_full: Option<f64>,
}

/// The `psi_cpu`, `psi_memory` and `psi_io` checks.
pub fn checks(facts: &HostFacts) -> Vec<Check> {
    let pressure = match &facts.pressure {
        Ok(p) => p,
        Err(why) => {
            let fix = Some("add psi=1 to the kernel command line and reboot".to_string());
            return ["cpu", "memory", "io"]
                .iter()
                .map(|r| unknown(&format!("psi_{r}"), &format!("{r} pressure"), why, fix.clone()))
                .collect();
        }
    };
    vec![
        one(
            "cpu",
            &pressure.cpu,
            Thresholds { warn_some: Some(50.0), warn_full: None, fail_full: None },
        ),
        one(
            "memory",
            &pressure.memory,
            Thresholds { warn_some: Some(10.0), warn_full: None, fail_full: Some(20.0) },
        ),
        one(
            "io",
            &pressure.io,
            Thresholds { warn_some: Some(50.0), warn_full: Some(20.0), fail_full: None },
        ),
    ]
}

fn one(name: &str, r: &PsiResource, t: Thresholds) -> Check {
    let some = r.some.avg10;
    let full = r.full.map(|f| f.avg10);
    let over = |value: Option<f64>, threshold: Option<f64>| match (value, threshold) {
        (Some(v), Some(t)) => v >= t,
        _ => false,
    };
    let status = if over(full, t.fail_full) {
        CheckStatus::Fail
    } else if over(Some(some), t.warn_some) || over(full, t.warn_full) {
        CheckStatus::Warn
    } else {
        CheckStatus::Ok
    };
    let value = match full {
        Some(full) => format!("some {some:.2}% full {full:.2}%"),
        None => format!("some {some:.2}%"),
    };
    let mut limits = Vec::new();
    if let Some(w) = t.warn_some {
        limits.push(format!("warn some {w}%"));
    }
    if let Some(w) = t.warn_full {
        limits.push(format!("warn full {w}%"));
    }
    if let Some(f) = t.fail_full {
        limits.push(format!("fail full {f}%"));
    }
    let message = match status {
        CheckStatus::Ok => format!("{name} pressure over the last 10 s is low"),
        // Only memory and cpu pressure steer admission (`auto` pools shrink
        // under them); io pressure is reported, not acted on.
        _ if name == "io" => {
            "tasks stalled on io over the last 10 s; agents doing io run slower while this lasts"
                .to_string()
        }
        _ => format!(
            "tasks stalled on {name} over the last 10 s; `auto` pools shrink while this lasts"
        ),
    };
    Check {
        id: format!("psi_{name}"),
        status,
        value: Some(value),
        limit: Some(limits.join(", ")),
        message,
        fix: None,
    }
}
