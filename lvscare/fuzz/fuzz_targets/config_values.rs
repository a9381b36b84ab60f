//! Fuzzes the flag value parsers: durations (`1m30s`, `1.5s`, …) and endpoints (`IP:PORT`,
//! `[IPv6]:PORT`); whatever parses reads the same again from how lvscare prints it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvscare::config::{fmt_duration, parse_duration};
use lvscare::fuzzing::parse_endpoint;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = parse_duration(value) {
        assert_eq!(parse_duration(&fmt_duration(d)), Ok(d), "{value:?}");
    }
    if let Ok(addr) = parse_endpoint("--vs", value) {
        assert_eq!(
            parse_endpoint("--vs", &addr.to_string()),
            Ok(addr),
            "{value:?}"
        );
    }
});
