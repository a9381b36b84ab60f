//! A LAN of VMs with real sshd for `seal-install` tests, driven from the LAN's host side with a
//! private HOME (the operator's machine); the system ssh client is the independent witness.

use crate::{kernel_or_skip, make_disk, project_binary, Kernel, Lan, SshdConfig, Vm, VmSpec};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// root's password on the VMs (no single quote: the test bed hands it over inside single quotes).
pub const PASSWORD: &str = "s3cret $pecial \"chars\"";
/// A non-root user on every VM, who becomes root through sudo with [`PASSWORD`].
pub const SUDO_USER: &str = "seal";
/// The VIP every test cluster uses (the installer's default).
pub const VIP: &str = "10.103.97.2";
const HOST_SCRIPT: &str = "source /seal/lib.sh\nready up\nwait_for_stop\n";

/// One VM on the LAN.
pub struct Host {
    /// Its hostname.
    pub name: String,
    /// Its address.
    pub ip: String,
    /// The VM (None once stopped by the test).
    pub vm: Option<Vm>,
    /// What it was booted with (booted again by [`Bed::power_cycle`]).
    spec: VmSpec,
}

/// The LAN, its VMs, and the operator's machine (the LAN's host side, a private HOME).
pub struct Bed {
    /// The VMs, in the order given.
    pub hosts: Vec<Host>,
    /// Scratch directory (HOME is `dir/home`).
    pub dir: PathBuf,
    /// The private key authorised for root on every VM.
    pub key: PathBuf,
    /// The test offline package (TEST DOUBLES inside).
    pub package: PathBuf,
    /// known_hosts of the witness ssh client (exactly the VMs' keys).
    pub witness_known_hosts: PathBuf,
    /// The LAN.
    pub lan: Lan,
    kernel: Kernel,
}

/// A throw-away ed25519 key pair: (private key path, public key line).
pub fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "seal-test", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    let public = fs::read_to_string(key.with_extension("pub")).expect("public key");
    (key, public)
}

/// A VM of a real-cluster bed: its name, vCPUs and memory.
#[derive(Debug, Clone, Copy)]
pub struct HostShape<'a> {
    /// Hostname.
    pub name: &'a str,
    /// Virtual CPUs (kubeadm's preflight wants 2 on a control plane).
    pub cpus: u32,
    /// Memory in MiB.
    pub memory_mb: u32,
}

/// The real offline package (package/build.sh, cached under /var/cache/seal-package): built
/// here when missing. `SEAL_PACKAGE` names another one.
pub fn real_package() -> PathBuf {
    if let Some(p) = std::env::var_os("SEAL_PACKAGE") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg(root.join("package/build.sh"))
        .arg("--install-deps")
        .output()
        .expect("package/build.sh");
    assert!(
        out.status.success(),
        "package/build.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    PathBuf::from(path)
}

/// The bed's scratch folder, empty.
fn fresh_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seal-install-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("tmp dir");
    dir
}

impl Bed {
    /// Boots `names` (10.77.0.11 onwards) with sshd taking `PASSWORD` and the test key, and the
    /// test package of TEST DOUBLES (the fast tier: no systemd, 1 vCPU and 768 MiB a VM).
    pub fn start(test: &str, names: &[&str]) -> Option<Bed> {
        Bed::start_with_disks(test, names, &[])
    }

    /// As [`Bed::start`], and the hosts named in `disks` keep what they write on a disk of their
    /// own, so they can be power-cycled ([`Bed::power_cycle`]) as real hosts reboot.
    pub fn start_with_disks(test: &str, names: &[&str], disks: &[&str]) -> Option<Bed> {
        let kernel = kernel_or_skip(test)?;
        let dir = fresh_dir(test);
        let package = dir.join("kube1.20.2.tar.gz");
        let made = Command::new("bash")
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("package/make-package.sh"))
            .arg(&package)
            .status()
            .expect("make-package.sh");
        assert!(made.success());
        let shapes: Vec<HostShape> = names
            .iter()
            .map(|name| HostShape {
                name,
                cpus: 1,
                memory_mb: 768,
            })
            .collect();
        Bed::boot(&kernel, dir, package, &shapes, false, disks)
    }

    /// Boots real hosts for a real cluster: systemd as PID 1, the real package.
    pub fn start_real(test: &str, shapes: &[HostShape]) -> Option<Bed> {
        // Skip (outside CI) before building anything when VMs cannot run here.
        let kernel = kernel_or_skip(test)?;
        let package = real_package();
        Bed::boot(&kernel, fresh_dir(test), package, shapes, true, &[])
    }

    fn boot(
        kernel: &Kernel,
        dir: PathBuf,
        package: PathBuf,
        shapes: &[HostShape],
        systemd: bool,
        disks: &[&str],
    ) -> Option<Bed> {
        fs::create_dir_all(dir.join("home")).expect("tmp dir");
        let (key, public) = keypair(&dir, "id_ed25519");
        let mut lan = Lan::create().expect("LAN");
        let mut hosts = Vec::new();
        for (i, shape) in shapes.iter().enumerate() {
            let name = &shape.name;
            let mut spec = VmSpec::new(name, HOST_SCRIPT, Duration::from_secs(3600));
            spec.cpus = shape.cpus;
            spec.memory_mb = shape.memory_mb;
            spec.systemd = systemd;
            let mut net = lan.attach().expect("tap");
            if systemd {
                net.gateway = Some(crate::lan::HOST_IP.to_string());
            }
            spec.net = Some(net);
            spec.sshd = Some(SshdConfig {
                authorized_keys: Some(public.clone()),
                root_password: Some(PASSWORD.into()),
                sudo_user: Some(SUDO_USER.into()),
            });
            if disks.contains(name) {
                let disk = dir.join(format!("{name}.disk"));
                make_disk(&disk, 2048).expect("disk image");
                spec.disk = Some(disk);
            }
            let vm = Vm::start(kernel, &spec).expect("start VM");
            hosts.push(Host {
                name: name.to_string(),
                ip: format!("10.77.0.{}", 11 + i),
                vm: Some(vm),
                spec,
            });
        }
        let mut known = String::new();
        for h in &mut hosts {
            let vm = h.vm.as_mut().expect("vm");
            vm.wait_for_result("up", Duration::from_secs(300))
                .expect("VM up");
            let host_key =
                fs::read_to_string(vm.results().join("host_ed25519_key.pub")).expect("host key");
            known.push_str(&format!("{} {}\n", h.ip, host_key.trim()));
        }
        let witness_known_hosts = dir.join("witness_known_hosts");
        fs::write(&witness_known_hosts, known).expect("known_hosts");
        Some(Bed {
            hosts,
            dir,
            key,
            package,
            witness_known_hosts,
            lan,
            kernel: kernel.clone(),
        })
    }

    /// Cuts the power of host `name` (QEMU killed: no shutdown, no FIN or RST on its
    /// connections, what its disk had not yet received lost) and boots it again from its disk,
    /// as a host reboots; returns once its sshd answers with the same host key. The host must
    /// have a disk ([`Bed::start_with_disks`]).
    pub fn power_cycle(&mut self, name: &str) {
        let host = self
            .hosts
            .iter_mut()
            .find(|h| h.name == name)
            .expect("host name");
        assert!(host.spec.disk.is_some(), "{name} has no disk to boot again from");
        if let Some(mut vm) = host.vm.take() {
            vm.kill();
        }
        let mut vm = Vm::start(&self.kernel, &host.spec).expect("start VM again");
        vm.wait_for_result("up", Duration::from_secs(300))
            .expect("VM up again");
        let key = fs::read_to_string(vm.results().join("host_ed25519_key.pub")).expect("host key");
        let known = fs::read_to_string(&self.witness_known_hosts).expect("known_hosts");
        assert!(
            known.contains(&format!("{} {}", host.ip, key.trim())),
            "{name} came back with another host key"
        );
        host.vm = Some(vm);
    }

    pub fn ip(&self, name: &str) -> String {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.ip.clone())
            .expect("host name")
    }

    /// Runs `cmd` on host `name` with the system ssh client (the independent witness).
    ///
    /// A connection that could not be set up (ssh's exit 255 with a connect error) is retried a
    /// few times: an emulated 1-vCPU node busy with kubelet can take over 10 s to send sshd's
    /// banner, and that says nothing about the product under test.
    pub fn on(&self, name: &str, cmd: &str) -> Output {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let out = self.on_once(name, cmd);
            let err = String::from_utf8_lossy(&out.stderr);
            let unreachable = out.status.code() == Some(255)
                && (err.contains("timed out")
                    || err.contains("Connection refused")
                    || err.contains("Connection reset")
                    || err.contains("Connection closed"));
            if !unreachable || attempt == 4 {
                return out;
            }
            eprintln!("witness ssh to {name} (attempt {attempt}): {}", err.trim());
            std::thread::sleep(Duration::from_secs(5));
        }
    }

    /// Copies the local file `local` to `remote` on host `name` (through the witness ssh).
    pub fn put(&self, name: &str, local: &Path, remote: &str) {
        let file = fs::File::open(local).expect("the file to copy");
        let out = self
            .ssh(name)
            .arg(format!("cat > '{remote}'"))
            .stdin(file)
            .output()
            .expect("ssh");
        assert!(
            out.status.success(),
            "copy to {name}:{remote}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn on_once(&self, name: &str, cmd: &str) -> Output {
        self.ssh(name).arg(cmd).output().expect("ssh")
    }

    /// The witness ssh client to `name`, all options set, the command still to add.
    fn ssh(&self, name: &str) -> Command {
        let mut c = self.lan.command("ssh");
        c.arg("-i")
            .arg(&self.key)
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.witness_known_hosts.display()
            ))
            // One connection per host for all witness commands: handshakes cost seconds here.
            .arg("-o")
            .arg(format!("ControlPath={}/cm-%h", self.dir.display()))
            .args([
                "-o",
                "ControlMaster=auto",
                "-o",
                "ControlPersist=600",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=30",
                "-o",
                "ServerAliveInterval=15",
                "-o",
                "ServerAliveCountMax=8",
            ])
            .arg(format!("root@{}", self.ip(name)));
        c
    }

    /// stdout of a command that must succeed on `name`.
    pub fn text(&self, name: &str, cmd: &str) -> String {
        let out = self.on(name, cmd);
        assert!(
            out.status.success(),
            "{name}: `{cmd}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `seal-install ARGS` on the operator's side of the LAN.
    pub fn installer(&self, args: &[&str]) -> Command {
        let mut c = self
            .lan
            .command(project_binary("seal-install").to_str().expect("utf-8 path"));
        c.args(args)
            .env("HOME", self.dir.join("home"))
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("SEAL_PASSWD");
        c
    }

    pub fn run(&self, args: &[&str]) -> (Output, Duration) {
        let started = Instant::now();
        let out = self.installer(args).output().expect("seal-install");
        let took = started.elapsed();
        eprintln!(
            "--- seal-install {} ({:.1}s, {})\n{}",
            args.join(" "),
            took.as_secs_f64(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        (out, took)
    }

    /// lvscare for the nodes: the debug build stripped of its ~80 MB of debug info, as a release is.
    pub fn lvscare(&self) -> String {
        let stripped = self.dir.join("lvscare");
        if !stripped.exists() {
            let status = Command::new("strip")
                .arg("-o")
                .arg(&stripped)
                .arg(project_binary("lvscare"))
                .status()
                .expect("strip (binutils)");
            assert!(status.success());
        }
        stripped.display().to_string()
    }

    /// `init` of these hosts (by name) with the test package and lvscare, then `extra`.
    pub fn init_args(&self, masters: &[&str], nodes: &[&str], extra: &[&str]) -> Vec<String> {
        let mut a = vec!["init".to_string()];
        for (flag, names) in [("--master", masters), ("--node", nodes)] {
            for n in names {
                a.extend([flag.to_string(), self.ip(n)]);
            }
        }
        let (pkg, lvscare) = (self.package.display().to_string(), self.lvscare());
        // Logins under emulation with several VMs on two cores can take longer than the default.
        for w in [
            "--version",
            "v1.20.2",
            "--pkg-url",
            &pkg,
            "--lvscare-bin",
            &lvscare,
            "--connect-timeout",
            "60",
        ] {
            a.push(w.to_string());
        }
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    /// The operator's cluster file.
    pub fn cluster_file(&self) -> PathBuf {
        self.dir.join("home/.seal/cluster.yaml")
    }

    /// Every host's /etc/hosts and kubeadm call log.
    pub fn snapshot(&self, names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| {
                (
                    self.text(n, "cat /etc/hosts"),
                    self.text(n, "cat /var/lib/seal-doubles/kubeadm.log 2>/dev/null; true"),
                )
            })
            .collect()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            if let Some(vm) = h.vm.take() {
                let _ = vm.stop();
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The hosts file a block for `ip` in front of `before` makes.
pub fn with_block(before: &str, ip: &str) -> String {
    format!(
        "# BEGIN seal-install managed block\n{ip} apiserver.cluster.local\n# END seal-install managed block\n{before}"
    )
}
