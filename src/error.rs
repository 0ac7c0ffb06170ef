//! Errors and exit codes.
//!
//! Every error names the object it is about (a file, a URL, a rule, a key) and carries the exit
//! code the design assigns to it. Hints ("what to do") are kept apart from the message so they can
//! be printed on their own line.

use std::fmt;
use std::path::{Path, PathBuf};

/// The process exit codes of the design (`docs/design.md`, "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success; with `--detailed-exitcode`: nothing to change, no open findings.
    Success,
    /// Error; nothing was changed, or every change was rolled back and the rollback verified.
    Failure,
    /// `plan`/`check` with `--detailed-exitcode`: changes pending or open findings.
    Pending,
    /// `apply`/`rollback` failed and a target could not be fully restored: an operator must look.
    NeedsOperator,
    /// Usage error (bad flags). Never 2, which means "changes pending".
    Usage,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Pending => 2,
            ExitStatus::NeedsOperator => 3,
            ExitStatus::Usage => 64,
        }
    }
}

/// An error with the object it names, an optional hint and the exit code it ends the run with.
///
/// Its message is an anyhow context chain: a layer that passes an error up adds what it was
/// doing (`apply failed on ucp https://…`) in front of the cause, and the chain is shown on one
/// line, outermost first, joined by `: `.
#[derive(Debug, thiserror::Error)]
#[error("{chain:#}")]
pub struct Error {
    chain: anyhow::Error,
    hint: Option<String>,
    status: ExitStatus,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A failure (exit 1): nothing was changed.
    pub fn new(message: impl Into<String>) -> Self {
        Error::with(message, ExitStatus::Failure)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::with(message, ExitStatus::Usage)
    }

    /// An apply or rollback that could not restore a target (exit 3).
    pub fn needs_operator(message: impl Into<String>) -> Self {
        Error::with(message, ExitStatus::NeedsOperator)
    }

    fn with(message: impl Into<String>, status: ExitStatus) -> Self {
        Error {
            chain: anyhow::Error::msg(message.into()),
            hint: None,
            status,
        }
    }

    /// A write stopped by Ctrl-C or SIGTERM (exit 1 once everything is restored).
    pub fn interrupted() -> Self {
        Error::new("interrupted by Ctrl-C or SIGTERM")
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Add what the layer passing this error up was doing: `"{context}: {message}"`.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.chain = self.chain.context(context.to_string());
        self
    }

    /// The whole chain on one line (outermost context first).
    pub fn message(&self) -> String {
        format!("{:#}", self.chain)
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    pub fn status(&self) -> ExitStatus {
        self.status
    }

    /// An I/O error on a file, naming the file.
    pub fn io(action: &str, path: &Path, source: &std::io::Error) -> Self {
        Error::new(format!(
            "cannot {action} {}: {}",
            path.display(),
            describe_io(source)
        ))
    }
}

/// A short description of an I/O error without the "(os error N)" noise.
pub fn describe_io(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound => "no such file or directory".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::AlreadyExists => "already exists".into(),
        _ => {
            let text = error.to_string();
            match text.find(" (os error") {
                Some(index) => text[..index].to_string(),
                None => text,
            }
        }
    }
}

/// Convenience for mapping `std::io::Result` with the file it concerns.
pub trait IoContext<T> {
    fn with_path(self, action: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn with_path(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|error| Error::io(action, path, &error))
    }
}

/// Location of a playbook or site-file diagnostic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Turns a byte offset into 1-based line and column.
/// Where each line of a text starts, for finding many offsets' lines and columns in one pass
/// over the text instead of one per offset (a playbook has thousands of located items).
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    /// 1-based line and column (in bytes) of `offset`, as [`line_column`] gives them.
    pub fn locate(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.len);
        let line = self.starts.partition_point(|start| *start <= offset);
        (line, offset - self.starts[line - 1] + 1)
    }
}

/// 1-based line and column (in bytes) of one offset; [`LineIndex`] for many.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(text).locate(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_index_locates_every_offset_as_a_scan_from_the_start_does() {
        let text = "a = 1\n\n[b]\nc = \"x\"\nlast";
        let scan = |offset: usize| {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
            (line, column)
        };
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 3 {
            assert_eq!(index.locate(offset), scan(offset), "{offset}");
        }
        assert_eq!(LineIndex::new("").locate(5), (1, 1));
    }

    #[test]
    fn exit_codes_follow_the_design() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Failure.code(), 1);
        assert_eq!(ExitStatus::Pending.code(), 2);
        assert_eq!(ExitStatus::NeedsOperator.code(), 3);
        assert_eq!(ExitStatus::Usage.code(), 64);
    }

    #[test]
    fn line_column_is_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 4));
    }
}
