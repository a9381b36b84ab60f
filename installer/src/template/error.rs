//! [`TemplateError`] and where an action sits ([`Span`]), for errors that name the line.

/// A syntax or render error, located in the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}:{line}: {message} (in `{excerpt}`)")]
pub struct TemplateError {
    /// The template's name (usually its file).
    pub name: String,
    /// 1-based line of the action at fault.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// The action's text, shortened.
    pub excerpt: String,
}

/// Where an action sits, for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) line: usize,
    pub(super) excerpt: String,
}

pub(super) fn excerpt(s: &str) -> String {
    const MAX: usize = 60;
    let one_line: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    if one_line.chars().count() <= MAX {
        one_line
    } else {
        let cut: String = one_line.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

impl Span {
    /// The error `message` at this action of template `name`.
    pub(super) fn error(&self, name: &str, message: impl Into<String>) -> TemplateError {
        TemplateError {
            name: name.to_string(),
            line: self.line,
            message: message.into(),
            excerpt: self.excerpt.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::template::testing::{e, r};

    #[test]
    fn multibyte_text_and_long_excerpts() {
        assert_eq!(r("证书 {{.N}} ✓"), "证书 3 ✓");
        let long = format!("{{{{.{}}}}}", "X".repeat(100));
        let err = e(&long);
        assert!(
            err.excerpt.ends_with('…') && err.excerpt.chars().count() == 61,
            "{}",
            err.excerpt
        );
    }
}
