//! Shell quoting, the one place commands for remote POSIX shells get their words quoted.

/// Quotes `s` as one POSIX shell word, always (for words that must never be read as a pattern).
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Quotes a word for a POSIX shell, leaving it bare when it has only characters that need no
/// quoting (readable commands in `--dry-run` and in error messages).
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+[]".contains(c))
    {
        s.to_string()
    } else {
        quote(s)
    }
}

/// What the shell pipeline `filter` prints for `input` on its stdin (for testing the filters in
/// remote scripts with the real `sh`).
#[cfg(test)]
pub(crate) fn run_filter(filter: &str, input: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s' \"$1\" | {filter}"))
        .arg("sh")
        .arg(input)
        .output()
        .expect("sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
