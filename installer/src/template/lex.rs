//! The lexer: template source into text pieces and the tokens of each `{{action}}` (trim
//! markers applied, comments dropped), every error naming its line.

use super::error::{excerpt, Span};
use super::TemplateError;

/// Splits `src` into text and the tokens of each action.
pub(super) fn lex(name: &str, src: &str) -> Result<Vec<Piece>, TemplateError> {
    Lexer {
        name,
        src,
        pos: 0,
        line: 1,
    }
    .pieces()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// `.A.B` (empty for `.`).
    Field(Vec<String>),
    /// `$name.A.B` (`$` alone has an empty name).
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug)]
pub(super) enum Piece {
    Text(String),
    Action { span: Span, toks: Vec<Tok> },
}

const SPACE: &[char] = &[' ', '\t', '\r', '\n'];

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

struct Lexer<'s> {
    name: &'s str,
    src: &'s str,
    pos: usize,
    line: usize,
}

impl<'s> Lexer<'s> {
    fn err(&self, line: usize, at: usize, message: impl Into<String>) -> TemplateError {
        let rest = &self.src[at..];
        let end = rest.find('\n').unwrap_or(rest.len());
        TemplateError {
            name: self.name.to_string(),
            line,
            message: message.into(),
            excerpt: excerpt(&rest[..end]),
        }
    }

    fn pieces(mut self) -> Result<Vec<Piece>, TemplateError> {
        let mut out = Vec::new();
        let mut trim_next = false;
        loop {
            let rest = &self.src[self.pos..];
            let Some(open) = rest.find("{{") else {
                push_text(&mut out, rest, trim_next);
                return Ok(out);
            };
            let start = self.pos + open;
            let trim_left = self.src[start + 2..].starts_with('-')
                && self
                    .src
                    .as_bytes()
                    .get(start + 3)
                    .is_some_and(|&b| is_space(b));
            push_text(&mut out, &rest[..open], trim_next);
            if trim_left {
                if let Some(Piece::Text(t)) = out.last_mut() {
                    let kept = t.trim_end_matches(SPACE).len();
                    t.truncate(kept);
                }
            }
            self.line += rest[..open].matches('\n').count();
            let line = self.line;
            let body = start + if trim_left { 3 } else { 2 };
            let (toks, end, trim_right) = self.action(line, start, body)?;
            let text = &self.src[start..end];
            self.line += text.matches('\n').count();
            self.pos = end;
            trim_next = trim_right;
            if let Some(toks) = toks {
                out.push(Piece::Action {
                    span: Span {
                        line,
                        excerpt: excerpt(text),
                    },
                    toks,
                });
            }
        }
    }

    /// Lexes one action from `at` (after `{{` and its trim marker). Returns the tokens (None for
    /// a comment), the byte after `}}`, and whether the action trims the text after it.
    #[allow(clippy::type_complexity)]
    fn action(
        &self,
        line: usize,
        start: usize,
        mut at: usize,
    ) -> Result<(Option<Vec<Tok>>, usize, bool), TemplateError> {
        let b = self.src.as_bytes();
        let unclosed = |s: &Self| s.err(line, start, "unclosed action: no matching `}}`");
        // A comment: `{{/* ... */}}`, with optional trim markers around it.
        let lead = at + self.src[at..].len() - self.src[at..].trim_start_matches(SPACE).len();
        if self.src[lead..].starts_with("/*") {
            let Some(close) = self.src[lead + 2..].find("*/") else {
                return Err(self.err(line, start, "unclosed comment: no matching `*/`"));
            };
            let after = lead + 2 + close + 2;
            let tail = &self.src[after..];
            let trimmed = tail.trim_start_matches(SPACE);
            let ws = tail.len() - trimmed.len();
            if trimmed.starts_with("}}") {
                return Ok((None, after + ws + 2, false));
            }
            if ws > 0 && trimmed.starts_with("-}}") {
                return Ok((None, after + ws + 3, true));
            }
            return Err(self.err(line, start, "a comment must end with `*/}}`"));
        }
        let mut toks = Vec::new();
        loop {
            let Some(&c) = b.get(at) else {
                return Err(unclosed(self));
            };
            match c {
                _ if is_space(c) => {
                    let ws_end =
                        at + self.src[at..].len() - self.src[at..].trim_start_matches(SPACE).len();
                    if self.src[ws_end..].starts_with("-}}") {
                        return Ok((Some(toks), ws_end + 3, true));
                    }
                    at = ws_end;
                }
                b'}' if self.src[at..].starts_with("}}") => return Ok((Some(toks), at + 2, false)),
                b':' if b.get(at + 1) == Some(&b'=') => {
                    toks.push(Tok::Declare);
                    at += 2;
                }
                b'|' | b'(' | b')' | b',' | b'=' => {
                    toks.push(match c {
                        b'|' => Tok::Pipe,
                        b'(' => Tok::LParen,
                        b')' => Tok::RParen,
                        b',' => Tok::Comma,
                        _ => Tok::Assign,
                    });
                    at += 1;
                }
                b'"' => {
                    let (s, next) = self.quoted(line, start, at)?;
                    toks.push(Tok::Str(s));
                    at = next;
                }
                b'`' => {
                    let Some(close) = self.src[at + 1..].find('`') else {
                        return Err(self.err(line, start, "unterminated raw string"));
                    };
                    toks.push(Tok::Str(self.src[at + 1..at + 1 + close].to_string()));
                    at += close + 2;
                }
                b'.' => {
                    let (fields, next) = self.fields(at);
                    if fields.is_empty() && b.get(next).is_some_and(|c| c.is_ascii_alphanumeric()) {
                        return Err(self.err(line, start, "bad field name after `.`"));
                    }
                    toks.push(Tok::Field(fields));
                    at = next;
                }
                b'$' => {
                    let name_end = self.word_end(at + 1);
                    let name = self.src[at + 1..name_end].to_string();
                    let (fields, next) = self.fields(name_end);
                    toks.push(Tok::Var(name, fields));
                    at = next;
                }
                b'-' | b'0'..=b'9' => {
                    let digits_from = if c == b'-' { at + 1 } else { at };
                    let end = self.word_end(digits_from);
                    let word = &self.src[at..end];
                    let n = word
                        .parse::<i64>()
                        .map_err(|_| self.err(line, start, format!("bad number `{word}`")))?;
                    toks.push(Tok::Int(n));
                    at = end;
                }
                _ if c.is_ascii_alphabetic() || c == b'_' => {
                    let end = self.word_end(at);
                    toks.push(Tok::Ident(self.src[at..end].to_string()));
                    at = end;
                }
                b'\'' => {
                    return Err(self.err(line, start, "character constants are not supported"))
                }
                _ => {
                    let ch = self.src[at..].chars().next().unwrap_or('?');
                    return Err(self.err(line, start, format!("unexpected `{ch}` in action")));
                }
            }
        }
    }

    fn word_end(&self, from: usize) -> usize {
        let b = self.src.as_bytes();
        let mut i = from;
        while b
            .get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            i += 1;
        }
        i
    }

    /// `.A.B` starting at a `.`; returns the names and the byte after them.
    fn fields(&self, mut at: usize) -> (Vec<String>, usize) {
        let b = self.src.as_bytes();
        let mut names = Vec::new();
        while b.get(at) == Some(&b'.') {
            let end = self.word_end(at + 1);
            if end == at + 1 {
                // A lone `.` (dot itself) ends the chain.
                if names.is_empty() {
                    at += 1;
                }
                break;
            }
            names.push(self.src[at + 1..end].to_string());
            at = end;
        }
        (names, at)
    }

    fn quoted(
        &self,
        line: usize,
        start: usize,
        at: usize,
    ) -> Result<(String, usize), TemplateError> {
        let mut out = String::new();
        let mut chars = self.src[at + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((out, at + 1 + i + 1)),
                '\n' => break,
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    Some(e) => {
                        return Err(self.err(
                            line,
                            start,
                            format!("unknown escape `\\{e}` in string"),
                        ))
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(self.err(line, start, "unterminated string"))
    }
}

fn push_text(out: &mut Vec<Piece>, text: &str, trim_start: bool) {
    let text = if trim_start {
        text.trim_start_matches(SPACE)
    } else {
        text
    };
    if !text.is_empty() {
        out.push(Piece::Text(text.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use crate::template::testing::r;

    #[test]
    fn trimming_and_comments() {
        assert_eq!(r("a  \n {{- .N -}} \n  b"), "a3b");
        assert_eq!(r("a {{/* a comment */}}b"), "a b");
        assert_eq!(r("a \n{{- /* gone */ -}}\n b"), "ab");
        // `{{-3}}` is the number -3, not a trim marker (as in Go).
        assert_eq!(r("x {{-3}}"), "x -3");
    }
}
