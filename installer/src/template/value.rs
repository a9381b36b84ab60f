//! [`Value`]: what templates see, the data and what expressions produce, printed as Go prints it.

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

    pub(super) fn kind(&self) -> &'static str {
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

#[cfg(test)]
mod tests {
    use crate::template::testing::{e, r};

    #[test]
    fn values_print_like_go() {
        assert_eq!(r("{{.Masters}}"), "[192.168.0.2 192.168.0.3]");
        assert_eq!(r("{{.Sub}}"), "map[Name:inner]");
        assert!(e("{{nil}}").message.contains("nil is not a command"));
        assert_eq!(r("{{if eq .Blank nil}}{{else}}not nil{{end}}"), "not nil");
        assert_eq!(r("{{.Flag}}"), "true");
    }
}
