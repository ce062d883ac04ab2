//! [`SpecError`]: every [`Problem`] found in one spec, with where it is.
//!
//! Two renderings: `Display` is compact (`path:line:col: message` plus a hint
//! line, for logs and `--json`-less scripts); [`SpecError::render`] is miette's
//! graphical report with the offending text underlined, for people.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use crate::problem::Problem;

/// One problem and where in the spec it is.
#[derive(Debug)]
pub struct SpecDiagnostic {
    problem: Problem,
    span: Option<Range<usize>>,
    also: Option<(Range<usize>, &'static str)>,
    source: Option<Arc<NamedSource<String>>>,
}

impl SpecDiagnostic {
    pub(crate) fn new(problem: Problem, span: Option<Range<usize>>) -> SpecDiagnostic {
        SpecDiagnostic { problem, span, also: None, source: None }
    }

    /// A second underlined place, e.g. where a duplicate name was first defined.
    pub(crate) fn also(mut self, span: Range<usize>, label: &'static str) -> SpecDiagnostic {
        self.also = Some((span, label));
        self
    }

    /// What is wrong.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// Byte range of the offending text in the spec, if it is in the file.
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }

    /// 1-based line and column of the offending text, if it is in the file.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        let (span, source) = (self.span.as_ref()?, self.source.as_ref()?);
        Some(line_col(source.inner(), span.start))
    }
}

/// Something in a valid spec that is probably not what was meant (an
/// undefined `${VAR}`): `stockade check` prints it; the spec still loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecWarning {
    /// What it is and what to do.
    pub message: String,
    /// 1-based line of the value in the spec.
    pub line: usize,
    /// 1-based column of the value.
    pub column: usize,
}

/// 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl fmt::Display for SpecDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.problem.fmt(f)
    }
}

impl std::error::Error for SpecDiagnostic {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.problem)
    }
}

impl Diagnostic for SpecDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        None
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.problem.hint().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.span.as_ref()?;
        self.source.as_deref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span.clone()?;
        let primary =
            LabeledSpan::new_primary_with_span(Some(self.problem.label().to_owned()), span);
        let also = self
            .also
            .clone()
            .map(|(span, label)| LabeledSpan::new_with_span(Some(label.to_owned()), span));
        Some(Box::new(std::iter::once(primary).chain(also)))
    }
}

/// Everything wrong with one spec (never empty).
#[derive(Debug)]
pub struct SpecError {
    path: String,
    diagnostics: Vec<SpecDiagnostic>,
}

impl SpecError {
    pub(crate) fn new(
        path: &Path,
        source: &str,
        mut diagnostics: Vec<SpecDiagnostic>,
    ) -> SpecError {
        let named = Arc::new(NamedSource::new(path.display().to_string(), source.to_owned()));
        for d in &mut diagnostics {
            d.source = Some(named.clone());
        }
        // File order reads best; problems without a place (environment) go first.
        diagnostics.sort_by_key(|d| d.span.as_ref().map(|s| s.start));
        SpecError { path: path.display().to_string(), diagnostics }
    }

    pub(crate) fn read(path: &Path, source: std::io::Error) -> SpecError {
        let problem = Problem::Read { path: path.to_owned(), source };
        SpecError {
            path: path.display().to_string(),
            diagnostics: vec![SpecDiagnostic::new(problem, None)],
        }
    }

    /// The individual problems, in file order.
    pub fn diagnostics(&self) -> &[SpecDiagnostic] {
        &self.diagnostics
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.diagnostics.len()
    }

    /// Always false: a `SpecError` holds at least one problem.
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// The graphical report (no colour, 100 columns): each problem with its
    /// `file:line:col`, the offending text underlined, and the hint. With the
    /// `fancy` feature only (the CLI's), so no other crate links miette's
    /// terminal rendering.
    #[cfg(feature = "fancy")]
    pub fn render(&self) -> String {
        use miette::{GraphicalReportHandler, GraphicalTheme};
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(100)
            // Hints already carry the cause ("unknown unit `m`; write MiB…").
            .without_cause_chain();
        let mut out = String::new();
        for d in &self.diagnostics {
            // Writing into a String cannot fail.
            let _ = handler.render_report(&mut out, d);
        }
        out
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.diagnostics.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        write!(f, "{count} {noun} in {}", self.path)?;
        for d in &self.diagnostics {
            match d.line_col() {
                Some((line, col)) => write!(f, "\n{}:{line}:{col}: {}", self.path, d.problem)?,
                None => write!(f, "\n{}: {}", self.path, d.problem)?,
            }
            if let Some(hint) = d.problem.hint() {
                write!(f, "\n  hint: {hint}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

impl Diagnostic for SpecError {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.diagnostics.iter().map(|d| d as &dyn Diagnostic)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        assert_eq!(line_col("abc", 0), (1, 1));
        assert_eq!(line_col("a\nbc", 3), (2, 2));
        assert_eq!(line_col("é\nx = 1", 6), (2, 4));
    }
}
