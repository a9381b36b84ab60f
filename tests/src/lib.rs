//! The real-kernel test bed: boots QEMU VMs running Debian's 6.1 kernel (which has IPVS) over the
//! host's own root file system, runs scripts in them as root, and wires several VMs into a private
//! LAN inside a network namespace. See `tests/README.md` for how to use it by hand.

pub mod error;
pub mod install_bed;
pub mod kernel;
pub mod lan;
pub mod openmetrics;
pub mod vm;

pub use error::Error;
pub use kernel::Kernel;
pub use lan::Lan;
pub use vm::{make_disk, Outcome, SshdConfig, Vm, VmSpec};

/// Debian packages the test bed needs on the host, for messages and for `.ci/run`.
pub const HOST_PACKAGES: &str =
    "qemu-system-x86 busybox-static kmod cpio iproute2 ipvsadm openssh-server openssh-client curl openssl python3 nftables";

/// The kernel and initramfs for tests, or `None` (with a message saying how to get them) when the
/// machine cannot run the test bed and this is not CI. In CI every such problem is a failure.
pub fn kernel_or_skip(test: &str) -> Option<Kernel> {
    match Kernel::ensure() {
        Ok(k) => Some(k),
        Err(e) if !in_ci() && e.is_missing_prerequisite() => {
            eprintln!("SKIPPED {test}: {e}");
            None
        }
        Err(e) => panic!("test bed unavailable for {test}: {e}"),
    }
}

/// A binary built from this workspace (e.g. `lvscare`), next to the running test's own target
/// folder; panics with the command to build it when it is missing.
pub fn project_binary(name: &str) -> std::path::PathBuf {
    // Test executables live in target/<profile>/deps; binaries (testbed too) in target/<profile>.
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(|d| d.to_path_buf()).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// True when running under CI (`CI` set to anything but empty or "false").
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !v.is_empty() && v != "false")
        .unwrap_or(false)
}

/// The soak script (`tests/vm/soak.sh`) for a run of `secs` seconds; its `__LV__` is still to be
/// replaced by the lvscare binary's path.
pub fn soak_script(secs: u32) -> String {
    include_str!("../vm/soak.sh").replace("__SECS__", &secs.to_string())
}
