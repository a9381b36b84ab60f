//! The data and the render helpers the tests of every template module share.

use std::collections::BTreeMap;

use super::{render, TemplateError, Value};

pub(super) fn data() -> Value {
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

pub(super) fn r(src: &str) -> String {
    match render("t", src, &data()) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

pub(super) fn e(src: &str) -> TemplateError {
    match render("t", src, &data()) {
        Ok(s) => panic!("expected an error, rendered {s:?}"),
        Err(e) => e,
    }
}
