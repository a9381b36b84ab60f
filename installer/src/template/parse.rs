//! The parser: lexed pieces into a tree of nodes (text, prints, `if`/`with`/`range` blocks) and
//! pipelines of commands.

use super::error::Span;
use super::lex::{Piece, Tok};
use super::{TemplateError, Value};

/// Parses the pieces of a whole template into its nodes.
pub(super) fn parse(name: &str, pieces: Vec<Piece>) -> Result<Vec<Node>, TemplateError> {
    let mut parser = Parser {
        name,
        pieces: pieces.into_iter(),
    };
    let (nodes, term) = parser.list()?;
    match term {
        Term::Eof => Ok(nodes),
        Term::End(span) => Err(parser.err(&span, "unexpected {{end}}")),
        Term::Else(span, _) => Err(parser.err(&span, "unexpected {{else}}")),
    }
}

#[derive(Debug, Clone)]
pub(super) enum Arg {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Lit(Value),
    Func(String),
    Pipe(Pipeline),
}

#[derive(Debug, Clone)]
pub(super) struct Pipeline {
    /// `$a, $b :=` (declare) or `$a =` (assign).
    pub(super) vars: Vec<String>,
    pub(super) declare: bool,
    pub(super) cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    Print(Span, Pipeline),
    If(Span, Pipeline, Vec<Node>, Vec<Node>),
    With(Span, Pipeline, Vec<Node>, Vec<Node>),
    Range(Span, Pipeline, Vec<Node>, Vec<Node>),
}

const FUNCS: &[&str] = &[
    "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "print", "printf",
    "println",
];

/// How a list of nodes ended.
enum Term {
    Eof,
    End(Span),
    Else(Span, Vec<Tok>),
}

struct Parser<'t> {
    name: &'t str,
    pieces: std::vec::IntoIter<Piece>,
}

impl Parser<'_> {
    fn err(&self, span: &Span, message: impl Into<String>) -> TemplateError {
        span.error(self.name, message)
    }

    fn list(&mut self) -> Result<(Vec<Node>, Term), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(piece) = self.pieces.next() {
            let (span, toks) = match piece {
                Piece::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Piece::Action { span, toks } => (span, toks),
            };
            let keyword = match toks.first() {
                Some(Tok::Ident(k)) => k.as_str(),
                _ => "",
            };
            match keyword {
                "end" => {
                    if toks.len() > 1 {
                        return Err(self.err(&span, "unexpected words after `end`"));
                    }
                    return Ok((nodes, Term::End(span)));
                }
                "else" => return Ok((nodes, Term::Else(span, toks[1..].to_vec()))),
                "if" | "with" | "range" => {
                    let rest = toks[1..].to_vec();
                    nodes.push(self.block(keyword, span, rest)?);
                }
                "define" | "template" | "block" | "break" | "continue" => {
                    return Err(self.err(
                        &span,
                        format!("`{keyword}` is not supported by seal-install's templates"),
                    ))
                }
                _ => {
                    let pipe = self.pipeline(&span, &toks, true)?;
                    nodes.push(Node::Print(span, pipe));
                }
            }
        }
        Ok((nodes, Term::Eof))
    }

    /// Parses `if`/`with`/`range` and its body, up to its `end` (shared by `else if` chains).
    fn block(&mut self, keyword: &str, span: Span, toks: Vec<Tok>) -> Result<Node, TemplateError> {
        let pipe = self.pipeline(&span, &toks, true)?;
        if keyword == "range" && pipe.vars.len() > 2 {
            return Err(self.err(&span, "range declares at most two variables"));
        }
        if keyword != "range" && pipe.vars.len() > 1 {
            return Err(self.err(&span, "too many declarations"));
        }
        let (body, term) = self.list()?;
        let els = match term {
            Term::Eof => {
                return Err(self.err(&span, format!("`{keyword}` has no matching {{{{end}}}}")))
            }
            Term::End(_) => Vec::new(),
            Term::Else(else_span, rest) => match rest.first() {
                None => {
                    let (els, term) = self.list()?;
                    match term {
                        Term::End(_) => els,
                        Term::Eof => {
                            return Err(
                                self.err(&span, format!("`{keyword}` has no matching {{{{end}}}}"))
                            )
                        }
                        Term::Else(s, _) => {
                            return Err(self.err(&s, "a second `else` in one block"))
                        }
                    }
                }
                Some(Tok::Ident(k)) if (k == "if" || k == "with") && keyword != "range" => {
                    let k = k.clone();
                    vec![self.block(&k, else_span, rest[1..].to_vec())?]
                }
                Some(_) => return Err(self.err(&else_span, "unexpected words after `else`")),
            },
        };
        Ok(match keyword {
            "if" => Node::If(span, pipe, body, els),
            "with" => Node::With(span, pipe, body, els),
            _ => Node::Range(span, pipe, body, els),
        })
    }

    fn pipeline(&self, span: &Span, toks: &[Tok], top: bool) -> Result<Pipeline, TemplateError> {
        let mut vars = Vec::new();
        let mut declare = true;
        let mut rest = toks;
        // Declarations: `$x :=`, `$i, $e :=`, `$x =` — only at the top of an action.
        if top {
            let mut i = 0;
            let mut names = Vec::new();
            while let Some(Tok::Var(name, fields)) = rest.get(i) {
                if !fields.is_empty() {
                    break;
                }
                names.push(name.clone());
                match rest.get(i + 1) {
                    Some(Tok::Comma) => i += 2,
                    Some(Tok::Declare) | Some(Tok::Assign) => {
                        declare = rest[i + 1] == Tok::Declare;
                        vars = names;
                        rest = &rest[i + 2..];
                        break;
                    }
                    _ => break,
                }
            }
        }
        let mut cmds = Vec::new();
        let mut cmd = Vec::new();
        let mut i = 0;
        while i < rest.len() {
            match &rest[i] {
                Tok::Pipe => {
                    if cmd.is_empty() {
                        return Err(self.err(span, "missing command before `|`"));
                    }
                    cmds.push(std::mem::take(&mut cmd));
                }
                Tok::LParen => {
                    let close =
                        matching_paren(rest, i).ok_or_else(|| self.err(span, "unclosed `(`"))?;
                    let inner = self.pipeline(span, &rest[i + 1..close], false)?;
                    cmd.push(Arg::Pipe(inner));
                    i = close;
                }
                Tok::RParen => return Err(self.err(span, "unexpected `)`")),
                Tok::Field(f) => cmd.push(Arg::Field(f.clone())),
                Tok::Var(n, f) => cmd.push(Arg::Var(n.clone(), f.clone())),
                Tok::Str(s) => cmd.push(Arg::Lit(Value::Str(s.clone()))),
                Tok::Int(n) => cmd.push(Arg::Lit(Value::Int(*n))),
                Tok::Ident(w) => cmd.push(match w.as_str() {
                    "true" => Arg::Lit(Value::Bool(true)),
                    "false" => Arg::Lit(Value::Bool(false)),
                    "nil" => Arg::Lit(Value::Nil),
                    f if FUNCS.contains(&f) => Arg::Func(f.to_string()),
                    "if" | "else" | "end" | "range" | "with" => {
                        return Err(self.err(span, format!("`{w}` cannot appear here")))
                    }
                    other => {
                        return Err(self.err(span, format!("function `{other}` is not defined")))
                    }
                }),
                Tok::Comma | Tok::Declare | Tok::Assign => {
                    return Err(self.err(span, "unexpected `,`, `:=` or `=`"))
                }
            }
            i += 1;
        }
        if cmd.is_empty() {
            return Err(self.err(span, "missing value"));
        }
        cmds.push(cmd);
        Ok(Pipeline {
            vars,
            declare,
            cmds,
        })
    }
}

fn matching_paren(toks: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::LParen => depth += 1,
            Tok::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::template::Template;

    #[test]
    fn syntax_errors_name_the_line() {
        let cases: &[(&str, usize, &str)] = &[
            ("a\nb\n{{.Version", 3, "unclosed action"),
            ("a\n{{if .Flag}}\nx\n", 2, "no matching {{end}}"),
            ("x\n\n{{end}}", 3, "unexpected {{end}}"),
            ("{{else}}", 1, "unexpected {{else}}"),
            ("\n{{template \"x\"}}", 2, "not supported"),
            (
                "\n\n\n{{frobnicate .VIP}}",
                4,
                "function `frobnicate` is not defined",
            ),
            ("{{\"abc}}", 1, "unterminated string"),
            ("a\n{{/* never closed }}", 2, "unclosed comment"),
            ("{{}}", 1, "missing value"),
            ("{{if}}{{end}}", 1, "missing value"),
            ("{{ .A | }}", 1, "missing value"),
            ("{{ (.A }}", 1, "unclosed `(`"),
            ("{{ 'c' }}", 1, "character constants"),
        ];
        for (src, line, msg) in cases {
            let err = match Template::parse("t", src) {
                Ok(_) => panic!("{src:?} parsed"),
                Err(e) => e,
            };
            assert_eq!(err.line, *line, "{src:?}: {err}");
            assert!(err.message.contains(msg), "{src:?}: {err}");
        }
    }
}
