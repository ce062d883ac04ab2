//! [`Table`] and [`Reader`]: typed, error-collecting access to a parsed TOML table.
//!
//! Every getter returns `None` both when a key is absent and when its value is
//! bad; in the second case it has already recorded a diagnostic, so callers
//! fall back to the default and carry on — that is how one pass reports every
//! problem at once. Unknown keys are reported when a table is opened, against
//! the list of keys valid at that position.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::duration::parse_duration;
use crate::error::SpecDiagnostic;
use crate::problem::Problem;
use crate::size::parse_size;
use crate::suggest::closest;

/// A TOML value with its byte span.
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// An opened table: its dotted path, where to point for table-level problems,
/// and its entries.
pub(crate) struct Table<'a, 'i> {
    pub(crate) path: String,
    pub(crate) span: Range<usize>,
    entries: &'a DeTable<'i>,
}

impl<'a, 'i> Table<'a, 'i> {
    /// The value under `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.entries.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
    }

    /// The dotted path of `key` in this table.
    pub(crate) fn key(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    /// How messages name this table: `[service.web]`, or `the top level`.
    pub(crate) fn display(&self) -> String {
        if self.path.is_empty() { "the top level".to_owned() } else { format!("[{}]", self.path) }
    }

    /// Where `key`'s value is, or the table itself when the key is absent.
    pub(crate) fn span_of(&self, key: &str) -> Range<usize> {
        self.get(key).map_or_else(|| self.span.clone(), |v| v.span())
    }

    /// Entries in file order, with the key's span.
    pub(crate) fn entries(&self) -> Vec<(&'a str, Range<usize>, &'a Value<'i>)> {
        let mut entries: Vec<_> =
            self.entries.iter().map(|(k, v)| (k.get_ref().as_ref(), k.span(), v)).collect();
        entries.sort_by_key(|(_, span, _)| span.start);
        entries
    }
}

/// The state of one pass over a spec: collected diagnostics and the context
/// values are resolved against.
pub(crate) struct Reader<'e> {
    pub(crate) diagnostics: Vec<SpecDiagnostic>,
    pub(crate) env: &'e dyn Fn(&str) -> Option<String>,
    pub(crate) base_dir: PathBuf,
}

impl Reader<'_> {
    pub(crate) fn report(&mut self, problem: Problem, span: Range<usize>) {
        self.diagnostics.push(SpecDiagnostic::new(problem, Some(span)));
    }

    pub(crate) fn push(&mut self, diagnostic: SpecDiagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn wrong_type(&mut self, key: String, expected: &'static str, value: &Value<'_>) {
        let found = value.get_ref().type_str();
        self.report(Problem::WrongType { key, expected, found }, value.span());
    }

    /// Open `value` as the table at `path`; `name_span` is where table-level
    /// problems point (the header's last key).
    pub(crate) fn open<'a, 'i>(
        &mut self,
        path: String,
        name_span: Range<usize>,
        value: &'a Value<'i>,
        known: &'static [&'static str],
    ) -> Option<Table<'a, 'i>> {
        let Some(entries) = value.get_ref().as_table() else {
            self.wrong_type(path, "a table", value);
            return None;
        };
        let table = Table { path, span: name_span, entries };
        for (key, span, _) in table.entries() {
            if !known.contains(&key) {
                let suggestion = closest(key, known.iter().copied()).map(str::to_owned);
                let problem = Problem::UnknownKey {
                    table: table.display(),
                    key: key.to_owned(),
                    suggestion,
                    valid: known.to_vec(),
                };
                self.report(problem, span);
            }
        }
        Some(table)
    }

    /// Open the sub-table `key` of `table` whose keys are names (`depends_on`),
    /// so any key is valid.
    pub(crate) fn sub_map<'a, 'i>(
        &mut self,
        table: &Table<'a, 'i>,
        key: &str,
    ) -> Option<Table<'a, 'i>> {
        let value = table.get(key)?;
        let Some(entries) = value.get_ref().as_table() else {
            self.wrong_type(table.key(key), "a table", value);
            return None;
        };
        Some(Table { path: table.key(key), span: value.span(), entries })
    }

    /// Open the sub-table `key` of `table`, if present.
    pub(crate) fn sub<'a, 'i>(
        &mut self,
        table: &Table<'a, 'i>,
        key: &str,
        known: &'static [&'static str],
    ) -> Option<Table<'a, 'i>> {
        let value = table.get(key)?;
        let span = table.entries().into_iter().find(|(k, _, _)| *k == key).map(|(_, s, _)| s)?;
        self.open(table.key(key), span, value, known)
    }

    pub(crate) fn string(&mut self, table: &Table<'_, '_>, key: &str) -> Option<String> {
        let value = table.get(key)?;
        match value.get_ref().as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.wrong_type(table.key(key), "a string", value);
                None
            }
        }
    }

    pub(crate) fn duration(&mut self, table: &Table<'_, '_>, key: &str) -> Option<Duration> {
        let value = table.get(key)?;
        let Some(text) = value.get_ref().as_str() else {
            self.wrong_type(table.key(key), "a duration string such as \"10s\"", value);
            return None;
        };
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(source) => {
                let problem =
                    Problem::BadDuration { key: table.key(key), text: text.to_owned(), source };
                self.report(problem, value.span());
                None
            }
        }
    }

    /// A duration that must not be zero.
    pub(crate) fn positive_duration(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
    ) -> Option<Duration> {
        let d = self.duration(table, key)?;
        if d.is_zero() {
            self.out_of_range(table, key, "0s", "longer than zero");
            return None;
        }
        Some(d)
    }

    /// A size: a string with a unit, or an integer number of bytes.
    pub(crate) fn size(&mut self, table: &Table<'_, '_>, key: &str) -> Option<u64> {
        let value = table.get(key)?;
        match value.get_ref() {
            DeValue::String(text) => match parse_size(text) {
                Ok(n) => Some(n),
                Err(source) => {
                    let problem =
                        Problem::BadSize { key: table.key(key), text: text.to_string(), source };
                    self.report(problem, value.span());
                    None
                }
            },
            DeValue::Integer(_) => self.unsigned(table, key),
            _ => {
                self.wrong_type(
                    table.key(key),
                    "a size such as \"512MiB\" or a number of bytes",
                    value,
                );
                None
            }
        }
    }

    fn integer(&mut self, table: &Table<'_, '_>, key: &str) -> Option<i128> {
        let value = table.get(key)?;
        let Some(int) = value.get_ref().as_integer() else {
            self.wrong_type(table.key(key), "an integer", value);
            return None;
        };
        i128::from_str_radix(int.as_str(), int.radix()).ok()
    }

    /// A non-negative integer that fits in a u64.
    pub(crate) fn unsigned(&mut self, table: &Table<'_, '_>, key: &str) -> Option<u64> {
        let n = self.integer(table, key)?;
        match u64::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                self.out_of_range(table, key, n, "a whole number from 0 to 2^64-1");
                None
            }
        }
    }

    pub(crate) fn u32(&mut self, table: &Table<'_, '_>, key: &str) -> Option<u32> {
        let n = self.integer(table, key)?;
        match u32::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                self.out_of_range(table, key, n, "a whole number from 0 to 4294967295");
                None
            }
        }
    }

    pub(crate) fn i32(&mut self, table: &Table<'_, '_>, key: &str) -> Option<i32> {
        let n = self.integer(table, key)?;
        match i32::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                self.out_of_range(table, key, n, "a 32-bit integer");
                None
            }
        }
    }

    /// A u32 that must be at least 1.
    pub(crate) fn count(&mut self, table: &Table<'_, '_>, key: &str) -> Option<u32> {
        let n = self.u32(table, key)?;
        if n == 0 {
            self.out_of_range(table, key, 0, "at least 1");
            return None;
        }
        Some(n)
    }

    /// A number, integer or float.
    pub(crate) fn number(&mut self, table: &Table<'_, '_>, key: &str) -> Option<f64> {
        let value = table.get(key)?;
        let parsed = match value.get_ref() {
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            DeValue::Integer(i) => {
                i64::from_str_radix(i.as_str(), i.radix()).ok().map(|n| n as f64)
            }
            _ => {
                self.wrong_type(table.key(key), "a number", value);
                return None;
            }
        };
        match parsed {
            Some(n) if n.is_finite() => Some(n),
            _ => {
                self.out_of_range(table, key, value_text(value), "a finite number");
                None
            }
        }
    }

    pub(crate) fn strings(&mut self, table: &Table<'_, '_>, key: &str) -> Option<Vec<String>> {
        let value = table.get(key)?;
        let Some(items) = value.get_ref().as_array() else {
            self.wrong_type(table.key(key), "an array of strings", value);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push(s.to_owned()),
                None => {
                    self.wrong_type(format!("{}[{}]", table.key(key), out.len()), "a string", item);
                    return None;
                }
            }
        }
        Some(out)
    }

    /// argv: a non-empty array of strings whose first element is not empty.
    pub(crate) fn command(&mut self, table: &Table<'_, '_>, key: &str) -> Option<Vec<String>> {
        let value = table.get(key)?;
        if let Some(text) = value.get_ref().as_str() {
            let words = text.split_whitespace().map(str::to_owned).collect();
            self.report(Problem::CommandNotArray { key: table.key(key), words }, value.span());
            return None;
        }
        let argv = self.strings(table, key)?;
        if argv.first().is_none_or(|program| program.trim().is_empty()) {
            self.report(Problem::EmptyCommand { key: table.key(key) }, value.span());
            return None;
        }
        Some(argv)
    }

    /// A table of string values (`env`).
    pub(crate) fn string_map(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(value) = table.get(key) else { return out };
        let Some(entries) = value.get_ref().as_table() else {
            self.wrong_type(table.key(key), "a table of strings", value);
            return out;
        };
        for (name, item) in entries.iter() {
            match item.get_ref().as_str() {
                Some(s) => {
                    out.insert(name.get_ref().to_string(), s.to_owned());
                }
                None => self.wrong_type(
                    format!("{}.{}", table.key(key), name.get_ref()),
                    "a string (quote numbers: \"8080\")",
                    item,
                ),
            }
        }
        out
    }

    /// A path, resolved against the spec's directory.
    pub(crate) fn path(&mut self, table: &Table<'_, '_>, key: &str) -> Option<PathBuf> {
        self.string(table, key).map(|p| self.base_dir.join(p))
    }

    pub(crate) fn out_of_range(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
        value: impl ToString,
        expected: &str,
    ) {
        let problem = Problem::OutOfRange {
            key: table.key(key),
            value: value.to_string(),
            expected: expected.to_owned(),
        };
        self.report(problem, table.span_of(key));
    }

    /// A string that must be one of `valid`.
    pub(crate) fn choice<T>(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
        valid: &'static [&'static str],
        decode: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = self.string(table, key)?;
        let decoded = decode(&text);
        if decoded.is_none() {
            let suggestion = closest(&text, valid.iter().copied());
            let problem =
                Problem::UnknownValue { key: table.key(key), value: text, suggestion, valid };
            self.report(problem, table.span_of(key));
        }
        decoded
    }
}

/// The literal text of a scalar, for messages.
fn value_text(value: &Value<'_>) -> String {
    match value.get_ref() {
        DeValue::String(s) => format!("{s:?}"),
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(f) => f.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        other => other.type_str().to_owned(),
    }
}
