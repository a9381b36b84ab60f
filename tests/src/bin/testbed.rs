//! `testbed`: the real-kernel test bed for people.
//!
//! testbed prepare                     download the kernel and build the initramfs (cached)
//! testbed run SCRIPT [TIMEOUT_SECS]   boot a VM, run SCRIPT (bash, as root) in it, print its output

use seal_testbed::{Kernel, Vm, VmSpec};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage:
  testbed prepare                     download the 6.1 kernel and build the initramfs (cached in /var/cache/seal-testbed)
  testbed run SCRIPT [TIMEOUT_SECS]   boot a VM, run SCRIPT with bash as root inside it, print its output
                                      and exit with its status (results are kept if SEAL_TESTBED_KEEP=1)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["prepare"] => match Kernel::ensure() {
            Ok(k) => {
                println!("kernel {}\n  {}\n  {}", k.release, k.vmlinux.display(), k.initrd.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
        ["run", script, rest @ ..] if rest.len() <= 1 => {
            let timeout = match rest.first().map(|t| t.parse::<u64>()) {
                None => 300,
                Some(Ok(t)) if t > 0 => t,
                Some(_) => return usage("TIMEOUT_SECS must be a positive number of seconds"),
            };
            let body = match std::fs::read_to_string(script) {
                Ok(b) => b,
                Err(e) => return fail(&format!("cannot read {script}: {e}")),
            };
            let kernel = match Kernel::ensure() {
                Ok(k) => k,
                Err(e) => return fail(&e.to_string()),
            };
            match Vm::run(&kernel, &VmSpec::new("testbed", &body, Duration::from_secs(timeout))) {
                Ok(out) => {
                    print!("{}", out.output);
                    eprintln!(
                        "testbed: exit {} (boot {:.1}s, total {:.1}s)",
                        out.exit_code,
                        out.boot_time.as_secs_f64(),
                        out.wall_time.as_secs_f64()
                    );
                    ExitCode::from(u8::try_from(out.exit_code).unwrap_or(1))
                }
                Err(e) => fail(&e.to_string()),
            }
        }
        ["-h"] | ["--help"] | ["help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => usage("unknown command"),
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("testbed: {msg}\n{USAGE}");
    ExitCode::from(2)
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("testbed: {msg}");
    ExitCode::from(1)
}
