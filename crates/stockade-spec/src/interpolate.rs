//! `${VAR}` and `${VAR:-default}` in spec values, as docker compose reads
//! them: every string value of the parsed TOML (keys are left alone) is
//! interpolated before the tables are read, so a value that comes out of a
//! variable is validated like one written out.
//!
//! A variable comes from the daemon's environment first, then from a `.env`
//! file beside the spec (dotenv syntax; it feeds interpolation only, never an
//! agent's environment — that is what `env_file` is for).
//!
//! | written | gives |
//! |---|---|
//! | `${VAR}` | its value; unset: empty, and a [`SpecWarning`] |
//! | `${VAR:-default}` | its value, or `default` when unset or empty |
//! | `${VAR-default}` | its value, or `default` when unset |
//! | `$${` | a literal `${` |
//!
//! A lone `$` (`$HOME`, `$$` in a shell command) is left as written: only
//! the braced form is interpolated, so commands that use the shell's own
//! `$VAR` keep working.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{SpecDiagnostic, SpecWarning};
use crate::problem::Problem;

/// Where variables come from.
pub(crate) struct Vars<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    dotenv: HashMap<String, String>,
}

impl<'e> Vars<'e> {
    /// The daemon's environment, then the `.env` in `dir` (if there is one).
    /// A `.env` that does not parse is a diagnostic without a place in the spec.
    pub(crate) fn new(
        env: &'e dyn Fn(&str) -> Option<String>,
        dir: &Path,
        diagnostics: &mut Vec<SpecDiagnostic>,
    ) -> Vars<'e> {
        let path = dir.join(".env");
        let dotenv = match std::fs::read_to_string(&path) {
            Ok(text) => match crate::model::parse_env_file(&text) {
                Ok(vars) => vars.into_iter().collect(),
                Err(e) => {
                    let problem = Problem::BadEnvFileLine {
                        key: ".env".into(),
                        path,
                        line: e.line,
                        reason: e.reason,
                    };
                    diagnostics.push(SpecDiagnostic::new(problem, None));
                    HashMap::new()
                }
            },
            Err(_) => HashMap::new(),
        };
        Vars { env, dotenv }
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.env)(name).or_else(|| self.dotenv.get(name).cloned())
    }
}

/// What interpolating one string found wrong.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// `${` with no closing `}`.
    Unclosed,
    /// `${}` or a name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    BadName(String),
}

/// `text` with its variables replaced, and the names used but not defined.
pub(crate) fn interpolate(text: &str, vars: &Vars<'_>) -> Result<(String, Vec<String>), Bad> {
    if !text.contains("${") {
        return Ok((text.to_owned(), Vec::new()));
    }
    let mut out = String::with_capacity(text.len());
    let mut undefined = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or(Bad::Unclosed)?;
            let inner = &tail[..end];
            let (name, default) = match inner.find([':', '-']) {
                Some(i) if inner[i..].starts_with(":-") => {
                    (&inner[..i], Some((&inner[i + 2..], true)))
                }
                Some(i) if inner[i..].starts_with('-') => {
                    (&inner[..i], Some((&inner[i + 1..], false)))
                }
                _ => (inner, None),
            };
            if !crate::model::valid_env_name(name) {
                return Err(Bad::BadName(inner.to_owned()));
            }
            match (vars.get(name), default) {
                (Some(value), Some((default, true))) if value.is_empty() => out.push_str(default),
                (Some(value), _) => out.push_str(&value),
                (None, Some((default, _))) => out.push_str(default),
                (None, None) => undefined.push(name.to_owned()),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok((out, undefined))
}

/// Interpolate every string value under `table`: bad syntax becomes a
/// diagnostic at the value, an undefined variable a warning there.
pub(crate) fn table(
    table: &mut DeTable<'_>,
    vars: &Vars<'_>,
    diagnostics: &mut Vec<SpecDiagnostic>,
    warnings: &mut Vec<(String, Range<usize>)>,
) {
    for (_, value) in table.iter_mut() {
        walk(value, vars, diagnostics, warnings);
    }
}

fn walk(
    value: &mut Spanned<DeValue<'_>>,
    vars: &Vars<'_>,
    diagnostics: &mut Vec<SpecDiagnostic>,
    warnings: &mut Vec<(String, Range<usize>)>,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(text) => match interpolate(text, vars) {
            Ok((done, undefined)) => {
                for name in undefined {
                    warnings.push((
                        format!("variable {name} is not set (in the daemon's environment or a .env beside the spec): `${{{name}}}` becomes an empty string; set it or write `${{{name}:-default}}`"),
                        span.clone(),
                    ));
                }
                if done != **text {
                    *text = done.into();
                }
            }
            Err(bad) => {
                let message = match bad {
                    Bad::Unclosed => "`${` is not closed with `}`".to_owned(),
                    Bad::BadName(name) => format!("`${{{name}}}` does not name a variable"),
                };
                diagnostics
                    .push(SpecDiagnostic::new(Problem::BadInterpolation { message }, Some(span)));
            }
        },
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                walk(item, vars, diagnostics, warnings);
            }
        }
        DeValue::Table(inner) => table(inner, vars, diagnostics, warnings),
        _ => {}
    }
}

/// Warnings with their place in `source`.
pub(crate) fn place(source: &str, found: Vec<(String, Range<usize>)>) -> Vec<SpecWarning> {
    found
        .into_iter()
        .map(|(message, span)| {
            let (line, column) = crate::error::line_col(source, span.start);
            SpecWarning { message, line, column }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn variables_defaults_and_escapes() {
        let env = with(&[("MODEL", "gpt"), ("EMPTY", "")]);
        let dir = tempfile::tempdir().unwrap();
        let vars = Vars::new(&env, dir.path(), &mut Vec::new());
        let run = |t: &str| interpolate(t, &vars).unwrap();
        assert_eq!(run("--model=${MODEL}"), ("--model=gpt".into(), vec![]));
        assert_eq!(run("${EMPTY:-x}/${EMPTY-y}"), ("x/".into(), vec![]));
        assert_eq!(run("${NOPE:-9100}"), ("9100".into(), vec![]));
        assert_eq!(run("a${NOPE}b"), ("ab".into(), vec!["NOPE".to_string()]));
        assert_eq!(run("$${MODEL} $HOME $$"), ("${MODEL} $HOME $$".into(), vec![]));
        assert_eq!(interpolate("${MODEL", &vars), Err(Bad::Unclosed));
        assert_eq!(interpolate("${1X}", &vars), Err(Bad::BadName("1X".into())));
    }

    #[test]
    fn the_environment_wins_over_the_dotenv_beside_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "PORT=9100\nMODEL=\"from-file\"\n").unwrap();
        let env = with(&[("MODEL", "from-env")]);
        let vars = Vars::new(&env, dir.path(), &mut Vec::new());
        assert_eq!(interpolate("${MODEL}:${PORT}", &vars).unwrap().0, "from-env:9100");
    }
}
