//! `/etc/security/limits.conf` and `limits.d/*.conf`, read as pam_limits reads
//! them: lines `<domain> <type> <item> <value>`, `#` comments, type and item
//! case-insensitive, `limits.conf` first and then `limits.d` in name order.
//! For one domain the later line wins; pam_limits skips a line with an unknown
//! item or type, or an unparsable value, with nothing but a debug log — which
//! is how `noproc` survived in the field report.

use super::spelling::closest;
use super::{LintFinding, conf_files, read_lines};
use crate::HostRoot;
use std::collections::BTreeMap;
use stockade_proto::CheckStatus;

const ITEMS: [&str; 20] = [
    "core",
    "data",
    "fsize",
    "memlock",
    "nofile",
    "rss",
    "stack",
    "cpu",
    "nproc",
    "as",
    "maxlogins",
    "maxsyslogins",
    "nonewprivs",
    "priority",
    "locks",
    "sigpending",
    "msgqueue",
    "nice",
    "rtprio",
    "rttime",
];
const TYPES: [&str; 3] = ["soft", "hard", "-"];

/// Which half of an rlimit a line sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Half {
    Soft,
    Hard,
}

/// Where a (domain, item, half) was last set, and to what.
#[derive(Debug, Clone)]
struct Setting {
    file: String,
    line: usize,
    /// `None` for unlimited.
    value: Option<u64>,
    text: String,
}

/// Lint limits.conf and limits.d; returns how many files were read and the findings.
pub fn lint_limits(root: &HostRoot) -> (usize, Vec<LintFinding>) {
    let security = root.etc.join("security");
    let (dropins, ignored) = conf_files(&security.join("limits.d"));
    let mut findings = Vec::new();
    for path in ignored {
        findings.push(LintFinding {
            file: root.display(&path),
            line: 0,
            status: CheckStatus::Warn,
            message: "ignored: pam_limits reads only *.conf files in limits.d".into(),
            fix: Some(format!("mv {0} {0}.conf", root.display(&path))),
        });
    }
    let mut files = Vec::new();
    let main = security.join("limits.conf");
    if main.exists() {
        files.push(main);
    }
    files.extend(dropins);
    let mut settings: BTreeMap<(String, String, Half), Setting> = BTreeMap::new();
    for path in &files {
        let lines = match read_lines(root, path) {
            Ok(lines) => lines,
            Err(finding) => {
                findings.push(finding);
                continue;
            }
        };
        let file = root.display(path);
        for (number, raw) in lines {
            lint_line(&file, number, &raw, &mut settings, &mut findings);
        }
    }
    soft_above_hard(&settings, &mut findings);
    (files.len(), findings)
}

fn lint_line(
    file: &str,
    number: usize,
    raw: &str,
    settings: &mut BTreeMap<(String, String, Half), Setting>,
    findings: &mut Vec<LintFinding>,
) {
    let line = raw.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return;
    }
    let finding = |status, message: String, fix: Option<String>| LintFinding {
        file: file.to_string(),
        line: number,
        status,
        message,
        fix,
    };
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() == 2 && fields[1] == "-" {
        return; // `<domain> -`: "no limits" for that domain.
    }
    if fields.len() == 3 && TYPES.contains(&fields[0].to_lowercase().as_str()) {
        findings.push(finding(
            CheckStatus::Fail,
            format!("missing domain: {line:?} applies to nobody; pam_limits skips it"),
            Some(format!("* {}", fields.join(" "))),
        ));
        return;
    }
    if fields.len() < 4 {
        findings.push(finding(
            CheckStatus::Fail,
            format!("not `<domain> <type> <item> <value>`: {line:?}; pam_limits skips it"),
            None,
        ));
        return;
    }
    let (domain, kind, item) = (fields[0], fields[1].to_lowercase(), fields[2].to_lowercase());
    let value = fields[3].to_lowercase();
    let corrected =
        |kind: &str, item: &str| format!("{domain} {kind} {item} {}", fields[3..].join(" "));
    if !ITEMS.contains(&item.as_str()) {
        let hint = closest(&item, &ITEMS);
        findings.push(finding(
            CheckStatus::Fail,
            match hint {
                Some(known) => format!("unknown item `{item}` (did you mean `{known}`?); pam_limits skips the line, so this limit is never set"),
                None => format!("unknown item `{item}`; pam_limits skips the line. Items: {}", ITEMS.join(", ")),
            },
            hint.map(|known| corrected(&kind, known)),
        ));
        return;
    }
    if !TYPES.contains(&kind.as_str()) {
        let hint = closest(&kind, &TYPES[..2]);
        findings.push(finding(
            CheckStatus::Fail,
            format!("unknown type `{kind}`: use soft, hard or - (both); pam_limits skips the line"),
            Some(corrected(hint.unwrap_or("-"), &item)),
        ));
        return;
    }
    if fields.len() > 4 {
        findings.push(finding(
            CheckStatus::Warn,
            format!("text after the value is ignored: {:?}", fields[4..].join(" ")),
            Some(fields[..4].join(" ")),
        ));
    }
    if domain.starts_with('%') && item != "maxlogins" {
        findings.push(finding(
            CheckStatus::Fail,
            format!("the `%` domain applies to maxlogins only; pam_limits ignores it for `{item}`"),
            Some(corrected(&kind, &item)),
        ));
        return;
    }
    let parsed = match parse_value(&item, &value) {
        Ok(parsed) => parsed,
        Err(expected) => {
            findings.push(finding(
                CheckStatus::Fail,
                format!(
                    "value `{value}` for `{item}` is not {expected}; pam_limits skips the line"
                ),
                None,
            ));
            return;
        }
    };
    let halves: &[Half] = match kind.as_str() {
        "soft" => &[Half::Soft],
        "hard" => &[Half::Hard],
        _ => &[Half::Soft, Half::Hard],
    };
    for &half in halves {
        let key = (domain.to_string(), item.clone(), half);
        let new =
            Setting { file: file.to_string(), line: number, value: parsed, text: line.to_string() };
        if let Some(old) = settings.insert(key, new) {
            findings.push(LintFinding {
                file: old.file.clone(),
                line: old.line,
                status: CheckStatus::Warn,
                message: format!(
                    "{} {item} for `{domain}` is overridden by {file}:{number} ({line:?}); this line has no effect",
                    if half == Half::Soft { "soft" } else { "hard" }
                ),
                fix: None,
            });
        }
    }
}

/// `Ok(None)` for unlimited, `Ok(Some(n))`, or `Err(what was expected)`.
fn parse_value(item: &str, value: &str) -> Result<Option<u64>, &'static str> {
    match item {
        "nonewprivs" => match value {
            "0" | "1" => Ok(value.parse().ok()),
            _ => Err("0 or 1"),
        },
        "priority" | "nice" | "maxlogins" | "maxsyslogins" => {
            value.parse::<i64>().map(|v| Some(v.max(0) as u64)).map_err(|_| "an integer")
        }
        _ => match value {
            "-1" | "-" | "unlimited" | "infinity" => Ok(None),
            _ => value.parse().map(Some).map_err(|_| "a number, `unlimited` or `-1`"),
        },
    }
}

fn soft_above_hard(
    settings: &BTreeMap<(String, String, Half), Setting>,
    findings: &mut Vec<LintFinding>,
) {
    for ((domain, item, half), soft) in settings {
        if *half != Half::Soft {
            continue;
        }
        let Some(hard) = settings.get(&(domain.clone(), item.clone(), Half::Hard)) else {
            continue;
        };
        let above = match (soft.value, hard.value) {
            (Some(s), Some(h)) => s > h,
            (None, Some(_)) => true,
            _ => false,
        };
        if above {
            let show =
                |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |v| v.to_string());
            findings.push(LintFinding {
                file: soft.file.clone(),
                line: soft.line,
                status: CheckStatus::Warn,
                message: format!(
                    "soft {item} {} for `{domain}` is above its hard limit {} ({}:{}, {:?}); \
                     a soft limit cannot exceed the hard one",
                    show(soft.value),
                    show(hard.value),
                    hard.file,
                    hard.line,
                    hard.text
                ),
                fix: Some(format!("{domain} soft {item} {}", show(hard.value))),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;

    fn lint(limits_conf: &str, dropins: &[(&str, &str)]) -> Vec<LintFinding> {
        let mut f = Fixture::default();
        f.set("etc/security/limits.conf", limits_conf);
        for (name, text) in dropins {
            f.set(&format!("etc/security/limits.d/{name}"), text);
        }
        let (_dir, root) = f.write();
        lint_limits(&root).1
    }

    #[test]
    fn the_field_reports_noproc_is_an_unknown_item_with_a_fix() {
        let findings = lint(&Fixture::field_report_limits_conf(), &[]);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let f = &findings[0];
        assert_eq!(f.location(), "/etc/security/limits.conf:3");
        assert_eq!(f.status, CheckStatus::Fail);
        assert!(f.message.contains("did you mean `nproc`"), "{}", f.message);
        assert_eq!(f.fix.as_deref(), Some("* soft nproc 65535"));
    }

    #[test]
    fn nofiles_and_a_missing_domain_are_caught() {
        let findings = lint("* soft nofiles 65535\nsoft nproc 50000\n", &[]);
        assert_eq!(findings.len(), 2, "{findings:#?}");
        assert!(findings[0].message.contains("did you mean `nofile`"));
        assert_eq!(findings[0].fix.as_deref(), Some("* soft nofile 65535"));
        assert!(findings[1].message.starts_with("missing domain"), "{}", findings[1].message);
        assert_eq!(findings[1].fix.as_deref(), Some("* soft nproc 50000"));
    }

    #[test]
    fn soft_above_hard_points_at_both_lines() {
        let findings = lint("* hard nofile 4096\n", &[("10-app.conf", "* soft nofile 65535\n")]);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].location(), "/etc/security/limits.d/10-app.conf:1");
        assert!(
            findings[0].message.contains("/etc/security/limits.conf:1"),
            "{}",
            findings[0].message
        );
        assert_eq!(findings[0].fix.as_deref(), Some("* soft nofile 4096"));
    }

    #[test]
    fn a_later_file_overrides_an_earlier_line() {
        let findings = lint(
            "* - nproc 65535\n",
            &[
                ("90-b.conf", "* hard nproc 1000\n* soft nproc 1000\n"),
                ("20-a.conf", "@dev soft nproc 5\n"),
            ],
        );
        let overridden: Vec<_> =
            findings.iter().filter(|f| f.message.contains("overridden")).collect();
        assert_eq!(overridden.len(), 2, "{findings:#?}");
        assert!(overridden.iter().all(|f| f.location() == "/etc/security/limits.conf:1"));
        assert!(overridden[0].message.contains("/etc/security/limits.d/90-b.conf:"));
    }

    #[test]
    fn garbage_lines_are_reported_not_fatal() {
        let findings = lint(
            "\u{0}\u{1}binary\n* soft\n* bogus nofile 10\n* soft nofile lots\n%admins soft nofile 10\n\
             * soft core 0 trailing words\n   # comment\n\n* -\n",
            &[("notes.txt", "* soft nofile 1\n")],
        );
        let lines: Vec<_> = findings.iter().map(|f| (f.location(), f.status)).collect();
        assert_eq!(
            lines,
            [
                ("/etc/security/limits.d/notes.txt".to_string(), CheckStatus::Warn),
                ("/etc/security/limits.conf:1".to_string(), CheckStatus::Fail),
                ("/etc/security/limits.conf:2".to_string(), CheckStatus::Fail),
                ("/etc/security/limits.conf:3".to_string(), CheckStatus::Fail),
                ("/etc/security/limits.conf:4".to_string(), CheckStatus::Fail),
                ("/etc/security/limits.conf:5".to_string(), CheckStatus::Fail),
                ("/etc/security/limits.conf:6".to_string(), CheckStatus::Warn),
            ]
        );
    }

    #[test]
    fn a_clean_file_and_no_file_are_silent() {
        assert!(
            lint("* soft nofile 65535\n* hard nofile 65535\nroot - nproc unlimited\n", &[])
                .is_empty()
        );
        let (_dir, root) = Fixture::default().write();
        assert_eq!(lint_limits(&root), (0, vec![]));
    }
}
