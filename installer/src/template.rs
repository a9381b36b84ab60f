//! A subset of Go's `text/template`, enough for the older installer's kubeadm templates.
//!
//! Why not the `gtmpl` crate: its render errors (`no field X for ...`) carry no line number, and it
//! brings `thiserror` 1, `lazy_static` and `anyhow` along. A small engine of our own reports every
//! error — syntax or render — as `NAME:LINE: message (in `{{...}}`)`.
//!
//! Supported (same meaning as in Go):
//! - text and actions `{{ pipeline }}`; trimming `{{- ` and ` -}}`; comments `{{/* ... */}}`;
//! - `{{if P}}`, `{{else if P}}`, `{{else with P}}`, `{{else}}`, `{{end}}`; `{{range P}}` with
//!   `{{range $e := P}}` / `{{range $i, $e := P}}` and `{{else}}`; `{{with P}}`;
//! - operands: `.`, `.A.B`, `$`, `$x`, `$x.A`, `"strings"`, `` `raw` ``, integers, `true`, `false`,
//!   `nil`, `(pipelines)`; pipes `a | f b` (the value goes last); `{{$x := P}}`, `{{$x = P}}`;
//! - functions `and or not eq ne lt le gt ge len index print printf println` (`printf` knows
//!   `%s %v %d %q %%`).
//!
//! Not supported (a parse error says so): `define`, `template`, `block`, `break`, `continue`,
//! character constants, floats, methods. Unlike Go with a map, an unknown field is an error, not
//! `<no value>`: a misspelt field in a kubeadm template should stop the run, not reach kubeadm.

use std::collections::BTreeMap;
use std::fmt;

/// A value templates see: the data, and what expressions produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Go's nil; prints as `<no value>`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A list (`range` walks it).
    List(Vec<Value>),
    /// Fields by name (`.Name` reads them; `range` walks values in key order).
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// Go's truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }
}

impl fmt::Display for Value {
    /// Prints as Go's `fmt.Sprint` would.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("<no value>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => f.write_str(s),
            Value::List(l) => {
                f.write_str("[")?;
                for (n, v) in l.iter().enumerate() {
                    if n > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("map[")?;
                for (n, (k, v)) in m.iter().enumerate() {
                    if n > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

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
struct Span {
    line: usize,
    excerpt: String,
}

fn excerpt(s: &str) -> String {
    const MAX: usize = 60;
    let one_line: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    if one_line.chars().count() <= MAX {
        one_line
    } else {
        let cut: String = one_line.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
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
enum Piece {
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
                b'|' => {
                    toks.push(Tok::Pipe);
                    at += 1;
                }
                b'(' => {
                    toks.push(Tok::LParen);
                    at += 1;
                }
                b')' => {
                    toks.push(Tok::RParen);
                    at += 1;
                }
                b',' => {
                    toks.push(Tok::Comma);
                    at += 1;
                }
                b':' if b.get(at + 1) == Some(&b'=') => {
                    toks.push(Tok::Declare);
                    at += 2;
                }
                b'=' => {
                    toks.push(Tok::Assign);
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

// ---------------------------------------------------------------- parser

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Lit(Value),
    Func(String),
    Pipe(Pipeline),
}

#[derive(Debug, Clone)]
struct Pipeline {
    /// `$a, $b :=` (declare) or `$a =` (assign).
    vars: Vec<String>,
    declare: bool,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Node {
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
        TemplateError {
            name: self.name.to_string(),
            line: span.line,
            message: message.into(),
            excerpt: span.excerpt.clone(),
        }
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

// ---------------------------------------------------------------- evaluation

/// A parsed template, ready to render many times.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    nodes: Vec<Node>,
}

impl Template {
    /// Parses `src`; `name` (usually the file) prefixes error messages.
    pub fn parse(name: &str, src: &str) -> Result<Template, TemplateError> {
        let pieces = Lexer {
            name,
            src,
            pos: 0,
            line: 1,
        }
        .pieces()?;
        let mut parser = Parser {
            name,
            pieces: pieces.into_iter(),
        };
        let (nodes, term) = parser.list()?;
        match term {
            Term::Eof => Ok(Template {
                name: name.to_string(),
                nodes,
            }),
            Term::End(span) => Err(parser.err(&span, "unexpected {{end}}")),
            Term::Else(span, _) => Err(parser.err(&span, "unexpected {{else}}")),
        }
    }

    /// Renders with `data` as `.` and `$`.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut ex = Exec {
            name: &self.name,
            out: String::new(),
            vars: vec![(String::new(), data.clone())],
        };
        ex.walk(&self.nodes, data)?;
        Ok(ex.out)
    }
}

/// Parses and renders in one go.
pub fn render(name: &str, src: &str, data: &Value) -> Result<String, TemplateError> {
    Template::parse(name, src)?.render(data)
}

struct Exec<'t> {
    name: &'t str,
    out: String,
    vars: Vec<(String, Value)>,
}

impl Exec<'_> {
    fn err(&self, span: &Span, message: impl Into<String>) -> TemplateError {
        TemplateError {
            name: self.name.to_string(),
            line: span.line,
            message: message.into(),
            excerpt: span.excerpt.clone(),
        }
    }

    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<(), TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Print(span, pipe) => {
                    let v = self.pipeline(span, pipe, dot)?;
                    if pipe.vars.is_empty() {
                        self.out.push_str(&v.to_string());
                    }
                }
                Node::If(span, pipe, body, els) | Node::With(span, pipe, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipeline(span, pipe, dot)?;
                    let res = if v.truthy() {
                        let inner = if matches!(node, Node::With(..)) {
                            &v
                        } else {
                            dot
                        };
                        self.walk(body, inner)
                    } else {
                        self.walk(els, dot)
                    };
                    self.vars.truncate(mark);
                    res?;
                }
                Node::Range(span, pipe, body, els) => self.range(span, pipe, body, els, dot)?,
            }
        }
        Ok(())
    }

    fn range(
        &mut self,
        span: &Span,
        pipe: &Pipeline,
        body: &[Node],
        els: &[Node],
        dot: &Value,
    ) -> Result<(), TemplateError> {
        // The range's own variables are bound per element, not to the whole pipeline value.
        let plain = Pipeline {
            vars: Vec::new(),
            declare: true,
            cmds: pipe.cmds.clone(),
        };
        let v = self.pipeline(span, &plain, dot)?;
        let items: Vec<(Value, Value)> = match v {
            Value::Nil => Vec::new(),
            Value::List(l) => l
                .into_iter()
                .enumerate()
                .map(|(i, e)| (Value::Int(i as i64), e))
                .collect(),
            Value::Map(m) => m.into_iter().map(|(k, e)| (Value::Str(k), e)).collect(),
            other => {
                return Err(self.err(span, format!("range can't iterate over a {}", other.kind())))
            }
        };
        if items.is_empty() {
            return self.walk(els, dot);
        }
        for (key, elem) in items {
            let mark = self.vars.len();
            match pipe.vars.as_slice() {
                [e] => self.vars.push((e.clone(), elem.clone())),
                [k, e] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((e.clone(), elem.clone()));
                }
                _ => {}
            }
            let res = self.walk(body, &elem);
            self.vars.truncate(mark);
            res?;
        }
        Ok(())
    }

    fn pipeline(
        &mut self,
        span: &Span,
        pipe: &Pipeline,
        dot: &Value,
    ) -> Result<Value, TemplateError> {
        let mut last: Option<Value> = None;
        for cmd in &pipe.cmds {
            last = Some(self.command(span, cmd, dot, last)?);
        }
        let v = last.unwrap_or(Value::Nil);
        if let Some(name) = pipe.vars.first() {
            if pipe.declare {
                self.vars.push((name.clone(), v.clone()));
            } else {
                let slot = self.vars.iter_mut().rev().find(|(n, _)| n == name);
                match slot {
                    Some(s) => s.1 = v.clone(),
                    None => return Err(self.err(span, format!("undefined variable ${name}"))),
                }
            }
        }
        Ok(v)
    }

    fn command(
        &mut self,
        span: &Span,
        cmd: &[Arg],
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, TemplateError> {
        if let Some(Arg::Func(f)) = cmd.first() {
            let mut args = Vec::with_capacity(cmd.len());
            for a in &cmd[1..] {
                args.push(self.arg(span, a, dot)?);
            }
            args.extend(piped);
            return call(f, &args).map_err(|m| self.err(span, m));
        }
        if cmd.len() > 1 || piped.is_some() {
            return Err(self.err(span, "arguments given to something that is not a function"));
        }
        if matches!(cmd[0], Arg::Lit(Value::Nil)) {
            return Err(self.err(span, "nil is not a command"));
        }
        self.arg(span, &cmd[0], dot)
    }

    fn arg(&mut self, span: &Span, arg: &Arg, dot: &Value) -> Result<Value, TemplateError> {
        match arg {
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Field(path) => self.fields(span, dot, path, ""),
            Arg::Var(name, path) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(self.err(span, format!("undefined variable ${name}")));
                };
                let v = v.clone();
                self.fields(span, &v, path, &format!("${name}"))
            }
            Arg::Func(f) => call(f, &[]).map_err(|m| self.err(span, m)),
            Arg::Pipe(p) => self.pipeline(span, p, dot),
        }
    }

    fn fields(
        &self,
        span: &Span,
        start: &Value,
        path: &[String],
        base: &str,
    ) -> Result<Value, TemplateError> {
        let mut v = start;
        let mut seen = base.to_string();
        for name in path {
            let Value::Map(m) = v else {
                return Err(self.err(
                    span,
                    format!(
                        "can't read field .{name} of {} (a {})",
                        if seen.is_empty() { "." } else { &seen },
                        v.kind()
                    ),
                ));
            };
            let Some(next) = m.get(name) else {
                let hint = match m.keys().find(|k| k.eq_ignore_ascii_case(name)) {
                    Some(k) => format!("did you mean .{k}?"),
                    None => format!(
                        "known fields: {}",
                        m.keys()
                            .map(|k| format!(".{k}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                };
                return Err(self.err(span, format!("unknown field {seen}.{name}; {hint}")));
            };
            seen = format!("{seen}.{name}");
            v = next;
        }
        Ok(v.clone())
    }
}

fn want(f: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!("{f} wants {n} argument(s), got {}", args.len()))
    }
}

fn basic_eq(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            Err(format!("can't compare a {} with a {}", a.kind(), b.kind()))
        }
        (Value::Nil, _) | (_, Value::Nil) => Ok(a == b),
        _ if a.kind() != b.kind() => Err(format!(
            "incompatible types for comparison: {} and {}",
            a.kind(),
            b.kind()
        )),
        _ => Ok(a == b),
    }
}

fn less(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ => Err(format!("can't order a {} and a {}", a.kind(), b.kind())),
    }
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            s.push(' ');
        }
        s.push_str(&a.to_string());
    }
    s
}

fn sprintf(args: &[Value]) -> Result<String, String> {
    let Some(Value::Str(fmt)) = args.first() else {
        return Err("printf wants a format string first".into());
    };
    let mut rest = args[1..].iter();
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next().ok_or("printf format ends with `%`")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = rest
            .next()
            .ok_or_else(|| format!("printf: missing argument for %{verb}"))?;
        match (verb, arg) {
            ('s' | 'v', a) => out.push_str(&a.to_string()),
            ('d', Value::Int(i)) => out.push_str(&i.to_string()),
            ('q', Value::Str(s)) => out.push_str(&format!("{s:?}")),
            (v, a) => return Err(format!("printf: %{v} can't format a {}", a.kind())),
        }
    }
    if rest.next().is_some() {
        return Err("printf: more arguments than verbs".into());
    }
    Ok(out)
}

fn call(f: &str, args: &[Value]) -> Result<Value, String> {
    match f {
        "and" | "or" => {
            let Some(last) = args.last() else {
                return Err(format!("{f} wants at least one argument"));
            };
            let stop = args.iter().find(|a| a.truthy() == (f == "or"));
            Ok(stop.unwrap_or(last).clone())
        }
        "not" => {
            want(f, args, 1)?;
            Ok(Value::Bool(!args[0].truthy()))
        }
        "eq" => {
            if args.len() < 2 {
                return Err("eq wants at least two arguments".into());
            }
            let mut any = false;
            for b in &args[1..] {
                any |= basic_eq(&args[0], b)?;
            }
            Ok(Value::Bool(any))
        }
        "ne" => {
            want(f, args, 2)?;
            Ok(Value::Bool(!basic_eq(&args[0], &args[1])?))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(f, args, 2)?;
            let (a, b) = (&args[0], &args[1]);
            Ok(Value::Bool(match f {
                "lt" => less(a, b)?,
                "le" => less(a, b)? || basic_eq(a, b)?,
                "gt" => less(b, a)?,
                _ => less(b, a)? || basic_eq(a, b)?,
            }))
        }
        "len" => {
            want(f, args, 1)?;
            let n = match &args[0] {
                Value::Str(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                other => return Err(format!("len of a {}", other.kind())),
            };
            Ok(Value::Int(n as i64))
        }
        "index" => {
            let Some(first) = args.first() else {
                return Err("index wants a value".into());
            };
            let mut v = first.clone();
            for key in &args[1..] {
                v = match (&v, key) {
                    (Value::List(l), Value::Int(i)) => usize::try_from(*i)
                        .ok()
                        .and_then(|i| l.get(i).cloned())
                        .ok_or_else(|| format!("index {i} out of range (length {})", l.len()))?,
                    (Value::Map(m), Value::Str(k)) => m.get(k).cloned().unwrap_or(Value::Nil),
                    (v, k) => {
                        return Err(format!("can't index a {} with a {}", v.kind(), k.kind()))
                    }
                };
            }
            Ok(v)
        }
        "print" => Ok(Value::Str(sprint(args))),
        "println" => {
            let words: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            Ok(Value::Str(format!("{}\n", words.join(" "))))
        }
        "printf" => sprintf(args).map(Value::Str),
        other => Err(format!("function `{other}` is not defined")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Value {
        let mut inner = BTreeMap::new();
        inner.insert("Name".to_string(), Value::from("inner"));
        let mut m = BTreeMap::new();
        m.insert("Version".into(), Value::from("v1.20.2"));
        m.insert("VIP".into(), Value::from("10.103.97.2"));
        m.insert(
            "Masters".into(),
            Value::from(vec!["192.168.0.2", "192.168.0.3"]),
        );
        m.insert("Empty".into(), Value::List(Vec::new()));
        m.insert("Flag".into(), Value::Bool(true));
        m.insert("Off".into(), Value::Bool(false));
        m.insert("Blank".into(), Value::from(""));
        m.insert("N".into(), Value::Int(3));
        m.insert("Sub".into(), Value::Map(inner));
        Value::Map(m)
    }

    fn r(src: &str) -> String {
        match render("t", src, &data()) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    fn e(src: &str) -> TemplateError {
        match render("t", src, &data()) {
            Ok(s) => panic!("expected an error, rendered {s:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn fields_and_nested_fields() {
        assert_eq!(
            r("k8s {{.Version}} at {{ .VIP }}"),
            "k8s v1.20.2 at 10.103.97.2"
        );
        assert_eq!(r("{{.Sub.Name}}"), "inner");
        assert_eq!(r("{{$.Sub.Name}}"), "inner");
    }

    #[test]
    fn range_over_masters_like_the_older_template() {
        let src = "certSANs:\n  {{range .Masters -}}\n  - {{.}}\n  {{end -}}\n  - {{.VIP}}\n";
        assert_eq!(
            r(src),
            "certSANs:\n  - 192.168.0.2\n  - 192.168.0.3\n  - 10.103.97.2\n"
        );
        assert_eq!(
            r("{{range .Masters}} - {{.}}{{end}}"),
            " - 192.168.0.2 - 192.168.0.3"
        );
        assert_eq!(
            r("{{range $i, $m := .Masters}}{{$i}}={{$m}};{{end}}"),
            "0=192.168.0.2;1=192.168.0.3;"
        );
        assert_eq!(
            r("{{range $m := .Masters}}{{$m}},{{end}}"),
            "192.168.0.2,192.168.0.3,"
        );
        assert_eq!(r("{{range .Empty}}x{{else}}none{{end}}"), "none");
        assert_eq!(
            r("{{range $k, $v := .Sub}}{{$k}}:{{$v}}{{end}}"),
            "Name:inner"
        );
    }

    #[test]
    fn if_else_chains_and_with() {
        assert_eq!(r("{{if .Flag}}yes{{else}}no{{end}}"), "yes");
        assert_eq!(r("{{if .Off}}yes{{else}}no{{end}}"), "no");
        assert_eq!(
            r("{{if .Blank}}a{{else if .Empty}}b{{else if .N}}c{{else}}d{{end}}"),
            "c"
        );
        assert_eq!(r("{{with .Sub}}{{.Name}}{{end}}"), "inner");
        assert_eq!(r("{{if .Off}}a{{else with .Sub}}{{.Name}}{{end}}"), "inner");
        assert_eq!(r("{{with .Blank}}a{{else if .N}}n{{end}}"), "n");
        assert_eq!(r("{{with .Blank}}x{{else}}empty{{end}}"), "empty");
        assert_eq!(r("{{if not .Off}}on{{end}}"), "on");
        assert_eq!(
            r("{{if and .Flag .N}}both{{end}}{{if or .Off .Blank}}any{{end}}"),
            "both"
        );
    }

    #[test]
    fn trimming_and_comments() {
        assert_eq!(r("a  \n {{- .N -}} \n  b"), "a3b");
        assert_eq!(r("a {{/* a comment */}}b"), "a b");
        assert_eq!(r("a \n{{- /* gone */ -}}\n b"), "ab");
        // `{{-3}}` is the number -3, not a trim marker (as in Go).
        assert_eq!(r("x {{-3}}"), "x -3");
    }

    #[test]
    fn functions_pipes_and_variables() {
        assert_eq!(r(r#"{{if eq .Version "v1.20.2"}}ok{{end}}"#), "ok");
        assert_eq!(r(r#"{{if eq .Version "a" "v1.20.2"}}any{{end}}"#), "any");
        assert_eq!(r(r#"{{if ne .N 3}}x{{else}}three{{end}}"#), "three");
        assert_eq!(r("{{len .Masters}} {{index .Masters 1}}"), "2 192.168.0.3");
        assert_eq!(r(r#"{{printf "%s/%d" .VIP 32}}"#), "10.103.97.2/32");
        assert_eq!(r(r#"{{.VIP | printf "%s/32"}}"#), "10.103.97.2/32");
        assert_eq!(r(r#"{{print 1 2 "a" 3}}"#), "1 2a3");
        assert_eq!(
            r("{{$v := .VIP}}{{range .Masters}}{{$v}} {{end}}"),
            "10.103.97.2 10.103.97.2 "
        );
        assert_eq!(r("{{$x := 1}}{{$x = 2}}{{$x}}"), "2");
        assert_eq!(r("{{if lt (len .Masters) .N}}fewer{{end}}"), "fewer");
        assert_eq!(r(r#"{{`raw \n`}}"#), "raw \\n");
    }

    #[test]
    fn unknown_field_names_the_line_and_suggests() {
        let err = e("a: 1\nb: {{.Version}}\nc: {{.Vip}}\n");
        assert_eq!(err.line, 3);
        assert_eq!(err.excerpt, "{{.Vip}}");
        assert!(err.message.contains("unknown field .Vip"), "{err}");
        assert!(err.message.contains("did you mean .VIP?"), "{err}");
        assert_eq!(
            err.to_string(),
            "t:3: unknown field .Vip; did you mean .VIP? (in `{{.Vip}}`)"
        );
        let err = e("\n\n{{range .Masters}}\n{{.Nope}}\n{{end}}");
        assert_eq!(err.line, 4);
        assert!(err.message.contains("can't read field .Nope"), "{err}");
        let err = e("{{.Sub.Nope}}");
        assert!(
            err.message
                .contains("unknown field .Sub.Nope; known fields: .Name"),
            "{err}"
        );
    }

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

    #[test]
    fn render_errors() {
        assert!(e("{{.VIP 1}}").message.contains("not a function"));
        assert!(e("{{range .VIP}}{{end}}")
            .message
            .contains("can't iterate over a string"));
        assert!(e("{{$nope}}").message.contains("undefined variable $nope"));
        assert!(e(r#"{{if eq .N "3"}}{{end}}"#)
            .message
            .contains("incompatible types"));
        assert!(e("{{index .Masters 5}}").message.contains("out of range"));
    }

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

    #[test]
    fn values_print_like_go() {
        assert_eq!(r("{{.Masters}}"), "[192.168.0.2 192.168.0.3]");
        assert_eq!(r("{{.Sub}}"), "map[Name:inner]");
        assert!(e("{{nil}}").message.contains("nil is not a command"));
        assert_eq!(r("{{if eq .Blank nil}}{{else}}not nil{{end}}"), "not nil");
        assert_eq!(r("{{.Flag}}"), "true");
    }
}
