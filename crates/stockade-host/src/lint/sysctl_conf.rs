//! `/etc/sysctl.d/*.conf` and `/etc/sysctl.conf`, in the order `sysctl
//! --system` applies them: the `.d` files by name, `sysctl.conf` last (a file
//! reached twice through a symlink such as `99-sysctl.conf -> ../sysctl.conf`
//! counts once, at its last position). Lines are `key = value`; `#` and `;`
//! start comments; a leading `-` means "ignore if the key is missing".
//!
//! Findings: a line that is not `key = value`; a key this kernel does not have
//! (with the nearest real name); a key a later line sets again; and a final
//! value the running kernel does not have — the file was never applied, the
//! state the field report's host would be in after editing sysctl.conf
//! without `sysctl --system`.

use super::spelling::closest;
use super::{LintFinding, conf_files, read_lines};
use crate::HostRoot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use stockade_proto::CheckStatus;

/// Where a key was last set.
#[derive(Debug, Clone)]
struct Setting {
    /// Position of the file in reading order, to report in that order.
    order: usize,
    file: String,
    line: usize,
    value: String,
}

/// Lint sysctl.d and sysctl.conf; returns how many files were read and the findings.
pub fn lint_sysctl(root: &HostRoot) -> (usize, Vec<LintFinding>) {
    let (mut files, _ignored) = conf_files(&root.etc.join("sysctl.d"));
    let main = root.etc.join("sysctl.conf");
    if main.exists() {
        files.push(main);
    }
    let files = dedupe_keep_last(files);
    let proc_sys = root.proc.join("sys");
    let can_check_keys = proc_sys.join("kernel").is_dir();
    let mut findings = Vec::new();
    let mut settings: BTreeMap<String, Setting> = BTreeMap::new();
    for (order, path) in files.iter().enumerate() {
        let lines = match read_lines(root, path) {
            Ok(lines) => lines,
            Err(finding) => {
                findings.push(finding);
                continue;
            }
        };
        let file = root.display(path);
        for (number, raw) in lines {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                findings.push(LintFinding {
                    file: file.clone(),
                    line: number,
                    status: CheckStatus::Fail,
                    message: format!("not `key = value`: {line:?}; sysctl skips it"),
                    fix: None,
                });
                continue;
            };
            let optional = key.trim_start().starts_with('-');
            let key = normalize(key.trim().trim_start_matches('-'));
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            if can_check_keys
                && !optional
                && !key.contains('*')
                && !key_path(&proc_sys, &key).exists()
            {
                let hint = nearest_key(&proc_sys, &key);
                findings.push(LintFinding {
                    file: file.clone(),
                    line: number,
                    status: CheckStatus::Fail,
                    message: match &hint {
                        Some(known) => {
                            format!("no sysctl `{key}` on this kernel (did you mean `{known}`?)")
                        }
                        None => format!(
                            "no sysctl `{key}` on this kernel: a typo, or its module is not loaded"
                        ),
                    },
                    fix: hint.map(|known| format!("{known} = {value}")),
                });
                continue;
            }
            let new = Setting { order, file: file.clone(), line: number, value: value.clone() };
            if let Some(old) = settings.insert(key.clone(), new) {
                findings.push(LintFinding {
                    file: old.file,
                    line: old.line,
                    status: CheckStatus::Warn,
                    message: format!(
                        "`{key} = {}` is overridden by {file}:{number} (`{key} = {value}`); this line has no effect",
                        old.value
                    ),
                    fix: None,
                });
            }
        }
    }
    let mut applied: Vec<(&String, &Setting)> = settings.iter().collect();
    applied.sort_by_key(|(_, s)| (s.order, s.line));
    for (key, setting) in applied {
        let Ok(live) = std::fs::read_to_string(key_path(&proc_sys, key)) else { continue };
        let live = live.split_whitespace().collect::<Vec<_>>().join(" ");
        if live != setting.value {
            findings.push(LintFinding {
                file: setting.file.clone(),
                line: setting.line,
                status: CheckStatus::Warn,
                message: format!(
                    "sets `{key} = {}` but the running kernel has {live}: not applied since it was written",
                    setting.value
                ),
                fix: Some(format!("sysctl --system (or now: sysctl -w {key}={})", setting.value)),
            });
        }
    }
    (files.len(), findings)
}

/// `kernel/threads-max` and `kernel.threads-max` name the same key.
fn normalize(key: &str) -> String {
    if key.contains('/') { key.trim_matches('/').replace('/', ".") } else { key.to_string() }
}

fn key_path(proc_sys: &Path, key: &str) -> PathBuf {
    proc_sys.join(key.replace('.', "/"))
}

/// The nearest existing key in the same directory (`kernel.thread-max` →
/// `kernel.threads-max`).
fn nearest_key(proc_sys: &Path, key: &str) -> Option<String> {
    let (dir, leaf) = key.rsplit_once('.')?;
    let names: Vec<String> = std::fs::read_dir(key_path(proc_sys, dir))
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    closest(leaf, &refs).map(|name| format!("{dir}.{name}"))
}

fn dedupe_keep_last(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let canonical: Vec<PathBuf> =
        files.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect();
    files
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !canonical[i + 1..].contains(&canonical[*i]))
        .map(|(_, p)| p)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;

    fn lint(fixture: &Fixture) -> Vec<LintFinding> {
        let (_dir, root) = fixture.write();
        lint_sysctl(&root).1
    }

    #[test]
    fn the_field_reports_fix_not_yet_applied_is_flagged() {
        let findings = lint(&Fixture::field_report());
        assert_eq!(findings.len(), 2, "{findings:#?}");
        assert_eq!(findings[0].location(), "/etc/sysctl.conf:2");
        assert!(findings[0].message.contains("running kernel has 6337"), "{}", findings[0].message);
        assert!(findings[0].fix.as_deref().unwrap().starts_with("sysctl --system"));
        assert_eq!(findings[1].location(), "/etc/sysctl.conf:3", "pid_max 65536 vs 32768");
    }

    #[test]
    fn typos_garbage_and_overrides_have_their_lines() {
        let mut f = Fixture::field_report();
        f.set("etc/sysctl.conf", "kernel.threads-max = 6337\n")
            .set(
                "etc/sysctl.d/10-a.conf",
                "kernel.thread-max = 65536\nthis is not a setting\n; comment\n-net.nope = 1\n",
            )
            .set("etc/sysctl.d/20-b.conf", "kernel/pid_max = 32768\nkernel.pid_max=32768\n")
            .set("etc/sysctl.d/README", "ignored\n");
        let findings = lint(&f);
        let seen: Vec<_> = findings.iter().map(|f| (f.location(), f.status)).collect();
        assert_eq!(
            seen,
            [
                ("/etc/sysctl.d/10-a.conf:1".to_string(), CheckStatus::Fail),
                ("/etc/sysctl.d/10-a.conf:2".to_string(), CheckStatus::Fail),
                ("/etc/sysctl.d/20-b.conf:1".to_string(), CheckStatus::Warn),
            ],
            "{findings:#?}"
        );
        assert!(
            findings[0].message.contains("did you mean `kernel.threads-max`"),
            "{}",
            findings[0].message
        );
        assert_eq!(findings[0].fix.as_deref(), Some("kernel.threads-max = 65536"));
        assert!(findings[2].message.contains("overridden by /etc/sysctl.d/20-b.conf:2"));
    }

    #[test]
    fn sysctl_conf_comes_last_and_a_symlinked_copy_counts_once() {
        let mut f = Fixture::field_report();
        f.set("etc/sysctl.conf", "kernel.pid_max = 32768\n")
            .set("etc/sysctl.d/50-x.conf", "kernel.pid_max = 65536\n");
        let (_dir, root) = f.write();
        std::os::unix::fs::symlink("../sysctl.conf", root.etc.join("sysctl.d/99-sysctl.conf"))
            .unwrap();
        let (files, findings) = lint_sysctl(&root);
        assert_eq!(files, 2);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].location(), "/etc/sysctl.d/50-x.conf:1");
        assert!(findings[0].message.contains("overridden by /etc/sysctl.conf:1"));
    }
}
