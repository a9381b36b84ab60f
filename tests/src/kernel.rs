//! Gets Debian's kernel package once, caches it outside the repository, and builds the small
//! initramfs that mounts the host root inside the VM.

use crate::error::{tail, Error};
use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Modules the initramfs itself loads (with their dependencies): those needed to reach the root,
/// and the network ones every test uses (loading from RAM is much faster than modprobe over 9p).
/// IPVS is deliberately not among them: lvscare must get it loaded on demand, as on a real node.
const BOOT_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_net",
    "9pnet_virtio",
    "9p",
    "overlay",
    "veth",
    "bridge",
    "dummy",
];

/// Modules for a VM with a disk of its own (`VmSpec::disk`), loaded only then: the disk holds
/// the VM's writable layer, so what it wrote survives a power cycle as on a real host.
const DISK_MODULES: &[&str] = &["virtio_blk", "ext4"];

/// The VM's PID 1.
const INIT: &str = include_str!("../vm/init");

/// A kernel ready to boot: its image, its module tree and the test bed's initramfs.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Kernel release, e.g. `6.1.0-56-amd64`.
    pub release: String,
    /// The uncompressed ELF kernel, booted through its PVH entry: QEMU then skips the
    /// bzImage's xz decompression, which takes seconds under emulation.
    pub vmlinux: PathBuf,
    /// `lib/modules/<release>` of the unpacked package (bind-mounted in the VM).
    pub moddir: PathBuf,
    /// The initramfs image.
    pub initrd: PathBuf,
}

/// Where downloads and built images are kept: `$SEAL_TESTBED_CACHE` or `/var/cache/seal-testbed`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("SEAL_TESTBED_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/seal-testbed"))
}

/// Fails with a message naming the package when a host tool is missing.
pub(crate) fn need_tool(tool: &str, package: &str) -> Result<(), Error> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file());
    if found {
        Ok(())
    } else {
        Err(Error::MissingTool {
            tool: tool.into(),
            package: package.into(),
        })
    }
}

/// Runs a command, returning its stdout, or an error with the tail of its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String, Error> {
    let desc = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| Error::io(format!("running {desc}"), e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            cmd: desc,
            status: out.status.to_string(),
            stderr: tail(&String::from_utf8_lossy(&out.stderr), 10),
        })
    }
}

impl Kernel {
    /// Returns the cached kernel and initramfs, downloading and building what is missing.
    /// Safe to call from parallel tests: a lock file serialises the preparation.
    pub fn ensure() -> Result<Kernel, Error> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { geteuid() } != 0 {
            return Err(Error::NotRoot);
        }
        need_tool("qemu-system-x86_64", "qemu-system-x86")?;
        need_tool("busybox", "busybox-static")?;
        need_tool("modprobe", "kmod")?;
        need_tool("depmod", "kmod")?;
        need_tool("cpio", "cpio")?;
        need_tool("ip", "iproute2")?;
        let cache = cache_dir();
        fs::create_dir_all(&cache)
            .map_err(|e| Error::io(format!("creating {}", cache.display()), e))?;
        let lock_path = cache.join("lock");
        let lock = fs::File::create(&lock_path)
            .map_err(|e| Error::io(format!("opening {}", lock_path.display()), e))?;
        lock.lock()
            .map_err(|e| Error::io(format!("locking {}", lock_path.display()), e))?;
        let root = unpacked_kernel(&cache)?;
        let release = only_release(&root)?;
        let moddir = root.join("lib/modules").join(&release);
        let vmlinux = uncompressed(&root, &release)?;
        let initrd = initramfs(&cache, &root, &release)?;
        Ok(Kernel {
            release,
            vmlinux,
            moddir,
            initrd,
        })
    }
}

unsafe extern "C" {
    fn geteuid() -> u32;
}

/// The unpacked kernel package in the cache, fetched with apt the first time.
fn unpacked_kernel(cache: &Path) -> Result<PathBuf, Error> {
    if let Some(dir) = existing_kernel(cache)? {
        return Ok(dir);
    }
    need_tool("apt-get", "apt")?;
    need_tool("dpkg", "dpkg")?;
    let deps = run(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
    let package = deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-6.1."))
        .ok_or_else(|| Error::Command {
            cmd: "apt-cache depends linux-image-amd64".into(),
            status: "no linux-image-6.1.* dependency".into(),
            stderr: "run `apt-get update` first (the package lists may be empty)".into(),
        })?
        .to_string();
    let tmp = cache.join(format!("download-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| Error::io("creating download folder", e))?;
    run(Command::new("apt-get")
        .args(["download", &package])
        .current_dir(&tmp))?;
    let deb = fs::read_dir(&tmp)
        .map_err(|e| Error::io("listing download folder", e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| Error::Command {
            cmd: format!("apt-get download {package}"),
            status: "no .deb produced".into(),
            stderr: String::new(),
        })?;
    let unpack = tmp.join("root");
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&unpack))?;
    let release = only_release(&unpack)?;
    // The package ships no modules.dep (postinst makes it); modprobe needs one.
    run(Command::new("depmod").arg("-b").arg(&unpack).arg(&release))?;
    let dest = cache.join(format!("kernel-{package}"));
    fs::rename(&unpack, &dest)
        .map_err(|e| Error::io(format!("moving kernel to {}", dest.display()), e))?;
    let _ = fs::remove_dir_all(&tmp);
    Ok(dest)
}

/// The ELF kernel inside the bzImage (an xz stream after the setup code), extracted once.
fn uncompressed(root: &Path, release: &str) -> Result<PathBuf, Error> {
    let out = root.join("boot").join(format!("vmlinux-{release}"));
    if out.is_file() {
        return Ok(out);
    }
    need_tool("xz", "xz-utils")?;
    let bz = root.join("boot").join(format!("vmlinuz-{release}"));
    let data = fs::read(&bz).map_err(|e| Error::io(format!("reading {}", bz.display()), e))?;
    const XZ_MAGIC: &[u8] = b"\xfd7zXZ\x00";
    let offset = data
        .windows(XZ_MAGIC.len())
        .position(|w| w == XZ_MAGIC)
        .ok_or_else(|| Error::Command {
            cmd: format!("looking for the xz stream in {}", bz.display()),
            status: "not found".into(),
            stderr: "the kernel is not xz-compressed; only Debian's 6.1 amd64 kernel is supported"
                .into(),
        })?;
    let tmp = out.with_extension("tmp");
    run(Command::new("sh").arg("-c").arg(format!(
        "tail -c +{} '{}' | xz -dc --single-stream > '{}'",
        offset + 1,
        bz.display(),
        tmp.display()
    )))?;
    fs::rename(&tmp, &out).map_err(|e| Error::io("installing vmlinux", e))?;
    Ok(out)
}

/// A previously unpacked kernel in the cache, if any.
fn existing_kernel(cache: &Path) -> Result<Option<PathBuf>, Error> {
    let mut found: Vec<PathBuf> = fs::read_dir(cache)
        .map_err(|e| Error::io(format!("listing {}", cache.display()), e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("kernel-linux-image-"))
                && p.join("boot").is_dir()
        })
        .collect();
    found.sort();
    Ok(found.pop())
}

/// The single kernel release under `root/lib/modules`.
fn only_release(root: &Path) -> Result<String, Error> {
    let dir = root.join("lib/modules");
    fs::read_dir(&dir)
        .map_err(|e| Error::io(format!("listing {}", dir.display()), e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .next()
        .ok_or_else(|| {
            Error::io(
                format!("{} is empty", dir.display()),
                std::io::ErrorKind::NotFound.into(),
            )
        })
}

/// Appends the `insmod` lines of `modules` and their dependencies to `insmods`, each module once.
fn load_order(
    root: &Path,
    release: &str,
    modules: &[&str],
    insmods: &mut Vec<(String, String)>,
) -> Result<(), Error> {
    for m in modules {
        let out = run(Command::new("modprobe").arg("-d").arg(root).args([
            "-S",
            release,
            "--show-depends",
            m,
        ]))?;
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("insmod ") {
                let mut parts = rest.trim().splitn(2, ' ');
                let path = parts.next().unwrap_or_default().to_string();
                let args = parts.next().unwrap_or_default().to_string();
                if !insmods.iter().any(|(p, _)| *p == path) {
                    insmods.push((path, args));
                }
            }
        }
    }
    Ok(())
}

/// Builds (or reuses) the initramfs: static busybox, `init`, and the boot modules in load order.
fn initramfs(cache: &Path, root: &Path, release: &str) -> Result<PathBuf, Error> {
    let busybox = Path::new("/bin/busybox");
    let bb_meta = fs::metadata(busybox).map_err(|e| Error::io("reading /bin/busybox", e))?;
    let mut insmods = Vec::new();
    load_order(root, release, BOOT_MODULES, &mut insmods)?;
    let boot_count = insmods.len();
    load_order(root, release, DISK_MODULES, &mut insmods)?;
    let mut h = DefaultHasher::new();
    (INIT, &insmods, bb_meta.len(), release).hash(&mut h);
    let image = cache.join(format!("initrd-{release}-{:016x}.img", h.finish()));
    if image.is_file() {
        return Ok(image);
    }
    let stage = cache.join(format!("initrd-stage-{}", std::process::id()));
    let _ = fs::remove_dir_all(&stage);
    let io = |what: &str, e| Error::io(format!("{what} in {}", stage.display()), e);
    fs::create_dir_all(stage.join("bin")).map_err(|e| io("mkdir bin", e))?;
    fs::create_dir_all(stage.join("modules")).map_err(|e| io("mkdir modules", e))?;
    fs::copy(busybox, stage.join("bin/busybox")).map_err(|e| io("copy busybox", e))?;
    fs::write(stage.join("init"), INIT).map_err(|e| io("write init", e))?;
    let (mut order, mut disk_order) = (String::new(), String::new());
    for (i, (path, args)) in insmods.iter().enumerate() {
        let name = Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        fs::copy(path, stage.join("modules").join(&name)).map_err(|e| io("copy module", e))?;
        let list = if i < boot_count {
            &mut order
        } else {
            &mut disk_order
        };
        list.push_str(&format!("{name} {args}\n"));
    }
    fs::write(stage.join("modules/order"), order).map_err(|e| io("write module order", e))?;
    fs::write(stage.join("modules/disk-order"), disk_order)
        .map_err(|e| io("write disk module order", e))?;
    run(Command::new("chmod")
        .args(["755", "init", "bin/busybox"])
        .current_dir(&stage))?;
    // Written to a temporary name and renamed: VMs booting in parallel must never see half an image.
    let tmp = cache.join(format!("initrd-{}.tmp", std::process::id()));
    run(Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find . | cpio -o -H newc --quiet > '{}'",
            tmp.display()
        ))
        .current_dir(&stage))?;
    fs::rename(&tmp, &image).map_err(|e| Error::io("installing initramfs", e))?;
    let _ = fs::remove_dir_all(&stage);
    Ok(image)
}
