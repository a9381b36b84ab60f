//! One QEMU VM: a run folder shared with the host (script in, output and results out), the QEMU
//! process, and waiting for it with a deadline.

use crate::error::{tail, Error};
use crate::kernel::{need_tool, Kernel};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The VM side of a LAN attachment (see [`crate::Lan::attach`]).
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Network namespace QEMU runs in (where the tap is).
    pub netns: String,
    /// The tap device inside that namespace.
    pub tap: String,
    /// MAC address of the VM's NIC.
    pub mac: String,
    /// Address of `eth0` in CIDR form.
    pub ip_cidr: String,
    /// Default gateway (none: the VM has only its LAN route). Kubernetes takes a node's address
    /// from its default route; the LAN's host side has no uplink, so nothing leaves it.
    pub gateway: Option<String>,
}

/// sshd settings for a VM that must be reachable over SSH.
#[derive(Debug, Clone, Default)]
pub struct SshdConfig {
    /// Lines for root's `authorized_keys`.
    pub authorized_keys: Option<String>,
    /// Root's password (password authentication is enabled when set).
    pub root_password: Option<String>,
    /// A non-root user made on the VM, with the same keys and password as root, who may run
    /// anything through sudo after giving that password.
    pub sudo_user: Option<String>,
}

/// What to boot and run.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// Name, also the VM's hostname.
    pub name: String,
    /// Memory in MiB.
    pub memory_mb: u32,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Bash script run as root once the VM is up; its exit status is the outcome's.
    pub script: String,
    /// Deadline for boot plus script.
    pub timeout: Duration,
    /// Modules loaded before the script (others load on demand).
    pub modules: Vec<String>,
    /// LAN attachment, if any (none: the VM has no NIC).
    pub net: Option<NetConfig>,
    /// Start sshd before the script.
    pub sshd: Option<SshdConfig>,
    /// Extra files placed in the run folder (`/seal/<name>` in the VM).
    pub files: Vec<(String, Vec<u8>)>,
    /// Boot systemd as PID 1 (cgroup v1 hierarchies, as kubelet v1.20 with cgroupfs wants), so
    /// units run as on a real host; the script then runs as a unit. Off: a plain chroot.
    pub systemd: bool,
    /// A disk image (see [`make_disk`]) holding the VM's writable layer: what the VM wrote is
    /// still there when it boots again from the same image, as after a host's reboot. None:
    /// the layer is in RAM and gone at power-off.
    pub disk: Option<PathBuf>,
}

/// Makes a sparse ext4 disk image of `size_mb` for [`VmSpec::disk`].
pub fn make_disk(path: &Path, size_mb: u64) -> Result<(), Error> {
    need_tool("mkfs.ext4", "e2fsprogs")?;
    let f = fs::File::create(path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    f.set_len(size_mb << 20)
        .map_err(|e| Error::io(format!("sizing {}", path.display()), e))?;
    crate::kernel::run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(path))?;
    Ok(())
}

impl VmSpec {
    /// A VM with 1 GiB, 2 CPUs, no network, running `script` within `timeout`.
    pub fn new(name: &str, script: &str, timeout: Duration) -> Self {
        VmSpec {
            name: name.into(),
            memory_mb: 1024,
            cpus: 2,
            script: script.into(),
            timeout,
            modules: Vec::new(),
            net: None,
            sshd: None,
            files: Vec::new(),
            systemd: false,
            disk: None,
        }
    }
}

/// What a finished VM left: exit status, output and its results folder.
#[derive(Debug)]
pub struct Outcome {
    /// The script's exit status.
    pub exit_code: i32,
    /// The script's combined stdout and stderr.
    pub output: String,
    /// The serial console log (kernel and init messages).
    pub console: String,
    /// Files the script left in `/seal/results`.
    pub results: PathBuf,
    /// Time from QEMU start until the script started.
    pub boot_time: Duration,
    /// Time from QEMU start until the VM powered off.
    pub wall_time: Duration,
    run: RunDir,
}

impl Outcome {
    /// The run folder (kept on disk until the outcome is dropped).
    pub fn run_dir(&self) -> &Path {
        &self.run.0
    }

    /// Panics with the output and console unless the script exited 0.
    pub fn assert_success(&self) {
        assert!(
            self.exit_code == 0,
            "VM script exited {}\n--- output ---\n{}\n--- console ---\n{}",
            self.exit_code,
            self.output,
            tail(&self.console, 40)
        );
    }
}

/// The host folder shared with the VM as `/seal`; removed on drop unless SEAL_TESTBED_KEEP is set.
#[derive(Debug)]
struct RunDir(PathBuf);

impl Drop for RunDir {
    fn drop(&mut self) {
        if std::env::var_os("SEAL_TESTBED_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// A running VM.
#[derive(Debug)]
pub struct Vm {
    name: String,
    child: Option<Child>,
    started: Instant,
    timeout: Duration,
    boot_time: Option<Duration>,
    run: Option<RunDir>,
}

static RUN_COUNTER: AtomicU32 = AtomicU32::new(0);

impl Vm {
    /// Prepares the run folder and starts QEMU; returns at once.
    pub fn start(kernel: &Kernel, spec: &VmSpec) -> Result<Vm, Error> {
        need_tool("qemu-system-x86_64", "qemu-system-x86")?;
        let n = RUN_COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join("seal-testbed").join(format!(
            "{}-{}-{}",
            spec.name,
            std::process::id(),
            n
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("results"))
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let run = RunDir(dir.clone());
        let write = |name: &str, data: &[u8]| {
            fs::write(dir.join(name), data)
                .map_err(|e| Error::io(format!("writing {name} in {}", dir.display()), e))
        };
        write("stage2.sh", include_bytes!("../vm/stage2.sh"))?;
        write("lib.sh", include_bytes!("../vm/lib.sh"))?;
        write(
            "fake-apiserver.py",
            include_bytes!("../vm/fake-apiserver.py"),
        )?;
        write("script", spec.script.as_bytes())?;
        for (name, data) in &spec.files {
            write(name, data)?;
        }
        let sshd = spec.sshd.clone();
        if let Some(keys) = sshd.as_ref().and_then(|s| s.authorized_keys.as_ref()) {
            write("authorized_keys", keys.as_bytes())?;
        }
        let conf = format!(
            "SEAL_HOSTNAME='{}'\nSEAL_KVER='{}'\nSEAL_MODDIR='{}'\nSEAL_MODULES='{}'\nSEAL_IP='{}'\nSEAL_GATEWAY='{}'\nSEAL_SSHD='{}'\nSEAL_ROOT_PASSWORD='{}'\nSEAL_SYSTEMD='{}'\nSEAL_SUDO_USER='{}'\nSEAL_DISK='{}'\n",
            spec.name,
            kernel.release,
            kernel.moddir.display(),
            spec.modules.join(" "),
            spec.net.as_ref().map(|n| n.ip_cidr.as_str()).unwrap_or(""),
            spec.net.as_ref().and_then(|n| n.gateway.as_deref()).unwrap_or(""),
            if sshd.is_some() { "1" } else { "0" },
            sshd.as_ref().and_then(|s| s.root_password.as_deref()).unwrap_or(""),
            if spec.systemd { "1" } else { "0" },
            sshd.as_ref().and_then(|s| s.sudo_user.as_deref()).unwrap_or(""),
            if spec.disk.is_some() { "1" } else { "0" },
        );
        write("vm.conf", conf.as_bytes())?;

        let mut cmd = match &spec.net {
            Some(net) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &net.netns, "qemu-system-x86_64"]);
                c
            }
            None => Command::new("qemu-system-x86_64"),
        };
        cmd.args([
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
        ])
        .arg("-m")
        .arg(spec.memory_mb.to_string())
        .arg("-smp")
        .arg(spec.cpus.to_string())
        .arg("-kernel")
        .arg(&kernel.vmlinux)
        .arg("-initrd")
        .arg(&kernel.initrd)
        .arg("-append")
        .arg(format!(
            "{}{}",
            if spec.systemd {
                "console=ttyS0 quiet panic=-1 8250.nr_uarts=1 systemd.unified_cgroup_hierarchy=0 \
                 systemd.show_status=false"
            } else {
                "console=ttyS0 quiet panic=-1 8250.nr_uarts=1"
            },
            if spec.disk.is_some() { " seal.disk" } else { "" }
        ))
        .arg("-serial")
        .arg(format!("file:{}", dir.join("console.log").display()))
        .arg("-virtfs")
        .arg("local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap")
        .arg("-virtfs")
        .arg(format!(
            "local,path={},mount_tag=seal,security_model=none,multidevs=remap",
            dir.display()
        ));
        if let Some(disk) = &spec.disk {
            // Writes go to the host's page cache: a killed QEMU loses only what the guest had
            // not yet written out, as a host losing power loses its unflushed cache.
            cmd.arg("-drive").arg(format!(
                "file={},format=raw,if=virtio,cache=writeback",
                disk.display()
            ));
        }
        match &spec.net {
            Some(net) => {
                cmd.arg("-netdev")
                    .arg(format!(
                        "tap,id=n0,ifname={},script=no,downscript=no",
                        net.tap
                    ))
                    .arg("-device")
                    .arg(format!("virtio-net-pci,netdev=n0,mac={}", net.mac));
            }
            None => {
                cmd.args(["-nic", "none"]);
            }
        }
        let qemu_log = fs::File::create(dir.join("qemu.log"))
            .map_err(|e| Error::io("creating qemu.log", e))?;
        let qemu_err = qemu_log
            .try_clone()
            .map_err(|e| Error::io("cloning qemu.log handle", e))?;
        cmd.stdin(Stdio::null()).stdout(qemu_log).stderr(qemu_err);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| Error::io("starting qemu-system-x86_64", e))?;
        Ok(Vm {
            name: spec.name.clone(),
            child: Some(child),
            started,
            timeout: spec.timeout,
            boot_time: None,
            run: Some(run),
        })
    }

    /// Boots a VM, runs its script and waits for it to power off.
    pub fn run(kernel: &Kernel, spec: &VmSpec) -> Result<Outcome, Error> {
        Vm::start(kernel, spec)?.wait()
    }

    /// The host path of the VM's `/seal` folder.
    pub fn run_dir(&self) -> &Path {
        match &self.run {
            Some(r) => &r.0,
            None => Path::new("/nonexistent"),
        }
    }

    /// The host path of the VM's `/seal/results` folder.
    pub fn results(&self) -> PathBuf {
        self.run_dir().join("results")
    }

    /// Waits until the script creates `results/<name>` (e.g. a "ready" marker), within `timeout`.
    pub fn wait_for_result(&mut self, name: &str, timeout: Duration) -> Result<(), Error> {
        let path = self.results().join(name);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            self.note_boot();
            if path.exists() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(
                        self.failure(&format!("exited ({status}) before creating results/{name}"))
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(self.failure(&format!("results/{name} not created within {timeout:?}")))
    }

    /// Asks the script to finish by creating `/seal/stop`, then waits for the VM to power off.
    pub fn stop(self) -> Result<Outcome, Error> {
        let _ = fs::write(self.run_dir().join("stop"), b"");
        self.wait()
    }

    /// Kills QEMU at once (a VM "losing power").
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the VM to power off within its timeout; kills it and fails otherwise.
    pub fn wait(mut self) -> Result<Outcome, Error> {
        let deadline = self.started + self.timeout;
        loop {
            self.note_boot();
            let status = match self.child.as_mut() {
                Some(c) => c.try_wait().map_err(|e| Error::io("waiting for qemu", e))?,
                None => return Err(self.failure("VM already reaped")),
            };
            if status.is_some() {
                break;
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(self.failure(&format!("did not finish within {:?}", self.timeout)));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let wall_time = self.started.elapsed();
        self.child = None;
        let dir = self.run_dir().to_path_buf();
        let exit = fs::read_to_string(dir.join("exit-code")).ok();
        let Some(exit_code) = exit.and_then(|s| s.trim().parse::<i32>().ok()) else {
            return Err(self.failure("powered off without running the script to its end"));
        };
        // Only a VM whose script ended before the first poll lacks a boot time; wall time bounds it.
        let boot_time = self.boot_time.unwrap_or(wall_time);
        let run = self
            .run
            .take()
            .ok_or_else(|| self.failure("run folder already taken"))?;
        Ok(Outcome {
            exit_code,
            output: fs::read_to_string(dir.join("output.log")).unwrap_or_default(),
            console: fs::read_to_string(dir.join("console.log")).unwrap_or_default(),
            results: dir.join("results"),
            boot_time,
            wall_time,
            run,
        })
    }

    /// Records when stage 2 reached the script (it writes `/seal/booted` then).
    fn note_boot(&mut self) {
        if self.boot_time.is_none() && self.run_dir().join("booted").exists() {
            self.boot_time = Some(self.started.elapsed());
        }
    }

    fn failure(&self, what: &str) -> Error {
        let dir = self.run_dir();
        let console = fs::read_to_string(dir.join("console.log")).unwrap_or_default();
        let qemu = fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
        // Keep the folder for a post-mortem: the error names the console log's path.
        if let Some(r) = &self.run {
            let _ = fs::write(r.0.join("KEEP"), b"");
        }
        Error::Vm {
            vm: self.name.clone(),
            what: what.into(),
            console_path: dir.join("console.log"),
            console: format!("{}{}", tail(&qemu, 5), tail(&console, 40)),
            output: tail(
                &fs::read_to_string(dir.join("output.log")).unwrap_or_default(),
                40,
            ),
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
        if let Some(r) = self.run.take() {
            if r.0.join("KEEP").exists() {
                std::mem::forget(r);
            }
        }
    }
}
