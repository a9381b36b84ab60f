//! The SSH layer against a real OpenSSH server on loopback. Each test starts its own `sshd -D -e`
//! on 127.0.0.1 with a fresh port, host key and config in a temp dir, and kills it at the end.
//! Password and sudo tests create a throw-away local user (never touching root's password).
//! Needs root, openssh-server and sudo; without them the test is skipped outside CI and fails
//! in CI.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use installer::ssh::{
    Auth, JumpHost, Secret, Session, SshConfig, SshError, UploadResult, OUTPUT_CAP,
};
use sha2::{Digest, Sha256};

const SSHD: &str = "/usr/sbin/sshd";
const T: Duration = Duration::from_secs(20);

/// An encrypted ed25519 key (passphrase `correct horse`) made once with ssh-keygen for these tests.
const ENCRYPTED_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABD6Aix00q
SGP5wqFOl5jaUuAAAABAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIGhcAl+JtnrgS2c2
lfZvCX/9sDVuOlsL8VG0JeQDNmrpAAAAoBhC1ZSMCI6VO1wuHA+tsB+ZqktWP+9oA6jXbb
HVEVqeXyqztZbpGCCvS+WZsEQuB/WhAVH+sxr9jaWI2KYSuafUdRZ3/h4I7Ka5ZIP1ZeM+
2kxKjXUGtION6RU2ofRMsskl30vvjV9QybxKcM6DxK6dzBWnVzB+lukVD9NQ5caOFavDu6
blE5Em/lGLlvTdd1OTZvMPD+XLRi+sJsdPs80=
-----END OPENSSH PRIVATE KEY-----
";
const ENCRYPTED_KEY_PUB: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGhcAl+JtnrgS2c2lfZvCX/9sDVuOlsL8VG0JeQDNmrp seal-test-encrypted";
const ENCRYPTED_KEY_PASSPHRASE: &str = "correct horse";

// ---------------------------------------------------------------------------------------------
// Harness

/// Whether the machine can run these tests; prints why not (and panics in CI).
fn prerequisites(need_sudo: bool) -> bool {
    let mut missing = Vec::new();
    if !Path::new(SSHD).is_file() {
        missing.push("openssh-server (/usr/sbin/sshd)");
    }
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout);
    if !uid.is_ok_and(|u| u == b"0\n") {
        missing.push("root (to run sshd and create test users)");
    }
    if need_sudo && !Path::new("/usr/bin/sudo").is_file() {
        missing.push("sudo (apt-get install sudo)");
    }
    if missing.is_empty() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(!ci, "ssh_sshd: missing {}", missing.join(", "));
    eprintln!("SKIP ssh_sshd: missing {}", missing.join(", "));
    false
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{:x}{:x}{}",
        std::process::id() & 0xffff,
        nanos & 0xfffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn sh(cmd: &str) -> std::process::Output {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {out:?}");
    out
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("seal-ssh-"));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keygen(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "seal-test", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A private sshd on 127.0.0.1.
struct Sshd {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    /// Lines put first in sshd_config (sshd keeps the first value it reads for a keyword).
    extra_config: String,
}

impl Sshd {
    fn start(dir: &Path) -> Sshd {
        Self::start_with(dir, "")
    }

    fn start_with(dir: &Path, extra_config: &str) -> Sshd {
        // Another process may grab a free port between the probe and sshd's bind: try again.
        for _ in 0..5 {
            let mut sshd = Sshd {
                dir: dir.to_path_buf(),
                port: free_port(),
                child: None,
                extra_config: extra_config.to_string(),
            };
            if sshd.spawn() {
                return sshd;
            }
        }
        panic!("sshd did not start; see {}", dir.join("sshd.log").display());
    }

    fn host_key(&self) -> PathBuf {
        self.dir.join("host_ed25519")
    }

    /// Starts (or restarts) sshd on `self.port`; false if it exited before listening.
    fn spawn(&mut self) -> bool {
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::create_dir_all(self.dir.join("authorized_keys")).unwrap();
        if !self.host_key().exists() {
            keygen(&self.host_key());
        }
        let config = self.dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "{extra}Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {key}\n\
                 PidFile {dir}/sshd.pid\n\
                 UsePAM no\n\
                 PasswordAuthentication yes\n\
                 KbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\n\
                 PermitRootLogin yes\n\
                 AuthorizedKeysFile {dir}/authorized_keys/%u\n\
                 StrictModes no\n\
                 LogLevel VERBOSE\n",
                extra = self.extra_config,
                port = self.port,
                key = self.host_key().display(),
                dir = self.dir.display(),
            ),
        )
        .unwrap();
        let log_start = self.log().len();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let ready = format!("Server listening on 127.0.0.1 port {}", self.port);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            // Only this run's lines: after a restart the log still holds the previous one's.
            if self.log().get(log_start..).unwrap_or("").contains(&ready) {
                return true;
            }
            if let Some(child) = self.child.as_mut() {
                if child.try_wait().unwrap().is_some() {
                    self.child = None;
                    return false;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("sshd.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    fn host_public_key(&self) -> String {
        std::fs::read_to_string(self.host_key().with_extension("pub")).unwrap()
    }

    fn authorize(&self, user: &str, public_key: &str) {
        let path = self.dir.join("authorized_keys").join(user);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{}", public_key.trim()).unwrap();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One test's world: a temp dir, an sshd, a client key authorized for root, a known_hosts path.
struct Env {
    sshd: Sshd,
    client_key: PathBuf,
    known_hosts: PathBuf,
    dir: TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = TempDir::new();
        let sshd = Sshd::start(&dir.0);
        let client_key = dir.0.join("client_ed25519");
        keygen(&client_key);
        sshd.authorize(
            "root",
            &std::fs::read_to_string(client_key.with_extension("pub")).unwrap(),
        );
        Env {
            sshd,
            client_key,
            known_hosts: dir.0.join("seal").join("known_hosts"),
            dir,
        }
    }

    fn cfg(&self, user: &str, auth: Auth) -> SshConfig {
        SshConfig {
            port: self.sshd.port,
            known_hosts: self.known_hosts.clone(),
            connect_timeout: Duration::from_secs(10),
            retries: 0,
            io_timeout: Duration::from_secs(30),
            ..SshConfig::new(user, auth)
        }
    }

    fn root_key(&self) -> SshConfig {
        self.cfg(
            "root",
            Auth::Key {
                path: self.client_key.clone(),
                passphrase: None,
            },
        )
    }

    async fn root(&self) -> Session {
        Session::connect("127.0.0.1", &self.root_key())
            .await
            .unwrap()
    }

    fn connections(&self) -> usize {
        self.sshd.count("Connection from 127.0.0.1")
    }
}

/// A throw-away local user with a password and, optionally, a sudoers entry; removed on drop.
struct TestUser {
    name: String,
    password: String,
    sudoers: Option<PathBuf>,
}

impl TestUser {
    /// `sudo`: None = no sudo rights, Some(false) = sudo with password, Some(true) = NOPASSWD.
    fn new(password: &str, sudo: Option<bool>) -> TestUser {
        let name = unique("sealt");
        sh(&format!("useradd -m -s /bin/sh {name}"));
        let mut user = TestUser {
            name: name.clone(),
            password: password.to_string(),
            sudoers: None,
        };
        // The password goes to chpasswd on stdin, never on a command line.
        let mut child = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{name}:{password}").unwrap();
        assert!(child.wait().unwrap().success());
        if let Some(nopasswd) = sudo {
            let path = PathBuf::from(format!("/etc/sudoers.d/seal-test-{name}"));
            let rule = if nopasswd { "NOPASSWD: ALL" } else { "ALL" };
            std::fs::write(&path, format!("{name} ALL=(ALL:ALL) {rule}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
            user.sudoers = Some(path);
        }
        user
    }

    fn auth(&self) -> Auth {
        Auth::Password(Secret::new(self.password.clone()))
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        if let Some(path) = &self.sudoers {
            let _ = std::fs::remove_file(path);
        }
        let _ = Command::new("userdel")
            .args(["-r", "-f", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// True when a local process has exactly this command line (sshd runs on this machine).
fn process_running(cmdline: &str) -> bool {
    Command::new("pgrep")
        .args(["-x", "-f", cmdline])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn wait_gone(cmdline: &str) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if !process_running(cmdline) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_output_status_and_stderr() {
    if !prerequisites(false) {
        return;
    }
    let env = Env::new();
    let started = Instant::now();
    let session = env.root().await;
    let connected = started.elapsed();
    let out = session.run("id -u", T).await.unwrap();
    let first = started.elapsed();
    eprintln!("connect + first command (key auth, loopback): {first:?} (connect {connected:?})");
    assert_eq!(out.stdout_text(), "0\n");

    // exec returns whatever the status; stdout and stderr stay apart.
    let out = session
        .exec("echo out; echo err >&2; printf 'x\\0y'; exit 3", &[], T)
        .await
        .unwrap();
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout, b"out\nx\0y");
    assert_eq!(out.stderr_text(), "err\n");
    assert!(!out.truncated);

    // run turns a non-zero status into Failed, with the end of stderr and the host.
    let err = session
        .run("echo first >&2; echo 'the real reason' >&2; exit 7", T)
        .await
        .unwrap_err();
    match &err {
        SshError::Failed {
            status,
            stderr_tail,
            host,
            ..
        } => {
            assert_eq!(*status, 7);
            assert!(stderr_tail.ends_with("the real reason"), "{stderr_tail}");
            assert_eq!(host, &format!("127.0.0.1:{}", env.sshd.port));
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(err.to_string().contains("exit status 7"), "{err}");

    // stdin reaches the command.
    let out = session
        .run_with_stdin("tr a-z A-Z", b"hello stdin", T)
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "HELLO STDIN");

    // Huge output is capped (head of stdout kept) instead of growing without bound.
    let out = session.run("head -c 10000000 /dev/zero", T).await.unwrap();
    assert_eq!(out.stdout.len(), OUTPUT_CAP);
    assert!(out.truncated);

    // A command that ran and failed is not retried.
    let marker = env.dir.0.join("ran-once");
    let cmd = format!("echo x >> '{}'; exit 1", marker.display());
    assert_eq!(session.run(&cmd, T).await.unwrap_err().status(), Some(1));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "x\n");
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_key_with_passphrase() {
    if !prerequisites(false) {
        return;
    }
    let env = Env::new();
    let key = env.dir.0.join("encrypted_key");
    std::fs::write(&key, ENCRYPTED_KEY).unwrap();
    env.sshd.authorize("root", ENCRYPTED_KEY_PUB);
    let with = |passphrase: Option<&str>| {
        env.cfg(
            "root",
            Auth::Key {
                path: key.clone(),
                passphrase: passphrase.map(Secret::new),
            },
        )
    };
    let session = Session::connect("127.0.0.1", &with(Some(ENCRYPTED_KEY_PASSPHRASE)))
        .await
        .unwrap();
    assert_eq!(session.run("id -u", T).await.unwrap().stdout_text(), "0\n");

    let before = env.connections();
    for (passphrase, expect) in [(None, "encrypted"), (Some("wrong"), "wrong passphrase")] {
        match Session::connect("127.0.0.1", &with(passphrase)).await {
            Err(SshError::Key { detail, .. }) => assert!(detail.contains(expect), "{detail}"),
            other => panic!("expected a key error, got {other:?}"),
        }
    }
    // A key that cannot be loaded is reported before connecting at all.
    assert_eq!(env.connections(), before);
    assert_eq!(env.sshd.count("Accepted publickey"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_auth() {
    if !prerequisites(false) {
        return;
    }
    let env = Env::new();
    let socket = env.dir.0.join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while !socket.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg(&env.client_key)
        .env("SSH_AUTH_SOCK", &socket)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(added.success());
    let cfg = env.cfg(
        "root",
        Auth::Agent {
            socket: Some(socket.clone()),
        },
    );
    let result = Session::connect("127.0.0.1", &cfg).await;
    let _ = agent.kill();
    let _ = agent.wait();
    let session = result.unwrap();
    assert_eq!(session.run("id -u", T).await.unwrap().stdout_text(), "0\n");
    assert_eq!(env.sshd.count("Accepted publickey for root"), 1);
    // No agent there: an Agent error before any connection.
    let before = env.connections();
    let cfg = env.cfg(
        "root",
        Auth::Agent {
            socket: Some(env.dir.0.join("no-agent.sock")),
        },
    );
    let err = Session::connect("127.0.0.1", &cfg).await.unwrap_err();
    assert!(matches!(err, SshError::Agent { .. }), "{err:?}");
    assert!(err.to_string().contains("SSH_AUTH_SOCK"), "{err}");
    assert_eq!(env.connections(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_auth_and_sudo() {
    if !prerequisites(true) {
        return;
    }
    let env = Env::new();
    let user = TestUser::new("plain-Passw0rd", Some(false));
    let started = Instant::now();
    let session = Session::connect("127.0.0.1", &env.cfg(&user.name, user.auth()))
        .await
        .unwrap();
    let connected = started.elapsed();
    let out = session.run("id -u; echo $SUDO_USER", T).await.unwrap();
    eprintln!(
        "connect + first command (password auth, via sudo, loopback): {:?} (connect {connected:?})",
        started.elapsed()
    );
    // Through sudo: root, on behalf of the test user.
    assert_eq!(out.stdout_text(), format!("0\n{}\n", user.name));
    assert!(
        env.sshd
            .count(&format!("Accepted password for {}", user.name))
            == 1
    );
    // The caller's stdin reaches the command intact, after sudo took the password.
    let out = session
        .run_with_stdin("cat", b"payload\nline 2", T)
        .await
        .unwrap();
    assert_eq!(out.stdout, b"payload\nline 2");
    assert_eq!(out.stderr, b"");
    // Exit status and stderr come through sudo unchanged.
    let out = session.exec("echo oops >&2; exit 5", &[], T).await.unwrap();
    assert_eq!((out.status, out.stderr_text().as_str()), (5, "oops\n"));
    // Several commands at once through sudo.
    let runs = (0..6).map(|i| {
        let s = session.clone();
        async move { s.run(&format!("echo {i}; id -u"), T).await }
    });
    for (i, out) in futures_join(runs).await.into_iter().enumerate() {
        assert_eq!(out.unwrap().stdout_text(), format!("{i}\n0\n"));
    }
    // Files written through sudo are root's, and binary data passes sudo unchanged.
    let path = format!("{}/by-sudo.bin", env.dir.0.display());
    let data: Vec<u8> = (0..=255u8).cycle().take(3 << 20).collect();
    session.write_file(&path, &data, 0o600).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    let out = session
        .run(&format!("stat -c '%u %a' '{path}'"), T)
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "0 600\n");
    let local = env.dir.0.join("local.bin");
    std::fs::write(&local, &data[..1 << 20]).unwrap();
    let remote = format!("{}/up/by-sudo.bin", env.dir.0.display());
    assert_eq!(
        session.upload(&local, &remote, 0o644).await.unwrap(),
        UploadResult::Uploaded
    );
    assert_eq!(std::fs::read(&remote).unwrap(), &data[..1 << 20]);
    assert_eq!(
        session.upload(&local, &remote, 0o644).await.unwrap(),
        UploadResult::Skipped
    );
    assert!(!env.sshd.log().contains(&user.password));
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_with_special_characters() {
    if !prerequisites(true) {
        return;
    }
    let env = Env::new();
    let password = r#"it's "$HOME" \ `id` $(id) ;&|<> #!*? end "#;
    let user = TestUser::new(password, Some(false));
    let session = Session::connect("127.0.0.1", &env.cfg(&user.name, user.auth()))
        .await
        .unwrap();
    let out = session.run("id -u", T).await.unwrap();
    assert_eq!(out.stdout_text(), "0\n");
    // The command line of every process on the host while one of our sudo commands runs: the
    // password must not be in any of them (it only travels on sudo's stdin).
    let out = session
        .run("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '", T)
        .await
        .unwrap();
    let cmdlines = out.stdout_text();
    assert!(cmdlines.contains("sudo -S -p"), "{cmdlines}");
    assert!(!cmdlines.contains(password), "password on a command line");
    assert!(
        !cmdlines.contains("$HOME\" \\ `id`"),
        "password on a command line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sudo_without_password_prompt_never_gets_the_password() {
    if !prerequisites(true) {
        return;
    }
    let env = Env::new();
    let user = TestUser::new("nopasswd-Secret-123", Some(true));
    let session = Session::connect("127.0.0.1", &env.cfg(&user.name, user.auth()))
        .await
        .unwrap();
    // sudo asks nothing here: had the password been written blindly to stdin, cat would echo it.
    let out = session
        .run_with_stdin("id -u; cat", b"only this", T)
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "0\nonly this");
    let out = session.run("cat", T).await.unwrap();
    assert_eq!(out.stdout, b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sudo_failures() {
    if !prerequisites(true) {
        return;
    }
    let env = Env::new();
    // A wrong sudo password (login password right).
    let user = TestUser::new("login-Pass-1", Some(false));
    let mut cfg = env.cfg(&user.name, user.auth());
    cfg.sudo_password = Some(Secret::new("not-the-password"));
    let session = Session::connect("127.0.0.1", &cfg).await.unwrap();
    let marker = format!("{}/must-not-exist", env.dir.0.display());
    match session.run(&format!("touch '{marker}'"), T).await {
        Err(SshError::Sudo {
            reason, user: u, ..
        }) => {
            assert!(reason.contains("rejected"), "{reason}");
            assert_eq!(u, user.name);
        }
        other => panic!("expected a sudo error, got {other:?}"),
    }
    assert!(!Path::new(&marker).exists());
    session.close().await;

    // A user without sudo rights.
    let nobody = TestUser::new("no-sudo-Pass-2", None);
    let session = Session::connect("127.0.0.1", &env.cfg(&nobody.name, nobody.auth()))
        .await
        .unwrap();
    match session.run(&format!("touch '{marker}'"), T).await {
        Err(SshError::Sudo { reason, .. }) => {
            assert!(reason.contains("sudoers"), "{reason}");
        }
        other => panic!("expected a sudo error, got {other:?}"),
    }
    assert!(!Path::new(&marker).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_an_auth_error_and_nothing_else() {
    if !prerequisites(false) {
        return;
    }
    let env = Env::new();
    let user = TestUser::new("the-Right-one", None);
    let cfg = SshConfig {
        retries: 3,
        ..env.cfg(&user.name, Auth::Password(Secret::new("the-wrong-one")))
    };
    let err = Session::connect("127.0.0.1", &cfg).await.unwrap_err();
    match &err {
        SshError::Auth {
            user: u, method, ..
        } => {
            assert_eq!(u, &user.name);
            assert_eq!(*method, "password");
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.starts_with(&format!(
        "127.0.0.1:{}: authentication failed",
        env.sshd.port
    )));
    assert!(!text.contains("the-wrong-one"));
    // One connection, one password attempt, no session: auth failures are not retried.
    // (sshd writes the log line just after replying; give it a moment.)
    let until = Instant::now() + Duration::from_secs(5);
    while env.sshd.count("Failed password") == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(env.connections(), 1);
    assert_eq!(env.sshd.count("Failed password"), 1);
    assert_eq!(env.sshd.count("Accepted"), 0);
    assert_eq!(env.sshd.count("Starting session"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_is_trusted_and_recorded() {
    if !prerequisites(false) {
        return;
    }
    let env = Env::new();
    assert!(!env.known_hosts.exists());
    env.root().await.close().await;
    let text = std::fs::read_to_string(&env.known_hosts).unwrap();
    let expected = {
        let pubkey = env.sshd.host_public_key();
        let mut f = pubkey.split_whitespace();
        format!(
            "[127.0.0.1]:{} {} {}\n",
            env.sshd.port,
            f.next().unwrap(),
            f.next().unwrap()
        )
    };
    assert_eq!(text, expected);
    // OpenSSH's own client accepts the file as written (strict checking, no prompts).
    let ssh = Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", env.known_hosts.display()))
        .arg("-i")
        .arg(&env.client_key)
        .args(["-p", &env.sshd.port.to_string(), "root@127.0.0.1", "true"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(ssh.status.success(), "{ssh:?}");
    // Known now: a second session leaves the file as it is.
    env.root().await.close().await;
    assert_eq!(std::fs::read_to_string(&env.known_hosts).unwrap(), expected);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&env.known_hosts)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused_before_anything_runs() {
    if !prerequisites(false) {
        return;
    }
    let mut env = Env::new();
    // Another host's line first, so the offending line is not simply line 1.
    std::fs::create_dir_all(env.known_hosts.parent().unwrap()).unwrap();
    std::fs::write(
        &env.known_hosts,
        "10.9.9.9 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ\n",
    )
    .unwrap();
    env.root().await.close().await;
    let recorded = std::fs::read_to_string(&env.known_hosts).unwrap();
    assert_eq!(recorded.lines().count(), 2);

    // The "reinstalled" host: same address and port, new host key.
    env.sshd.stop();
    keygen(&env.sshd.host_key());
    assert!(env.sshd.spawn(), "sshd did not restart");
    let accepted_before = env.sshd.count("Accepted");
    let marker = env.dir.0.join("must-not-exist");

    let err = Session::connect("127.0.0.1", &env.root_key())
        .await
        .unwrap_err();
    match &err {
        SshError::HostKeyChanged {
            host, file, line, ..
        } => {
            assert_eq!(host, &format!("127.0.0.1:{}", env.sshd.port));
            assert_eq!(file, &env.known_hosts);
            assert_eq!(*line, 2);
        }
        other => panic!("expected HostKeyChanged, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!("remove line 2 from {}", env.known_hosts.display())),
        "{text}"
    );
    // No authentication was attempted, nothing ran, the file is unchanged.
    assert_eq!(env.sshd.count("Accepted"), accepted_before);
    assert!(!marker.exists());
    assert_eq!(std::fs::read_to_string(&env.known_hosts).unwrap(), recorded);
    // Fixing the file as the message says makes the host trusted again.
    let fixed: String = recorded.lines().take(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&env.known_hosts, fixed).unwrap();
    let session = env.root().await;
    session.run("true", T).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_stops_the_command_and_keeps_the_session() {
    if !prerequisites(false) {
        return;
    }
    let env = Env::new();
    let session = env.root().await;
    let started = Instant::now();
    let err = session
        .run("sleep 31.17", Duration::from_secs(1))
        .await
        .unwrap_err();
    match &err {
        SshError::Timeout { after, cmd, .. } => {
            assert_eq!(*after, Duration::from_secs(1));
            assert_eq!(cmd, "sleep 31.17");
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    // Not waited out (a generous bound: the point is "not 31 s").
    assert!(started.elapsed() < Duration::from_secs(20));
    // The remote command was stopped, not left behind (sshd is local: look at its processes).
    assert!(wait_gone("sleep 31.17"), "remote sleep still running");
    // The same session still works.
    assert_eq!(
        session.run("echo ok", T).await.unwrap().stdout_text(),
        "ok\n"
    );
    assert_eq!(env.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_through_sudo_stops_the_command() {
    if !prerequisites(true) {
        return;
    }
    let env = Env::new();
    let user = TestUser::new("timeout-Pass-9", Some(false));
    let session = Session::connect("127.0.0.1", &env.cfg(&user.name, user.auth()))
        .await
        .unwrap();
    let err = session
        .run("sleep 31.29", Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::Timeout { .. }), "{err:?}");
    assert!(wait_gone("sleep 31.29"), "remote sleep still running");
    assert_eq!(session.run("id -u", T).await.unwrap().stdout_text(), "0\n");
}

/// The installer dies (Ctrl-C, kill) while a command runs: its connection closes, and the
/// command stops on the host with it, as root and behind sudo, instead of running on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_stops_when_its_connection_closes() {
    if !prerequisites(true) {
        return;
    }
    let env = Env::new();
    let user = TestUser::new("orphan-Pass-4", Some(false));
    for (cmd, sudo) in [("sleep 31.53", false), ("sleep 31.59", true)] {
        let session = if sudo {
            Session::connect("127.0.0.1", &env.cfg(&user.name, user.auth()))
                .await
                .unwrap()
        } else {
            env.root().await
        };
        let running = tokio::spawn(async move { session.run(cmd, Duration::from_secs(600)).await });
        let until = Instant::now() + Duration::from_secs(20);
        while !process_running(cmd) {
            assert!(Instant::now() < until, "{cmd} never started");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Dropping the task drops the session: the TCP connection closes, as at process exit.
        running.abort();
        let _ = running.await;
        assert!(
            wait_gone(cmd),
            "{cmd} still runs after its connection closed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_commands_share_one_connection() {
    if !prerequisites(false) {
        return;
    }
    let env = Env::new();
    let session = env.root().await;
    for i in 0..40 {
        let out = session.run(&format!("echo {i}"), T).await.unwrap();
        assert_eq!(out.stdout_text(), format!("{i}\n"));
    }
    // More at once than sshd's MaxSessions (10): they queue on the session, none fails.
    let runs = (0..24).map(|i| {
        let s = session.clone();
        async move { s.run(&format!("sleep 0.2; echo {i}"), T).await }
    });
    for (i, out) in futures_join(runs).await.into_iter().enumerate() {
        assert_eq!(out.unwrap().stdout_text(), format!("{i}\n"));
    }
    assert_eq!(env.connections(), 1, "{}", env.sshd.log());
    assert_eq!(env.sshd.count("Starting session"), 40 + 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_verifies_and_skips_identical() {
    if !prerequisites(false) {
        return;
    }
    let env = Env::new();
    let session = env.root().await;
    // ~20 MB of non-repeating bytes.
    let mut data = Vec::with_capacity(20 << 20);
    let mut block = Sha256::digest(b"seed").to_vec();
    while data.len() < 20 << 20 {
        block = Sha256::digest(&block).to_vec();
        data.extend_from_slice(&block);
    }
    let local = env.dir.0.join("package.bin");
    std::fs::write(&local, &data).unwrap();
    let remote_dir = format!("{}/remote dir/sub", env.dir.0.display());
    let remote = format!("{remote_dir}/kube.tar.gz");

    let started = Instant::now();
    assert_eq!(
        session.upload(&local, &remote, 0o640).await.unwrap(),
        UploadResult::Uploaded
    );
    eprintln!("upload of 20 MiB over loopback: {:?}", started.elapsed());
    let out = session
        .run(&format!("sha256sum < '{remote}'; stat -c %a '{remote}'"), T)
        .await
        .unwrap();
    assert_eq!(
        out.stdout_text(),
        format!("{}  -\n640\n", sha256_hex(&data))
    );
    // Identical: skipped (and the mode is still enforced).
    session
        .run(&format!("chmod 600 '{remote}'"), T)
        .await
        .unwrap();
    let mtime = std::fs::metadata(&remote).unwrap().modified().unwrap();
    assert_eq!(
        session.upload(&local, &remote, 0o640).await.unwrap(),
        UploadResult::Skipped
    );
    assert_eq!(
        std::fs::metadata(&remote).unwrap().modified().unwrap(),
        mtime
    );
    let out = session
        .run(&format!("stat -c %a '{remote}'"), T)
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "640\n");
    // Changed locally: uploaded again.
    data[12345] ^= 0xff;
    std::fs::write(&local, &data).unwrap();
    assert_eq!(
        session.upload(&local, &remote, 0o640).await.unwrap(),
        UploadResult::Uploaded
    );
    assert_eq!(std::fs::read(&remote).unwrap(), data);
    // No temp files left next to the target.
    let names: Vec<String> = std::fs::read_dir(&remote_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["kube.tar.gz".to_string()]);
    // A missing local file and a relative remote path are errors, not remote commands.
    assert!(matches!(
        session
            .upload(&env.dir.0.join("nope"), &remote, 0o644)
            .await,
        Err(SshError::Local { .. })
    ));
    assert!(matches!(
        session.upload(&local, "relative/path", 0o644).await,
        Err(SshError::Invalid(_))
    ));
    assert_eq!(env.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_file_is_atomic_and_exact() {
    if !prerequisites(false) {
        return;
    }
    let env = Env::new();
    let session = env.root().await;
    let remote = format!("{}/etc/it's here.conf", env.dir.0.display());
    let data: Vec<u8> = (0..=255u8)
        .chain(b"'$HOME' \\ end\n".iter().copied())
        .collect();
    session.write_file(&remote, &data, 0o644).await.unwrap();
    assert_eq!(std::fs::read(&remote).unwrap(), data);
    session
        .write_file(&remote, b"second\n", 0o600)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&remote).unwrap(), b"second\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&remote).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
    // A directory in the way: refused, nothing replaced.
    let dir = format!("{}/adir", env.dir.0.display());
    std::fs::create_dir(&dir).unwrap();
    assert!(matches!(
        session.write_file(&dir, b"x", 0o644).await,
        Err(SshError::Failed { .. })
    ));
    assert!(Path::new(&dir).is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_in_chunks_is_exact_private_and_checked() {
    if !prerequisites(false) {
        return;
    }
    let env = Env::new();
    let session = env.root().await;
    // 9 MiB + 5 bytes of non-repeating bytes: two whole chunks, a partial one.
    let mut data = Vec::with_capacity((9 << 20) + 5);
    let mut block = Sha256::digest(b"snapshot").to_vec();
    while data.len() < (9 << 20) + 5 {
        block = Sha256::digest(&block).to_vec();
        data.extend_from_slice(&block);
    }
    data.truncate((9 << 20) + 5);
    let remote = format!("{}/host side/it's a snapshot.db", env.dir.0.display());
    std::fs::create_dir_all(Path::new(&remote).parent().unwrap()).unwrap();
    std::fs::write(&remote, &data).unwrap();
    let local = env.dir.0.join("copy.db");
    let started = Instant::now();
    assert_eq!(
        session.download(&remote, &local).await.unwrap(),
        data.len() as u64
    );
    eprintln!("download of 9 MiB over loopback: {:?}", started.elapsed());
    assert!(std::fs::read(&local).unwrap() == data, "bytes differ");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&local).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
    assert!(!local.with_extension("part").exists());
    // An empty file, and a missing one (an error naming the command, no local file left).
    let empty = format!("{}/empty", env.dir.0.display());
    std::fs::write(&empty, b"").unwrap();
    let local2 = env.dir.0.join("empty.copy");
    assert_eq!(session.download(&empty, &local2).await.unwrap(), 0);
    assert_eq!(std::fs::read(&local2).unwrap(), b"");
    let local3 = env.dir.0.join("missing.copy");
    let err = session
        .download(&format!("{}/missing", env.dir.0.display()), &local3)
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::Failed { .. }), "{err}");
    assert!(!local3.exists() && !local3.with_extension("part").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_through_keyboard_interactive() {
    if !prerequisites(true) {
        return;
    }
    // A server that takes passwords only through PAM's keyboard-interactive method.
    let dir = TempDir::new();
    let sshd = Sshd::start_with(
        &dir.0,
        "UsePAM yes\nPasswordAuthentication no\nKbdInteractiveAuthentication yes\n",
    );
    let user = TestUser::new("kbd-Int'eractive $1", Some(false));
    let cfg = SshConfig {
        port: sshd.port,
        known_hosts: dir.0.join("known_hosts"),
        retries: 0,
        ..SshConfig::new(&user.name, user.auth())
    };
    let session = Session::connect("127.0.0.1", &cfg).await.unwrap();
    assert_eq!(session.run("id -u", T).await.unwrap().stdout_text(), "0\n");
    assert_eq!(
        sshd.count(&format!(
            "Accepted keyboard-interactive/pam for {}",
            user.name
        )),
        1,
        "{}",
        sshd.log()
    );
    session.close().await;
    // And a wrong password there is still an Auth error.
    let wrong = SshConfig {
        auth: Auth::Password(Secret::new("nope")),
        ..cfg
    };
    assert!(matches!(
        Session::connect("127.0.0.1", &wrong).await,
        Err(SshError::Auth { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_retries_transient_failures_only() {
    if !prerequisites(false) {
        return;
    }
    let mut env = Env::new();
    // Nothing listens: refused, retried, then a Connect error that says how often.
    let cfg = SshConfig {
        port: free_port(),
        retries: 2,
        ..env.root_key()
    };
    match Session::connect("127.0.0.1", &cfg).await {
        Err(SshError::Connect {
            attempts, detail, ..
        }) => {
            assert_eq!(attempts, 3);
            assert!(detail.contains("refused"), "{detail}");
        }
        other => panic!("expected Connect, got {other:?}"),
    }

    // sshd comes up while we retry: the connection succeeds.
    env.sshd.stop();
    let cfg = SshConfig {
        retries: 6,
        ..env.root_key()
    };
    let connecting = tokio::spawn(async move { Session::connect("127.0.0.1", &cfg).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(env.sshd.spawn());
    let session = connecting.await.unwrap().unwrap();
    assert_eq!(
        session.run("echo up", T).await.unwrap().stdout_text(),
        "up\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_bastion_and_what_a_bastion_refuses() {
    if !prerequisites(false) {
        return;
    }
    let env = Env::new();
    let public = std::fs::read_to_string(env.client_key.with_extension("pub")).unwrap();
    let bastion_dir = TempDir::new();
    let bastion = Sshd::start(&bastion_dir.0);
    bastion.authorize("root", &public);
    let jump = |port| JumpHost {
        user: None,
        host: "127.0.0.1".into(),
        port,
    };

    // The target's connection runs inside the bastion's session: one login on each.
    let cfg = SshConfig {
        jump: Some(jump(bastion.port)),
        ..env.root_key()
    };
    let session = Session::connect("127.0.0.1", &cfg).await.unwrap();
    assert_eq!(
        session.run("echo via", T).await.unwrap().stdout_text(),
        "via\n"
    );
    assert_eq!(bastion.count("Accepted publickey for root"), 1);
    assert_eq!(env.sshd.count("Accepted publickey for root"), 1);
    // Both host keys were checked and recorded, each under its own port.
    let known = std::fs::read_to_string(&env.known_hosts).unwrap();
    for port in [bastion.port, env.sshd.port] {
        assert!(known.contains(&format!("[127.0.0.1]:{port} ")), "{known}");
    }
    session.close().await;

    // Nothing listens where the bastion is sent: its refusal, retried, then named.
    let cfg = SshConfig {
        jump: Some(jump(bastion.port)),
        port: free_port(),
        retries: 1,
        ..env.root_key()
    };
    match Session::connect("127.0.0.1", &cfg).await {
        Err(SshError::Connect {
            detail, attempts, ..
        }) => {
            assert_eq!(attempts, 2);
            assert!(
                detail.contains("the bastion cannot connect") && detail.contains("through bastion"),
                "{detail}"
            );
        }
        other => panic!("expected Connect, got {other:?}"),
    }

    // A bastion that forwards nothing: said at once, with what it needs.
    let closed_dir = TempDir::new();
    let closed = Sshd::start_with(&closed_dir.0, "AllowTcpForwarding no\n");
    closed.authorize("root", &public);
    let cfg = SshConfig {
        jump: Some(jump(closed.port)),
        retries: 3,
        ..env.root_key()
    };
    let err = Session::connect("127.0.0.1", &cfg).await.unwrap_err();
    let shown = err.to_string();
    assert!(
        matches!(err, SshError::Connect { attempts: 1, .. })
            && shown.contains("AllowTcpForwarding"),
        "{shown}"
    );

    // The bastion's own failure is reported as the bastion's.
    let stranger = env.dir.0.join("stranger");
    keygen(&stranger);
    let cfg = SshConfig {
        jump: Some(jump(bastion.port)),
        ..env.cfg(
            "root",
            Auth::Key {
                path: stranger,
                passphrase: None,
            },
        )
    };
    match Session::connect("127.0.0.1", &cfg).await {
        Err(SshError::Auth { host, .. }) => {
            assert_eq!(host, format!("127.0.0.1:{}", bastion.port))
        }
        other => panic!("expected the bastion's Auth error, got {other:?}"),
    }
}

/// Runs futures concurrently and returns their results in order (no extra dependency).
async fn futures_join<F, O>(futures: impl IntoIterator<Item = F>) -> Vec<O>
where
    F: std::future::Future<Output = O> + Send + 'static,
    O: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
