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
//!
//! Parts: `lex` (the source into text and action tokens), `parse` (tokens into nodes), `eval`
//! (nodes rendered against the data), `value` ([`Value`]), `error` ([`TemplateError`]).

mod error;
mod eval;
mod lex;
mod parse;
#[cfg(test)]
mod testing;
mod value;

pub use error::TemplateError;
pub use value::Value;

use parse::Node;

/// A parsed template, ready to render many times.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    nodes: Vec<Node>,
}

impl Template {
    /// Parses `src`; `name` (usually the file) prefixes error messages.
    pub fn parse(name: &str, src: &str) -> Result<Template, TemplateError> {
        let nodes = parse::parse(name, lex::lex(name, src)?)?;
        Ok(Template {
            name: name.to_string(),
            nodes,
        })
    }

    /// Renders with `data` as `.` and `$`.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        eval::render(&self.name, &self.nodes, data)
    }
}

/// Parses and renders in one go.
pub fn render(name: &str, src: &str, data: &Value) -> Result<String, TemplateError> {
    Template::parse(name, src)?.render(data)
}
