//! `env_file`, `inherit_env`, `submit_env`: where a walled box's environment
//! comes from besides `env` (the assembly itself is [`crate::box_env`]).

use std::path::PathBuf;

/// Submitted env keys refused in `submit_env`, whatever a template says: each
/// one changes *which code runs* rather than what the code is told, so letting
/// a submitter set it would hand them the command. Exact names; see
/// [`FORBIDDEN_SUBMIT_PREFIXES`] for the families.
///
/// - `PATH`: which binary a bare command name is.
/// - `HOME`: dotfiles (`.bashrc`, `.profile`) and Python's user site-packages
///   (`~/.local/lib/python3*/site-packages`, imported at start).
/// - `BASH_ENV`, `ENV`, `SHELLOPTS`, `BASHOPTS`, `PS4`, `IFS`: shell startup
///   files and options that run or re-parse code in every `sh -c`.
/// - `PYTHONPATH`, `PYTHONHOME`, `PYTHONSTARTUP`, `PYTHONUSERBASE`,
///   `PERL5LIB`, `PERL5OPT`, `PERLLIB`, `RUBYLIB`, `RUBYOPT`, `NODE_OPTIONS`,
///   `NODE_PATH`: interpreters' module paths and injected options.
/// - `GCONV_PATH`, `LOCPATH`: glibc loads shared objects / data from them.
pub const FORBIDDEN_SUBMIT_ENV: [&str; 21] = [
    "PATH",
    "HOME",
    "BASH_ENV",
    "ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "IFS",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "RUBYLIB",
    "RUBYOPT",
    "NODE_OPTIONS",
    "NODE_PATH",
    "GCONV_PATH",
    "LOCPATH",
];

/// Prefixes refused in `submit_env`: `LD_` (the dynamic loader: `LD_PRELOAD`,
/// `LD_LIBRARY_PATH`, `LD_AUDIT`, …) and `BASH_FUNC_` (exported bash functions
/// that replace commands by name).
pub const FORBIDDEN_SUBMIT_PREFIXES: [&str; 2] = ["LD_", "BASH_FUNC_"];

/// Why `name` may never be a submitted env key, or `None` if it may be.
pub fn forbidden_submit_env(name: &str) -> Option<&'static str> {
    if FORBIDDEN_SUBMIT_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Some("it changes which libraries or functions are loaded");
    }
    FORBIDDEN_SUBMIT_ENV
        .contains(&name)
        .then_some("it changes which program or module runs, not what it is told")
}

/// Whether `name` is a portable environment variable name:
/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `env_file`: `KEY=VALUE` lines read when the spec was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    /// Absolute path of the file.
    pub path: PathBuf,
    /// The variables in file order (a later line wins over an earlier one).
    pub vars: Vec<(String, String)>,
}

/// One `inherit_env` entry: a variable of the daemon's environment the box
/// may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvPattern {
    /// `"NAME"`: exactly that variable.
    Name(String),
    /// `"PREFIX_*"`: every variable whose name starts with `PREFIX_`.
    Prefix(String),
}

impl EnvPattern {
    /// Parse one entry; `None` if it is not a name or a name with a trailing `*`.
    pub fn parse(text: &str) -> Option<EnvPattern> {
        match text.strip_suffix('*') {
            Some(prefix) if prefix.is_empty() || valid_env_name(prefix) => {
                (!prefix.is_empty()).then(|| EnvPattern::Prefix(prefix.to_owned()))
            }
            Some(_) => None,
            None => valid_env_name(text).then(|| EnvPattern::Name(text.to_owned())),
        }
    }

    /// Whether the variable `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            EnvPattern::Name(n) => n == name,
            EnvPattern::Prefix(p) => name.starts_with(p.as_str()),
        }
    }
}

/// A bad line of an env file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct EnvFileLineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parse the text of an env file in dotenv syntax (the `dotenvy` crate, as
/// docker compose's `env_file` reads it): `KEY=VALUE` per line, `export`
/// allowed before the name, values optionally single- or double-quoted
/// (double quotes take `\n` escapes and may span lines), `#` comments, and
/// `$VAR` / `${VAR}` in unquoted and double-quoted values replaced from the
/// earlier lines and the daemon's environment (single-quote a value to keep
/// a `$`).
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, EnvFileLineError> {
    let mut vars = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        let (key, value) = match item {
            Ok(pair) => pair,
            Err(dotenvy::Error::LineParse(line, _)) => {
                return Err(EnvFileLineError {
                    line: line_of(text, &line),
                    reason: "expected KEY=VALUE (dotenv syntax: `export` allowed, values may be quoted)",
                });
            }
            Err(_) => {
                return Err(EnvFileLineError { line: 1, reason: "not readable as a dotenv file" });
            }
        };
        if !valid_env_name(&key) {
            return Err(EnvFileLineError {
                line: line_of(text, &key),
                reason: "the name before `=` must be letters, digits and `_`",
            });
        }
        if value.contains('\0') {
            return Err(EnvFileLineError {
                line: line_of(text, &key),
                reason: "a value cannot contain a NUL byte",
            });
        }
        vars.push((key, value));
    }
    Ok(vars)
}

/// The 1-based line of `text` where `needle`'s first line first appears.
fn line_of(text: &str, needle: &str) -> usize {
    let first = needle.lines().next().unwrap_or(needle).trim();
    text.lines().position(|l| !first.is_empty() && l.contains(first)).map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_are_dotenv_quotes_export_and_comments() {
        let vars = parse_env_file(
            "# c\n\nA=1\nB=x=y\nC=\"q r\"\nexport D=\nE='$KEEP'\nF=\"${A}-2\" # note\n",
        )
        .unwrap();
        let want =
            [("A", "1"), ("B", "x=y"), ("C", "q r"), ("D", ""), ("E", "$KEEP"), ("F", "1-2")];
        assert_eq!(
            vars,
            want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_bad_env_file_line_is_numbered() {
        assert_eq!(parse_env_file("A=1\n\nnonsense\n").unwrap_err().line, 3);
        assert_eq!(parse_env_file("1A=x").unwrap_err().line, 1);
    }

    #[test]
    fn inherit_patterns_are_names_or_trailing_star_prefixes() {
        assert_eq!(EnvPattern::parse("AWS_*"), Some(EnvPattern::Prefix("AWS_".into())));
        assert_eq!(EnvPattern::parse("LANG"), Some(EnvPattern::Name("LANG".into())));
        for bad in ["*", "A*B", "*_KEY", "A-B", ""] {
            assert_eq!(EnvPattern::parse(bad), None, "{bad}");
        }
        assert!(EnvPattern::Prefix("AWS_".into()).matches("AWS_REGION"));
        assert!(!EnvPattern::Name("AWS".into()).matches("AWS_REGION"));
    }

    #[test]
    fn names_that_pick_the_code_are_never_submittable() {
        for name in ["PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "BASH_FUNC_ls%%"] {
            assert!(forbidden_submit_env(name).is_some(), "{name}");
        }
        for name in ["TASK_ID", "MODEL", "LANG"] {
            assert!(forbidden_submit_env(name).is_none(), "{name}");
        }
    }
}
