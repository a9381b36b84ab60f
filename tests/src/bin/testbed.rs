//! `testbed`: the real-kernel test bed for people.
//!
//! testbed prepare                     download the kernel and build the initramfs (cached)
//! testbed run SCRIPT [TIMEOUT_SECS]   boot a VM, run SCRIPT (bash, as root) in it, print its output
//! testbed boot-times                  measure one VM's boot, and four booting together on a LAN
//! testbed install-times               seal-install init of 3 masters + 1..4 nodes, timed (seven VMs)
//! testbed demo                        the lvscare failover demo (lvscare built next to this binary)
//! testbed bench-failover [TRIALS]     detection time of a killed and a blackholed master, as a table
//! testbed soak [SECONDS]              lvscare under random master flaps and flushes, with a client

use seal_testbed::{soak_script, Error, Kernel, Lan, SshdConfig, Vm, VmSpec};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage:
  testbed prepare                     download the 6.1 kernel and build the initramfs (cached in /var/cache/seal-testbed)
  testbed run [--systemd] SCRIPT [TIMEOUT_SECS]
                                      boot a VM, run SCRIPT with bash as root inside it, print its output
                                      and exit with its status (results are kept if SEAL_TESTBED_KEEP=1);
                                      --systemd: systemd is PID 1 (3 GiB of memory)
  testbed boot-times                  boot one VM, then four together on a LAN with sshd; print a table
  testbed demo                        lvscare in front of three fake masters: spread, failover, recovery
  testbed bench-failover [TRIALS]     kill / blackhole a master TRIALS times (default 20) at a random
                                      moment between probes; print how long it kept new connections
  testbed soak [SECONDS]              lvscare for SECONDS (default 600) while masters flap at random and
                                      IPVS is flushed, a client requesting all along; print RSS, fds,
                                      threads, log lines at start and end; fail on growth or failures
  testbed install-times               seal-install init of 3 masters + 1..4 nodes on seven VMs; print a table";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut words: Vec<&str> = args.iter().map(String::as_str).collect();
    let systemd = words.len() > 1 && words[0] == "run" && words[1] == "--systemd";
    if systemd {
        words.remove(1);
    }
    match words.as_slice() {
        ["prepare"] => match Kernel::ensure() {
            Ok(k) => {
                println!(
                    "kernel {}\n  {}\n  {}",
                    k.release,
                    k.vmlinux.display(),
                    k.initrd.display()
                );
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
            let mut spec = VmSpec::new("testbed", &body, Duration::from_secs(timeout));
            if systemd {
                spec.systemd = true;
                spec.memory_mb = 3072;
            }
            match Vm::run(&kernel, &spec) {
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
        ["bench-failover"] | ["bench-failover", _] => {
            let trials = match words.get(1).map(|n| n.parse::<u32>()) {
                None => 20,
                Some(Ok(n)) if n > 0 => n,
                Some(_) => return fail("bench-failover TRIALS: a positive whole number"),
            };
            match vm_script(
                "bench-failover",
                &include_str!("../../vm/bench-failover.sh")
                    .replace("__TRIALS__", &trials.to_string()),
                Duration::from_secs(900),
            ) {
                Ok(code) => code,
                Err(e) => fail(&e.to_string()),
            }
        }
        ["soak"] | ["soak", _] => {
            let secs = match words.get(1).map(|n| n.parse::<u32>()) {
                None => 600,
                Some(Ok(n)) if n > 0 => n,
                Some(_) => return fail("soak SECONDS: a positive whole number"),
            };
            let limit = Duration::from_secs(u64::from(secs) + 300);
            match vm_script("soak", &soak_script(secs), limit) {
                Ok(code) => code,
                Err(e) => fail(&e.to_string()),
            }
        }
        ["demo"] => match demo() {
            Ok(code) => code,
            Err(e) => fail(&e.to_string()),
        },
        ["install-times"] => match install_times() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        ["boot-times"] => match boot_times() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e.to_string()),
        },
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

/// Boot time = QEMU start until the VM's script starts (sshd already up when asked for).
fn boot_times() -> Result<(), Error> {
    let kernel = Kernel::ensure()?;
    let one = Vm::run(
        &kernel,
        &VmSpec::new("single", "true", Duration::from_secs(120)),
    )?;
    println!("| VMs together | VM | boot (s) |\n|---|---|---|");
    println!("| 1 | single | {:.1} |", one.boot_time.as_secs_f64());
    let mut lan = Lan::create()?;
    let mut vms = Vec::new();
    for i in 0..4 {
        let mut spec = VmSpec::new(
            &format!("vm{i}"),
            "source /seal/lib.sh; ready up; wait_for_stop",
            Duration::from_secs(180),
        );
        spec.cpus = 1;
        spec.net = Some(lan.attach()?);
        spec.sshd = Some(SshdConfig::default());
        vms.push(Vm::start(&kernel, &spec)?);
    }
    for vm in &mut vms {
        vm.wait_for_result("up", Duration::from_secs(120))?;
    }
    let mut slowest = 0.0f64;
    for (i, vm) in vms.into_iter().enumerate() {
        let out = vm.stop()?;
        slowest = slowest.max(out.boot_time.as_secs_f64());
        println!("| 4 | vm{i} | {:.1} |", out.boot_time.as_secs_f64());
    }
    println!("| 4 | all up | {slowest:.1} |");
    drop(lan);
    Ok(())
}

/// Runs tests/vm/demo.sh in a VM with the lvscare binary that sits next to this one, printing
/// the script's output as it is written.
fn demo() -> Result<ExitCode, Error> {
    vm_script(
        "demo",
        include_str!("../../vm/demo.sh"),
        Duration::from_secs(900),
    )
}

/// Runs `script` (its `__LV__` is the lvscare binary next to this one) in a VM, printing its
/// output as it is written.
fn vm_script(name: &str, script: &str, timeout: Duration) -> Result<ExitCode, Error> {
    let exe = std::env::current_exe().map_err(|e| Error::Io {
        what: "locating testbed".into(),
        source: e,
    })?;
    let lvscare = exe.with_file_name("lvscare");
    if !lvscare.is_file() {
        return Ok(fail(&format!(
            "{} is missing: build it with `cargo build --release -p lvscare`",
            lvscare.display()
        )));
    }
    let kernel = Kernel::ensure()?;
    let script = script.replace("__LV__", &lvscare.display().to_string());
    println!("booting a VM with Debian's 6.1 kernel (real IPVS) under QEMU...");
    let vm = Vm::start(&kernel, &VmSpec::new(name, &script, timeout))?;
    let log = vm.run_dir().join("output.log");
    let follower = std::thread::spawn(move || follow(&log));
    let out = vm.wait();
    let _ = follower.join();
    let out = out?;
    println!(
        "\n(VM boot {:.1} s, whole {name} {:.1} s)",
        out.boot_time.as_secs_f64(),
        out.wall_time.as_secs_f64()
    );
    Ok(ExitCode::from(u8::try_from(out.exit_code).unwrap_or(1)))
}

/// Prints a growing file until the VM's exit-code file appears next to it.
fn follow(path: &std::path::Path) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let done = path.with_file_name("exit-code");
    let mut pos = 0u64;
    loop {
        let finished = done.exists() || !path.parent().is_some_and(|p| p.exists());
        if let Ok(mut f) = std::fs::File::open(path) {
            let mut buf = Vec::new();
            if f.seek(SeekFrom::Start(pos)).is_ok() && f.read_to_end(&mut buf).is_ok() {
                pos += buf.len() as u64;
                let _ = std::io::stdout().write_all(&buf);
                let _ = std::io::stdout().flush();
            }
        }
        if finished {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Wall time of `seal-install init` (key auth) for 3 masters and 1, 2, 3, 4 nodes, each followed
/// by `clean --all`, on seven VMs booted once. Uses seal-install and lvscare built beside this.
fn install_times() -> Result<(), String> {
    use seal_testbed::install_bed::{stderr, Bed};
    let names = ["m1", "m2", "m3", "n1", "n2", "n3", "n4"];
    let bed = Bed::start("install-times", &names).ok_or("the test bed is not available here")?;
    let key = bed.key.display().to_string();
    let mut rows = Vec::new();
    for k in 1..=4 {
        let args = bed.init_args(&names[..3], &names[3..3 + k], &["--pk", &key]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, init) = bed.run(&argv);
        if !out.status.success() {
            return Err(format!("init with {k} node(s) failed:\n{}", stderr(&out)));
        }
        let (out, clean) = bed.run(&["clean", "--all", "--pk", &key, "--connect-timeout", "60"]);
        if !out.status.success() {
            return Err(format!("clean after {k} node(s) failed:\n{}", stderr(&out)));
        }
        rows.push((k, init, clean));
    }
    println!("| hosts | init | clean --all |\n|---|---|---|");
    for (k, init, clean) in rows {
        println!(
            "| 3 masters + {k} node(s) | {:.1} s | {:.1} s |",
            init.as_secs_f64(),
            clean.as_secs_f64()
        );
    }
    Ok(())
}
