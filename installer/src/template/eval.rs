//! The evaluator: parsed nodes rendered against the data (`.` and `$`), with variables, the
//! built-in functions and Go's rules for truth, comparison and printing.

use super::error::Span;
use super::parse::{Arg, Node, Pipeline};
use super::{TemplateError, Value};

/// Renders `nodes` of template `name` with `data` as `.` and `$`.
pub(super) fn render(name: &str, nodes: &[Node], data: &Value) -> Result<String, TemplateError> {
    let mut ex = Exec {
        name,
        out: String::new(),
        vars: vec![(String::new(), data.clone())],
    };
    ex.walk(nodes, data)?;
    Ok(ex.out)
}

struct Exec<'t> {
    name: &'t str,
    out: String,
    vars: Vec<(String, Value)>,
}

impl Exec<'_> {
    fn err(&self, span: &Span, message: impl Into<String>) -> TemplateError {
        span.error(self.name, message)
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
    use crate::template::testing::{e, r};

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
}
