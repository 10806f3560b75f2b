//! Terminal output: colour only on a terminal (and never with NO_COLOR).
use std::io::IsTerminal;

pub struct Style {
    on: bool,
}

impl Style {
    /// For standard output.
    pub fn stdout() -> Style {
        Style {
            on: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    pub fn bad(&self, s: &str) -> String {
        self.paint("1;31", s)
    }
    pub fn warn(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn good(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }

    /// A severity word in its colour.
    pub fn severity(&self, s: regwatch::Severity) -> String {
        match s {
            regwatch::Severity::Error => self.bad("error"),
            regwatch::Severity::Warning => self.warn("warning"),
            regwatch::Severity::Info => self.dim("info"),
        }
    }
}
