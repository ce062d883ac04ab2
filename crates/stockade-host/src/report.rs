//! The whole doctor run: every host check, then the config lint.

use crate::{Depth, HostFacts, HostRoot, checks, lint_checks};
use stockade_proto::{Check, CheckStatus};

/// Read the host deeply through `root` and return every check, host probes
/// first, then the limits.conf and sysctl.conf lint.
pub fn doctor(root: &HostRoot) -> Vec<Check> {
    let facts = HostFacts::read_with(root, Depth::Deep);
    let mut all = checks(&facts);
    all.extend(lint_checks(root));
    all
}

/// The worst verdict among `checks`, ignoring `unknown` (it says "could not
/// measure", not "broken"): what `stockade doctor`'s exit code reflects.
pub fn worst(checks: &[Check]) -> CheckStatus {
    checks
        .iter()
        .map(|c| c.status)
        .filter(|s| *s != CheckStatus::Unknown)
        .max()
        .unwrap_or(CheckStatus::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;
    use crate::render_text;

    #[test]
    fn the_field_reports_host_in_full() {
        let (_dir, root) = Fixture::field_report().write();
        let all = doctor(&root);
        assert_eq!(worst(&all), CheckStatus::Fail);
        let lint: Vec<_> = all.iter().filter(|c| c.id == "limits_conf").collect();
        assert_eq!(lint.len(), 1);
        assert_eq!(lint[0].value.as_deref(), Some("/etc/security/limits.conf:3"));
        insta::assert_snapshot!(render_text(&all));
    }

    #[test]
    fn the_json_form_uses_the_wire_names() {
        let (_dir, root) = Fixture::field_report().write();
        let json = serde_json::to_value(doctor(&root)).unwrap();
        assert_eq!(json[0]["id"], "threads");
        assert_eq!(json[0]["status"], "fail");
        assert_eq!(json[0]["value"], "5279");
        assert_eq!(json[0]["limit"], "6337");
    }

    #[test]
    fn worst_ignores_unknown() {
        let check = |status| Check {
            id: "x".into(),
            status,
            value: None,
            limit: None,
            message: String::new(),
            fix: None,
        };
        assert_eq!(
            worst(&[check(CheckStatus::Unknown), check(CheckStatus::Warn)]),
            CheckStatus::Warn
        );
        assert_eq!(worst(&[check(CheckStatus::Unknown)]), CheckStatus::Ok);
        assert_eq!(worst(&[]), CheckStatus::Ok);
    }
}
