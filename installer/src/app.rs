//! The `seal-install` commands end to end. Everything that can be checked without a host is
//! checked first (arguments, templates, package, lvscare binary); then every host is connected
//! and probed; only when all of them pass does anything change, in the plan's order.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Semaphore;

use crate::cli::{
    self, AuthPlan, CleanArgs, Cli, Command, ConfigArgs, Environment, InitArgs, JoinArgs,
    PackageSource, RunSettings,
};
use crate::cluster::{self, Cluster, ClusterFileError};
use crate::exec::{self, Failure, Progress, StepOutcome};
use crate::kubeadm::{BootstrapToken, CertificateKey, KubeadmParams};
use crate::package::{self, Package, PackageError};
use crate::plan::{self, Action, Inputs, Stage, Step};
use crate::preflight;
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

/// Time limit of the preflight probe and of credential refreshes.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one `seal-install` command.
pub async fn run(cli: Cli, env: &Environment) -> Result<(), AppError> {
    match cli.command {
        Command::Init(a) => init(&a, env).await,
        Command::Join(a) => join(&a, env).await,
        Command::Clean(a) => clean(&a, env).await,
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
    progress.line(&format!("== connect ({} host(s))", hosts.len()));
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

/// Connects and probes `hosts`; `checked` are the ones the preflight rules apply to (the others
/// only need to be reachable). On success, the sessions.
async fn connect_and_check(
    hosts: &[IpAddr],
    checked: &[IpAddr],
    vip: IpAddr,
    run: &RunSettings,
    progress: &Progress,
) -> Result<BTreeMap<IpAddr, Session>, AppError> {
    let (methods, password) = auth_methods(&run.ssh.auth)?;
    let connected = connect_all(hosts, run, &methods, password.as_ref(), progress).await;
    progress.line("== preflight");
    let script = Arc::new(preflight::probe_script());
    let mut sessions = BTreeMap::new();
    let mut tasks = Vec::new();
    for (h, r) in connected {
        match r {
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

fn failed(what: &str, failures: &[Failure]) -> AppError {
    let mut msg = String::new();
    for f in failures {
        msg.push_str(&f.to_string());
        msg.push('\n');
    }
    msg.push_str(what);
    AppError::Failed(msg)
}

/// A stage that makes the cluster file's token and certificate key valid again on master0.
fn refresh_stage(master0: IpAddr, params: &KubeadmParams) -> Stage {
    Stage {
        only_if_done: None,
        name: "refresh join credentials".into(),
        parallel: false,
        steps: vec![Step {
            host: master0,
            name: "refresh token and certificate key".into(),
            done_if: None,
            actions: params
                .refresh_join_credentials()
                .into_iter()
                .map(|cmd| Action::Run {
                    cmd,
                    timeout: PROBE_TIMEOUT,
                })
                .collect(),
        }],
    }
}

fn join_master_configs(
    params: &KubeadmParams,
    masters: &[IpAddr],
) -> Result<BTreeMap<IpAddr, String>, AppError> {
    masters
        .iter()
        .map(|&m| Ok((m, params.render_join_master(m).map_err(usage)?)))
        .collect()
}

fn print_dry_run(stages: &[Stage]) {
    print!("{}", exec::describe(stages));
    println!("(dry run: nothing was changed)");
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
    let params = v.kubeadm_params(token.clone(), key.clone());
    let init_config = params
        .render_init(template.as_ref().map(|(n, s)| (n.as_str(), s.as_str())))
        .map_err(usage)?;
    let lvscare = if v.nodes.is_empty() {
        PathBuf::from(plan::paths::LVSCARE)
    } else {
        find_lvscare(args.lvscare_bin.as_deref())?
    };
    let pkg = package_for(&v.package, v.package_sha256.as_deref(), &v.run).await?;
    if pkg.verified_by.is_none() {
        eprintln!(
            "seal-install: warning: package {} has no checksum to verify against (no --pkg-sha256, no .sha256 file beside it)",
            pkg.path.display()
        );
    }
    let inputs = Inputs {
        masters: v.masters.clone(),
        nodes: v.nodes.clone(),
        vip: v.vip,
        apiserver_name: v.apiserver_name.clone(),
        package: pkg.path.clone(),
        lvscare,
        lvscare_mode: v.lvscare_mode,
        lvscare_image: v.lvscare_image.clone(),
        init_config,
        join_master_configs: join_master_configs(&params, &v.masters[1..])?,
        join_node_config: params.render_join_node().map_err(usage)?,
    };
    let stages = plan::init(&inputs, &pkg.sha256);
    if v.run.dry_run {
        print_dry_run(&stages);
        return Ok(());
    }
    let progress = Progress::new(false);
    let all: Vec<IpAddr> = v.masters.iter().chain(&v.nodes).copied().collect();
    let sessions = connect_and_check(&all, &all, v.vip, &v.run, &progress).await?;
    // Recorded before any host changes, so `join`/`clean` know the cluster even after a failure.
    let now = SystemTime::now();
    let mut record = v.new_cluster(token, key, pkg.sha256.clone(), now);
    if let Some(c) = &existing {
        record.created = c.created.clone();
    }
    cluster::save(&v.run.cluster_file, &record).map_err(|e| AppError::Failed(e.to_string()))?;
    let started = Instant::now();
    let result = run_init(&stages, &inputs, &params, &sessions, &v.run, &progress).await;
    close_all(sessions).await;
    result.map_err(|f| {
        failed(
            "init stopped. Fix the problem and run the same command again: steps already done are skipped.",
            &f,
        )
    })?;
    eprintln!(
        "seal-install: cluster ready in {:.1}s: masters {}, nodes {} (cluster file {})",
        started.elapsed().as_secs_f64(),
        list(&v.masters),
        list(&v.nodes),
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

/// distribute → master0 → (refresh when master0 was set up before) → masters → nodes.
async fn run_init(
    stages: &[Stage],
    inputs: &Inputs,
    params: &KubeadmParams,
    sessions: &BTreeMap<IpAddr, Session>,
    run: &RunSettings,
    progress: &Progress,
) -> Result<(), Vec<Failure>> {
    let (first, rest) = stages.split_at(stages.len().min(2));
    let outcomes = exec::run_stages(first, sessions, run.parallel, progress).await?;
    let master0 = inputs.masters[0];
    let resumed = outcomes.iter().any(|(h, name, o)| {
        *h == master0 && name == "kubeadm init" && *o == StepOutcome::AlreadyDone
    });
    if resumed && !rest.is_empty() {
        // The token lives 24 h and uploaded certificates 2 h: make them valid for the joins.
        exec::run_stages(&[refresh_stage(master0, params)], sessions, 1, progress).await?;
    }
    exec::run_stages(rest, sessions, run.parallel, progress).await?;
    Ok(())
}

/// Plan inputs for an installed cluster: lvscare already on the nodes, no configs rendered.
fn cluster_inputs(c: &Cluster) -> Inputs {
    Inputs {
        masters: c.masters.clone(),
        nodes: c.nodes.clone(),
        vip: c.vip,
        apiserver_name: c.apiserver_name.clone(),
        package: PathBuf::new(),
        lvscare: PathBuf::from(plan::paths::LVSCARE),
        lvscare_mode: c.lvscare_mode,
        lvscare_image: c.lvscare_image.clone(),
        init_config: String::new(),
        join_master_configs: BTreeMap::new(),
        join_node_config: String::new(),
    }
}

fn source_of(c: &Cluster) -> PackageSource {
    if c.package.starts_with("http://") || c.package.starts_with("https://") {
        PackageSource::Url(c.package.clone())
    } else {
        PackageSource::File(PathBuf::from(&c.package))
    }
}

async fn join(args: &JoinArgs, env: &Environment) -> Result<(), AppError> {
    let path = cli::cluster_file_path(&args.common, env).map_err(usage)?;
    let before = cluster::load(&path).map_err(usage)?;
    let v = cli::validate_join(args, &before, env, SystemTime::now()).map_err(usage)?;
    let c = &v.cluster;
    let params = c.kubeadm_params();
    let lvscare = if v.nodes.is_empty() {
        PathBuf::from(plan::paths::LVSCARE)
    } else {
        find_lvscare(args.lvscare_bin.as_deref())?
    };
    let pkg = package_for(&source_of(c), Some(&c.package_sha256), &v.run).await?;
    let inputs = Inputs {
        package: pkg.path.clone(),
        lvscare,
        join_master_configs: join_master_configs(&params, &v.masters)?,
        join_node_config: params.render_join_node().map_err(usage)?,
        ..cluster_inputs(c)
    };
    let new: Vec<IpAddr> = v.masters.iter().chain(&v.nodes).copied().collect();
    let master0 = c.masters[0];
    let mut stages = vec![
        plan::distribute(&new, &pkg.path, &pkg.sha256),
        refresh_stage(master0, &params),
    ];
    if !v.masters.is_empty() {
        stages.push(plan::join_masters(&inputs, &v.masters));
    }
    if !v.nodes.is_empty() {
        stages.push(plan::join_nodes(&inputs, &v.nodes));
        stages.push(plan::node_lvscare(&inputs, &v.nodes));
    }
    // Nodes already in the cluster balance to the new masters too.
    if !v.masters.is_empty() && !before.nodes.is_empty() {
        stages.push(plan::update_node_masters(&inputs, &before.nodes));
    }
    if v.run.dry_run {
        print_dry_run(&stages);
        return Ok(());
    }
    let progress = Progress::new(false);
    let mut hosts = new.clone();
    hosts.push(master0);
    if !v.masters.is_empty() {
        hosts.extend(&before.nodes);
    }
    let sessions = connect_and_check(&hosts, &new, c.vip, &v.run, &progress).await?;
    let started = Instant::now();
    let result = exec::run_stages(&stages, &sessions, v.run.parallel, &progress).await;
    close_all(sessions).await;
    result.map_err(|f| {
        failed(
            "join stopped; the cluster file is unchanged. Fix the problem and run the same command again.",
            &f,
        )
    })?;
    cluster::save(&path, c).map_err(|e| AppError::Failed(e.to_string()))?;
    eprintln!(
        "seal-install: joined in {:.1}s: masters {}, nodes {}",
        started.elapsed().as_secs_f64(),
        list(&v.masters),
        list(&v.nodes)
    );
    Ok(())
}

async fn clean(args: &CleanArgs, env: &Environment) -> Result<(), AppError> {
    let path = cli::cluster_file_path(&args.common, env).map_err(usage)?;
    let current = match cluster::load(&path) {
        Ok(c) => Some(c),
        Err(ClusterFileError::Missing { .. }) => None,
        Err(e) => return Err(usage(e)),
    };
    let v = cli::validate_clean(args, current.as_ref(), env, SystemTime::now()).map_err(usage)?;
    let mut stages = Vec::new();
    // Nodes leave the cluster first (drained, Node objects deleted) when a master remains.
    let master = v
        .remaining
        .as_ref()
        .and_then(|r| r.masters.first().copied())
        .filter(|m| !v.hosts.contains(m) && !v.nodes.is_empty());
    if let Some(m) = master {
        stages.push(plan::delete_nodes(m, &v.nodes));
    }
    stages.push(plan::clean(&v.hosts, &v.nodes, v.vip));
    // Remaining nodes stop balancing to masters that are gone.
    let mut update_hosts = Vec::new();
    if let (Some(rest), Some(before)) = (&v.remaining, &current) {
        if rest.masters.len() < before.masters.len() && !rest.nodes.is_empty() {
            stages.push(plan::update_node_masters(
                &cluster_inputs(rest),
                &rest.nodes,
            ));
            update_hosts = rest.nodes.clone();
        }
    }
    if v.run.dry_run {
        print_dry_run(&stages);
        return Ok(());
    }
    let progress = Progress::new(false);
    let (methods, password) = auth_methods(&v.run.ssh.auth)?;
    let mut hosts = v.hosts.clone();
    hosts.extend(&update_hosts);
    hosts.extend(master);
    let connected = connect_all(&hosts, &v.run, &methods, password.as_ref(), &progress).await;
    let mut sessions = BTreeMap::new();
    let mut unreachable = Vec::new();
    for (h, r) in connected {
        match r {
            Ok(s) => {
                sessions.insert(h, s);
            }
            // The cluster's side is best effort: a node is still cleaned when no master answers.
            Err(e) if Some(h) == master && !update_hosts.contains(&h) => {
                eprintln!("seal-install: warning: master {h} is unreachable ({e}); the cleaned nodes stay in the cluster's node list");
            }
            Err(e) => unreachable.push(Failure {
                host: h,
                step: "connect".into(),
                command: String::new(),
                error: e.to_string(),
            }),
        }
    }
    // Clean what can be reached; what cannot is reported and stays in the cluster file.
    for stage in &mut stages {
        stage.steps.retain(|s| sessions.contains_key(&s.host));
    }
    let result = exec::run_stages(&stages, &sessions, v.run.parallel, &progress).await;
    close_all(sessions).await;
    let mut failures = unreachable;
    if let Err(f) = result {
        failures.extend(f);
    }
    if !failures.is_empty() {
        return Err(failed(
            "clean did not finish on every host (see above); the cluster file is unchanged. Run the same command again once the hosts are reachable.",
            &failures,
        ));
    }
    match (&v.remaining, &current) {
        (Some(rest), _) => {
            cluster::save(&path, rest).map_err(|e| AppError::Failed(e.to_string()))?
        }
        (None, Some(_)) => {
            std::fs::remove_file(&path).map_err(|e| {
                AppError::Failed(format!(
                    "cannot remove cluster file {}: {e}",
                    path.display()
                ))
            })?;
        }
        (None, None) => {}
    }
    eprintln!("seal-install: cleaned {}", list(&v.hosts));
    Ok(())
}
