//! A short soak (CI's version of `testbed soak`): lvscare on the real kernel for 90 s while
//! masters flap at random and IPVS is flushed; memory, fds, threads and logging stay bounded
//! and no client request fails outside the windows right after a break.

use seal_testbed::{kernel_or_skip, project_binary, soak_script, Vm, VmSpec};
use std::fs;
use std::time::Duration;

#[test]
fn a_short_soak_stays_bounded() {
    let Some(kernel) = kernel_or_skip("a_short_soak_stays_bounded") else {
        return;
    };
    let script =
        soak_script(90).replace("__LV__", &project_binary("lvscare").display().to_string());
    let out = Vm::run(
        &kernel,
        &VmSpec::new("lvscare-soak", &script, Duration::from_secs(500)),
    )
    .expect("VM");
    eprintln!("{}", out.output);
    out.assert_success();
    let soak = fs::read_to_string(out.results.join("soak")).unwrap_or_default();
    let f: Vec<u64> = soak
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    assert_eq!(f.len(), 12, "soak results: {soak:?}");
    let (rss0, fd0, rss1, fd1, events, ok, outside) = (f[0], f[1], f[4], f[5], f[8], f[9], f[11]);
    assert!(events >= 3 && ok > 0, "{soak}");
    assert!(rss1 <= rss0 + rss0 / 4 + 1024 && fd1 <= fd0 + 3, "{soak}");
    assert_eq!(outside, 0, "{soak}");
}
