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
