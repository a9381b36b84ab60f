//! The `seal-install` commands end to end: validate, prepare what is local, build the command's
//! run (`runs`), then print it (`--dry-run`) or connect and carry it out. Everything that can be
//! checked without a host is checked first (arguments, templates, package, lvscare binary);
//! then every host is connected and probed; only when all of them pass does anything change,
//! in the run's order.

mod backup;
mod certs;
mod clean;
mod upgrade;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Semaphore;

use crate::cli::{
    self, AuthPlan, Cli, Command, ConfigArgs, Environment, InitArgs, JoinArgs, PackageSource,
    RunSettings,
};
use crate::cluster::{self, Cluster, ClusterFileError};
use crate::exec::{self, Failure, Progress};
use crate::kubeadm::{BootstrapToken, CaCertHash, CertificateKey};
use crate::package::{self, Package, PackageError};
use crate::plan::{self, Stage};
use crate::preflight;
use crate::redact::Redactor;
use crate::runs::{self, Joins, Uploads};
use crate::ssh::{Auth, Secret, Session, SshConfig, SshError};

/// How a command ended badly.
#[derive(Debug)]
pub enum AppError {
    /// Bad input: nothing was changed anywhere (exit 2).
    Usage(String),
    /// The run failed (exit 1).
    Failed(String),
}

impl AppError {
    /// The process exit status.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Usage(_) => cli::USAGE_EXIT,
            AppError::Failed(_) => 1,
        }
    }

    /// The message for the operator.
    pub fn message(&self) -> &str {
        match self {
            AppError::Usage(m) | AppError::Failed(m) => m,
        }
    }
}

fn usage(e: impl std::fmt::Display) -> AppError {
    AppError::Usage(e.to_string())
}

/// Time limit of the preflight probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one `seal-install` command.
pub async fn run(cli: Cli, env: &Environment) -> Result<(), AppError> {
    match cli.command {
        Command::Init(a) => init(&a, env).await,
        Command::Join(a) => join(&a, env).await,
        Command::Clean(a) => clean::clean(&a, env).await,
        Command::Backup(a) => backup::backup(&a, env).await,
        Command::Certs(a) => certs::certs(&a, env).await,
        Command::Upgrade(a) => upgrade::upgrade(&a, env).await,
        Command::Config(a) => config(&a),
    }
}

fn config(args: &ConfigArgs) -> Result<(), AppError> {
    print!("{}", cli::config_template(args).map_err(usage)?);
    Ok(())
}

/// The lvscare binary to upload: the flag, else beside this program, else on `$PATH`.
fn find_lvscare(flag: Option<&Path>) -> Result<PathBuf, AppError> {
    if let Some(p) = flag {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(AppError::Usage(format!(
                "--lvscare-bin {}: no such file; give the path of the lvscare binary for the nodes",
                p.display()
            )))
        };
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("lvscare")));
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("lvscare"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside
        .into_iter()
        .chain(on_path)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            AppError::Usage(
                "no lvscare binary for the nodes: put it next to seal-install or on $PATH, or pass --lvscare-bin PATH".into(),
            )
        })
}

fn package_error(e: PackageError) -> AppError {
    match e {
        PackageError::Download { .. } => AppError::Failed(e.to_string()),
        _ => AppError::Usage(e.to_string()),
    }
}

/// Where downloaded packages are kept: beside the cluster file.
fn package_cache(cluster_file: &Path) -> PathBuf {
    cluster_file
        .parent()
        .unwrap_or(Path::new("."))
        .join("packages")
}

/// The verified package; a dry run trusts a URL's declared sum instead of downloading.
async fn package_for(
    source: &PackageSource,
    sha256: Option<&str>,
    run: &RunSettings,
) -> Result<Package, AppError> {
    let cache = package_cache(&run.cluster_file);
    if let (true, PackageSource::Url(_), Some(sum)) = (run.dry_run, source, sha256) {
        return Ok(Package {
            path: cache.join(format!("{sum}.tar.gz")),
            sha256: sum.to_string(),
            verified_by: Some("--pkg-sha256".into()),
        });
    }
    package::prepare(source, sha256, &cache)
        .await
        .map_err(package_error)
}

/// The login methods to try, in order, with the password when there is one.
fn auth_methods(plan: &AuthPlan) -> Result<(Vec<Auth>, Option<Secret>), AppError> {
    let mut password = plan.password.clone();
    if plan.prompt_for_password {
        let p = rpassword::prompt_password("SSH password: ").map_err(|e| {
            AppError::Usage(format!(
                "no way to log in: cannot ask for a password ({e}); give --passwd, SEAL_PASSWD, --pk or an ssh-agent"
            ))
        })?;
        password = Some(Secret::new(p));
    }
    let mut methods = Vec::new();
    if let Some((path, passphrase)) = &plan.key {
        methods.push(Auth::Key {
            path: path.clone(),
            passphrase: passphrase.clone(),
        });
    }
    if plan.agent {
        methods.push(Auth::Agent { socket: None });
    }
    if let Some(p) = &password {
        methods.push(Auth::Password(p.clone()));
    }
    Ok((methods, password))
}

/// Connects to one host, trying each login method in turn.
async fn connect(
    host: IpAddr,
    run: &RunSettings,
    methods: &[Auth],
    password: Option<&Secret>,
) -> Result<Session, SshError> {
    let mut last = None;
    for auth in methods {
        let mut cfg = SshConfig::new(run.ssh.user.clone(), auth.clone());
        cfg.port = run.ssh.port;
        cfg.known_hosts = run.ssh.known_hosts.clone();
        cfg.sudo_password = password.cloned();
        cfg.connect_timeout = run.connect_timeout;
        cfg.jump = run.ssh.bastion.clone();
        match Session::connect(&host.to_string(), &cfg).await {
            Ok(s) => return Ok(s),
            // Another method may still work.
            Err(e @ (SshError::Auth { .. } | SshError::Key { .. } | SshError::Agent { .. })) => {
                last = Some(e)
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| SshError::Invalid("no login method".into())))
}

/// Connects to every host at once (bounded by `--parallel`).
async fn connect_all(
    hosts: &[IpAddr],
    run: &RunSettings,
    methods: &[Auth],
    password: Option<&Secret>,
    progress: &Progress,
) -> Vec<(IpAddr, Result<Session, SshError>)> {
    match &run.ssh.bastion {
        None => progress.line(&format!("== connect ({} host(s))", hosts.len())),
        Some(b) => progress.line(&format!(
            "== connect ({} host(s), through bastion {b})",
            hosts.len()
        )),
    }
    let limit = Arc::new(Semaphore::new(run.parallel.max(1)));
    let mut tasks = Vec::new();
    for &h in hosts {
        let (run, methods, password, limit) = (
            run.clone(),
            methods.to_vec(),
            password.cloned(),
            limit.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            connect(h, &run, &methods, password.as_ref()).await
        }));
    }
    let mut out = Vec::new();
    for (t, &h) in tasks.into_iter().zip(hosts) {
        let r = t
            .await
            .unwrap_or_else(|e| Err(SshError::Invalid(format!("internal error: {e}"))));
        out.push((h, r));
    }
    out
}

/// Connects and probes the hosts of `planned`; its `checked` are the ones the preflight rules
/// apply to (the others only need to be reachable, its `best_effort` not even that: they are
/// warned about and left out). On success, the sessions.
async fn connect_and_check(
    planned: &runs::Run,
    vip: IpAddr,
    run: &RunSettings,
    progress: &Progress,
) -> Result<BTreeMap<IpAddr, Session>, AppError> {
    let (methods, password) = auth_methods(&run.ssh.auth)?;
    let connected = connect_all(&planned.hosts, run, &methods, password.as_ref(), progress).await;
    progress.line("== preflight");
    let script = Arc::new(preflight::probe_script());
    let checked = &planned.checked;
    let mut sessions = BTreeMap::new();
    let mut tasks = Vec::new();
    for (h, r) in connected {
        match r {
            Err(e) if planned.best_effort.contains(&h) => {
                eprintln!("seal-install: warning: master {h} is unreachable ({e}); going on through the others");
            }
            Err(e) => tasks.push((h, None, Some(e.to_string()))),
            Ok(s) => {
                if checked.contains(&h) {
                    let (s2, script) = (s.clone(), script.clone());
                    let task = tokio::spawn(async move {
                        // The operator's clock at sending: the probe reads the host's first thing.
                        let local_now = unix_now();
                        s2.run(&script, PROBE_TIMEOUT)
                            .await
                            .map(|o| preflight::Facts {
                                local_now,
                                ..preflight::parse(&o.stdout_text())
                            })
                            .map_err(|e| e.to_string())
                    });
                    tasks.push((h, Some(task), None));
                }
                sessions.insert(h, s);
            }
        }
    }
    let mut probes = Vec::new();
    for (h, task, err) in tasks {
        let facts = match (task, err) {
            (Some(t), _) => t
                .await
                .unwrap_or_else(|e| Err(format!("internal error: {e}"))),
            (None, Some(e)) => Err(e),
            (None, None) => continue,
        };
        probes.push((h, facts));
    }
    let report = preflight::evaluate(&probes, &preflight::Context { vip });
    eprint!("preflight:\n{report}");
    if report.failed() {
        close_all(sessions).await;
        return Err(AppError::Failed(
            "preflight failed (see above); nothing was changed on any host".into(),
        ));
    }
    Ok(sessions)
}

/// Connects to all of `hosts`; the sessions, and a line per host that could not be reached.
pub(super) async fn connect_each(
    hosts: &[IpAddr],
    run: &RunSettings,
) -> Result<(BTreeMap<IpAddr, Session>, Vec<String>), AppError> {
    let (methods, password) = auth_methods(&run.ssh.auth)?;
    let progress = Progress::new(false);
    let mut sessions = BTreeMap::new();
    let mut failures = Vec::new();
    for (h, r) in connect_all(hosts, run, &methods, password.as_ref(), &progress).await {
        match r {
            Ok(s) => {
                sessions.insert(h, s);
            }
            Err(e) => failures.push(format!("{h}: {e}")),
        }
    }
    Ok((sessions, failures))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

async fn close_all(sessions: BTreeMap<IpAddr, Session>) {
    for (_, s) in sessions {
        s.close().await;
    }
}

/// The failures (their hosts' output masked) and then what to do.
fn failed(what: &str, failures: &[Failure], secrets: &Redactor) -> AppError {
    let mut msg = String::new();
    for f in failures {
        msg.push_str(&secrets.mask(&f.to_string()));
        msg.push('\n');
    }
    msg.push_str(what);
    AppError::Failed(msg)
}

/// The lvscare binary to upload when `nodes` join (else none is uploaded: the nodes' own path).
fn lvscare_for(nodes: &[IpAddr], flag: Option<&Path>) -> Result<PathBuf, AppError> {
    if nodes.is_empty() {
        Ok(PathBuf::from(plan::paths::LVSCARE))
    } else {
        find_lvscare(flag)
    }
}

/// The plan with the cluster's secrets masked (the files that carry them are shown).
fn print_dry_run(stages: &[Stage], secrets: &Redactor) {
    print!("{}", secrets.mask(&exec::describe(stages)));
    println!("(dry run: nothing was changed)");
}

/// The hash of the cluster CA as `master` holds it.
async fn read_ca_hash(
    sessions: &BTreeMap<IpAddr, Session>,
    master: IpAddr,
) -> Result<CaCertHash, AppError> {
    let ca = plan::paths::CA_CERT;
    let cannot = |why: String| {
        AppError::Failed(format!(
            "cannot read the cluster CA {ca} on master {master}: {why}"
        ))
    };
    let s = sessions
        .get(&master)
        .ok_or_else(|| cannot("no SSH session to it".into()))?;
    let out = s
        .run(&format!("cat {ca}"), PROBE_TIMEOUT)
        .await
        .map_err(|e| cannot(e.to_string()))?;
    CaCertHash::of_ca_pem(&out.stdout_text()).map_err(|e| cannot(e.to_string()))
}

/// Refuses a master whose CA is not the one the cluster file pins: joins would trust it.
fn check_ca(
    pinned: Option<&CaCertHash>,
    found: &CaCertHash,
    master: IpAddr,
    cluster_file: &Path,
) -> Result<(), AppError> {
    match pinned {
        Some(p) if p != found => Err(AppError::Failed(format!(
            "master {master} presents the cluster CA {found}, but the cluster file {} pins {p}: \
             it is not the cluster that file describes (re-initialised outside seal-install, or \
             another host at that address), so no host is joined to it; nothing was changed. \
             If the new CA is the right one, remove the ca_cert_hash line from the cluster file \
             and run the command again.",
            cluster_file.display(),
            found = found.as_str(),
            p = p.as_str()
        ))),
        _ => Ok(()),
    }
}

/// The cluster file content of an init: `cluster` with the package's sum, stamped `now` (a
/// re-run keeps the first stamp of creation).
fn init_record(
    cluster: &Cluster,
    package_sha256: &str,
    existing: Option<&Cluster>,
    now: SystemTime,
) -> Cluster {
    let mut record = Cluster {
        package_sha256: package_sha256.to_string(),
        ..cluster.clone()
    };
    record.touch(now);
    record.created = existing.map_or_else(|| record.updated.clone(), |c| c.created.clone());
    record
}

async fn init(args: &InitArgs, env: &Environment) -> Result<(), AppError> {
    let v = cli::validate_init(args, env).map_err(usage)?;
    for w in &v.warnings {
        eprintln!("seal-install: warning: {w}");
    }
    let template = match &v.kubeadm_template {
        Some(p) => Some((
            p.display().to_string(),
            std::fs::read_to_string(p)
                .map_err(|e| usage(format!("--kubeadm-config {}: {e}", p.display())))?,
        )),
        None => None,
    };
    // A cluster file for the same master0 and VIP means a re-run: keep its credentials, which
    // kubeadm on master0 may already hold.
    let existing = match cluster::load(&v.run.cluster_file) {
        Ok(c) => Some(c),
        Err(ClusterFileError::Missing { .. }) => None,
        Err(e) => return Err(usage(e)),
    };
    let (token, key) = match &existing {
        Some(c) if c.masters.first() == v.masters.first() && c.vip == v.vip => {
            (c.token.clone(), c.certificate_key.clone())
        }
        Some(c) => {
            return Err(AppError::Usage(format!(
            "cluster file {} describes another cluster (master0 {}, VIP {}); clean that one first \
                 (`seal-install clean --all`) or pass --cluster-file for the new one",
            v.run.cluster_file.display(),
            c.masters.first().map(|m| m.to_string()).unwrap_or_default(),
            c.vip
        )))
        }
        None => (
            BootstrapToken::generate().map_err(|e| AppError::Failed(e.to_string()))?,
            CertificateKey::generate().map_err(|e| AppError::Failed(e.to_string()))?,
        ),
    };
    // The cluster this run installs, which the configurations and stages are made from; the
    // package's sum and the file's time stamps are set when it is recorded (`init_record`).
    let cluster = v.new_cluster(token, key, String::new(), SystemTime::UNIX_EPOCH);
    let params = cluster.kubeadm_params();
    let init_config = params
        .render_init(template.as_ref().map(|(n, s)| (n.as_str(), s.as_str())))
        .map_err(usage)?;
    let lvscare = lvscare_for(&cluster.nodes, args.lvscare_bin.as_deref())?;
    let pkg = package_for(&v.package, v.package_sha256.as_deref(), &v.run).await?;
    if pkg.verified_by.is_none() {
        eprintln!(
            "seal-install: warning: package {} has no checksum to verify against (no --pkg-sha256, no .sha256 file beside it)",
            pkg.path.display()
        );
    }
    let files = Uploads {
        package: &pkg.path,
        package_sha256: &pkg.sha256,
        lvscare: &lvscare,
    };
    // The joins pin master0's CA, which exists once its init has run: a re-run knows it from the
    // cluster file; before that, a dry run shows a stand-in (rendering it also checks the joins).
    let pinned = existing.as_ref().and_then(|c| c.ca_cert_hash.clone());
    let shown = cluster.pinned_to(pinned.clone().unwrap_or_else(CaCertHash::not_yet_known));
    let joins = Joins::render(shown.kubeadm_params(), &cluster.masters[1..]).map_err(usage)?;
    let secrets = Redactor::for_credentials(&cluster.token, &cluster.certificate_key);
    if v.run.dry_run {
        print_dry_run(
            &runs::init_run(&shown, files, &init_config, &joins).stages,
            &secrets,
        );
        return Ok(());
    }
    let first = runs::init_first(&cluster, files, &init_config);
    let progress = Progress::new(false);
    let sessions = connect_and_check(&first, cluster.vip, &v.run, &progress).await?;
    // Recorded before any host changes, so `join`/`clean` know the cluster even after a failure.
    let mut record = init_record(&cluster, &pkg.sha256, existing.as_ref(), SystemTime::now());
    let save = |record: &Cluster| {
        cluster::save(&v.run.cluster_file, record).map_err(|e| AppError::Failed(e.to_string()))
    };
    save(&record)?;
    let started = Instant::now();
    let stopped = |f: Vec<Failure>| {
        failed(
            "init stopped. Fix the problem and run the same command again: steps already done are skipped.",
            &f,
            &secrets,
        )
    };
    let result = async {
        let done = exec::run_stages(&first.stages, &sessions, v.run.parallel, &progress)
            .await
            .map_err(stopped)?;
        let m0 = cluster.masters[0];
        let ca = read_ca_hash(&sessions, m0).await?;
        check_ca(pinned.as_ref(), &ca, m0, &v.run.cluster_file)?;
        record.ca_cert_hash = Some(ca.clone());
        save(&record)?;
        let pinned = cluster.pinned_to(ca);
        let joins = Joins::render(pinned.kubeadm_params(), &cluster.masters[1..]).map_err(usage)?;
        let rest = runs::init_rest(&pinned, files, &joins);
        exec::run_more_stages(&rest, &sessions, v.run.parallel, &progress, done)
            .await
            .map_err(stopped)
    }
    .await;
    close_all(sessions).await;
    result?;
    eprintln!(
        "seal-install: cluster ready in {:.1}s: masters {}, nodes {} (cluster file {})",
        started.elapsed().as_secs_f64(),
        list(&cluster.masters),
        list(&cluster.nodes),
        v.run.cluster_file.display()
    );
    Ok(())
}

fn list(ips: &[IpAddr]) -> String {
    if ips.is_empty() {
        return "none".into();
    }
    ips.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn source_of(c: &Cluster) -> PackageSource {
    if c.package.starts_with("http://") || c.package.starts_with("https://") {
        PackageSource::Url(c.package.clone())
    } else {
        PackageSource::File(PathBuf::from(&c.package))
    }
}

async fn join(args: &JoinArgs, env: &Environment) -> Result<(), AppError> {
    let path = cli::cluster_file_path(&args.login.common, env).map_err(usage)?;
    let before = cluster::load(&path).map_err(usage)?;
    let v = cli::validate_join(args, &before, env, SystemTime::now()).map_err(usage)?;
    let c = &v.cluster;
    let lvscare = lvscare_for(&v.nodes, args.lvscare_bin.as_deref())?;
    let pkg = package_for(&source_of(c), Some(&c.package_sha256), &v.run).await?;
    let files = Uploads {
        package: &pkg.path,
        package_sha256: &pkg.sha256,
        lvscare: &lvscare,
    };
    // The joins pin the CA in the cluster file; a file from before pinning learns it from
    // master0 once connected (a dry run shows a stand-in then).
    let shown = c.pinned_to(
        c.ca_cert_hash
            .clone()
            .unwrap_or_else(CaCertHash::not_yet_known),
    );
    let joins = Joins::render(shown.kubeadm_params(), &v.masters).map_err(usage)?;
    let earlier: Vec<IpAddr> = before.masters.clone();
    let planned = runs::join_run(&shown, &v.masters, &v.nodes, files, &joins, &earlier);
    let secrets = Redactor::for_credentials(&c.token, &c.certificate_key);
    if v.run.dry_run {
        print_dry_run(&planned.stages, &secrets);
        return Ok(());
    }
    let progress = Progress::new(false);
    let sessions = connect_and_check(&planned, c.vip, &v.run, &progress).await?;
    let started = Instant::now();
    // Any master of the cluster serves: the run goes through the first that answers.
    let up: Vec<IpAddr> = earlier
        .iter()
        .filter(|m| sessions.contains_key(m))
        .copied()
        .collect();
    let result = async {
        let Some(&through) = up.first() else {
            return Err(AppError::Failed(format!(
                "no master of the cluster answers over SSH ({}); join needs one. Nothing was changed.",
                list(&earlier)
            )));
        };
        let ca = read_ca_hash(&sessions, through).await?;
        check_ca(c.ca_cert_hash.as_ref(), &ca, through, &path)?;
        let pinned = c.pinned_to(ca);
        let joins = Joins::render(pinned.kubeadm_params(), &v.masters).map_err(usage)?;
        let run = runs::join_run(&pinned, &v.masters, &v.nodes, files, &joins, &up);
        exec::run_stages(&run.stages, &sessions, v.run.parallel, &progress)
            .await
            .map_err(|f| {
                failed(
                    "join stopped; the cluster file is unchanged. Fix the problem and run the same command again.",
                    &f,
                    &secrets,
                )
            })?;
        Ok(pinned)
    }
    .await;
    close_all(sessions).await;
    let c = &result?;
    cluster::save(&path, c).map_err(|e| AppError::Failed(e.to_string()))?;
    eprintln!(
        "seal-install: joined in {:.1}s: masters {}, nodes {}",
        started.elapsed().as_secs_f64(),
        list(&v.masters),
        list(&v.nodes)
    );
    Ok(())
}
