//! Errors of the test bed, each carrying what a person needs to fix or debug it.

use std::path::PathBuf;

/// Everything that can go wrong while preparing or running a VM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A host tool is missing.
    #[error("`{tool}` not found; install it with: apt-get install {package}")]
    MissingTool {
        /// The executable looked for.
        tool: String,
        /// The Debian package that provides it.
        package: String,
    },
    /// The test bed needs root (network namespaces, taps, 9p as root).
    #[error("the test bed must run as root (it creates network namespaces and taps)")]
    NotRoot,
    /// A file system operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A host command failed.
    #[error("command `{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: String,
        /// The tail of its stderr.
        stderr: String,
    },
    /// The VM did not reach its script, or did not finish in time.
    #[error("VM `{vm}`: {what}\n--- console ({console_path}) ---\n{console}\n--- script output ---\n{output}")]
    Vm {
        /// The VM's name.
        vm: String,
        /// What went wrong.
        what: String,
        /// Where the full console log is.
        console_path: PathBuf,
        /// The tail of the console log.
        console: String,
        /// The tail of the script's output.
        output: String,
    },
}

impl Error {
    /// True for problems of the machine (tool missing, not root), as opposed to test-bed failures.
    pub fn is_missing_prerequisite(&self) -> bool {
        matches!(self, Error::MissingTool { .. } | Error::NotRoot)
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// Last `n` lines of a text, for error messages.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
