//! The one place that prints. stdout carries data (plans, JSON, lists); status lines, warnings,
//! errors and progress go to stderr. Colour follows `--color` and `NO_COLOR`; spinners show only
//! when stderr is a terminal and progress is not turned off.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use console::Style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Debug)]
pub struct Output {
    color: bool,
    quiet: bool,
    progress: bool,
    /// `[east] `: the cluster of an inventory run, in front of every line (none for one cluster).
    prefix: Option<String>,
}

impl Output {
    pub fn new(color: ColorChoice, quiet: bool, no_progress: bool) -> Output {
        let terminal = std::io::stderr().is_terminal();
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
            }
        };
        Output {
            color,
            quiet,
            progress: terminal && !quiet && !no_progress,
            prefix: None,
        }
    }

    /// Plain output for tests and the library: no colour, no progress.
    pub fn plain() -> Output {
        Output {
            color: false,
            quiet: false,
            progress: false,
            prefix: None,
        }
    }

    /// The output of one cluster of an inventory run: every line it prints starts with
    /// `[name] ` (clusters run at once, so their lines interleave), and no spinners.
    pub fn for_cluster(&self, name: &str) -> Output {
        Output {
            prefix: Some(format!("[{name}] ")),
            progress: false,
            ..self.clone()
        }
    }

    /// Whether this output prefixes its lines with a cluster.
    pub fn is_prefixed(&self) -> bool {
        self.prefix.is_some()
    }

    /// Whether status lines are shown (not `--quiet`).
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// `text` with the cluster prefix in front of every line.
    fn prefixed(&self, text: &str) -> String {
        match &self.prefix {
            None => text.to_string(),
            Some(prefix) => {
                let bare = self
                    .style(Style::new().dim())
                    .apply_to(prefix.trim_end())
                    .to_string();
                let mut out = String::with_capacity(text.len() + 16);
                for line in text.split_inclusive('\n') {
                    out.push_str(&bare);
                    if line != "\n" {
                        out.push(' ');
                    }
                    out.push_str(line);
                }
                out
            }
        }
    }

    pub fn color(&self) -> bool {
        self.color
    }

    fn style(&self, style: Style) -> Style {
        style.force_styling(self.color)
    }

    pub fn green(&self, text: &str) -> String {
        self.style(Style::new().green()).apply_to(text).to_string()
    }

    pub fn red(&self, text: &str) -> String {
        self.style(Style::new().red()).apply_to(text).to_string()
    }

    pub fn yellow(&self, text: &str) -> String {
        self.style(Style::new().yellow()).apply_to(text).to_string()
    }

    pub fn bold(&self, text: &str) -> String {
        self.style(Style::new().bold()).apply_to(text).to_string()
    }

    pub fn dim(&self, text: &str) -> String {
        self.style(Style::new().dim()).apply_to(text).to_string()
    }

    /// Data to stdout. A closed pipe (`stigfix plan | head`) is not an error.
    pub fn data(&self, text: &str) {
        self.raw_data(&self.prefixed(text));
    }

    /// Data to stdout without the cluster prefix (a JSON document, which names its cluster).
    pub fn raw_data(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }

    /// A status line to stderr (suppressed by `--quiet`).
    pub fn status(&self, text: &str) {
        if !self.quiet {
            self.stderr_line(text);
        }
    }

    /// A warning to stderr (never suppressed).
    pub fn warn(&self, text: &str) {
        let prefix = self
            .style(Style::new().yellow().bold())
            .apply_to("warning:");
        self.stderr_line(&format!("{prefix} {text}"));
    }

    /// An error with its hint to stderr.
    pub fn error(&self, message: &str, hint: Option<&str>) {
        let prefix = self.style(Style::new().red().bold()).apply_to("error:");
        let mut lines = message.lines();
        self.stderr_line(&format!("{prefix} {}", lines.next().unwrap_or_default()));
        for line in lines {
            self.stderr_line(&format!("       {line}"));
        }
        if let Some(hint) = hint {
            let label = self.style(Style::new().cyan().bold()).apply_to("hint:");
            self.stderr_line(&format!("{label} {hint}"));
        }
    }

    pub fn stderr_line(&self, text: &str) {
        let text = self.prefixed(text);
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{text}");
    }

    /// A spinner on stderr for work of unknown length; hidden when progress is off.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}").expect("valid template"),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }

    /// A progress bar on stderr for `total` steps; hidden when progress is off.
    pub fn bar(&self, total: u64, message: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed:.dim} (eta {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        bar
    }

    /// Ask a yes/no question on the terminal. Only called when stdin and stderr are terminals.
    pub fn confirm(&self, question: &str) -> bool {
        let question = self.prefixed(question);
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "{question} [y/N] ");
        let _ = stderr.flush();
        drop(stderr);
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    }
}
