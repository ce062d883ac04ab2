//! The human form of the doctor report: one block per check, worst news
//! visible at a glance, every fix on its own line to copy.

use stockade_proto::{Check, CheckStatus};

/// Render checks as the text `stockade doctor` prints.
pub fn render_text(checks: &[Check]) -> String {
    let mut out = String::new();
    for check in checks {
        let measured = match (&check.value, &check.limit) {
            (Some(v), Some(l)) => format!("{v} / {l}"),
            (Some(v), None) => v.clone(),
            (None, Some(l)) => format!("? / {l}"),
            (None, None) => String::new(),
        };
        out.push_str(&format!("{:<7} {:<22} {measured}\n", label(check.status), check.id));
        // Multi-line messages (a spec error rendered by miette) stay indented.
        out.push_str(&format!("        {}\n", check.message.replace('\n', "\n        ")));
        if let Some(fix) = &check.fix {
            out.push_str(&format!("        fix: {fix}\n"));
        }
    }
    out.push_str(&summary(checks));
    out.push('\n');
    out
}

/// `22 checks: 14 ok, 4 warn, 2 fail, 2 unknown`.
pub fn summary(checks: &[Check]) -> String {
    let count = |s: CheckStatus| checks.iter().filter(|c| c.status == s).count();
    format!(
        "{} checks: {} ok, {} warn, {} fail, {} unknown",
        checks.len(),
        count(CheckStatus::Ok),
        count(CheckStatus::Warn),
        count(CheckStatus::Fail),
        count(CheckStatus::Unknown)
    )
}

fn label(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Ok => "ok",
        CheckStatus::Warn => "WARN",
        CheckStatus::Fail => "FAIL",
        CheckStatus::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_messages_stay_indented_and_the_summary_counts() {
        let check = Check {
            id: "plan".into(),
            status: CheckStatus::Unknown,
            value: None,
            limit: Some("4".into()),
            message: "cannot plan\n  x unknown key".into(),
            fix: Some("stockade check".into()),
        };
        assert_eq!(
            render_text(&[check]),
            "unknown plan                   ? / 4\n        cannot plan\n          x unknown key\n\
             \x20       fix: stockade check\n1 checks: 0 ok, 0 warn, 0 fail, 1 unknown\n"
        );
    }
}
