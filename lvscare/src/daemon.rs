//! The lvscare daemon: one probe task per master, and a loop that reconciles everything lvscare
//! owns on every tick and at once on a health change, then aborts the node's connections to a
//! master that went Down (`conns`). Every kernel call runs on a blocking thread, so a slow
//! kernel never holds up the probes sharing the runtime thread. Logs state changes once, never
//! per tick; records its events in [`Metrics`], served with `/healthz` on `--metrics-addr`, and
//! pings systemd's watchdog after each completed pass.

use crate::config::{CareConfig, TlsVerify};
use crate::conns::{self, AbortError, AbortReport, PendingAborts};
use crate::health::{Health, HealthTracker};
use crate::metrics::{self, Liveness, Metrics};
use crate::node::{self, Node, NodeError, VipChange};
use crate::probe::{self, ProbeConfig, ProbeError, ProbeFailure, Prober, TlsMode};
use crate::reconcile::{Plan, Reconciler};
use crate::schedule::ProbeSchedule;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// Builds the probe configuration; a CA file that cannot be used is an input error.
pub fn probe_config(cfg: &CareConfig) -> Result<ProbeConfig, ProbeError> {
    let tls = match &cfg.health.tls {
        TlsVerify::CaFile(path) => probe::load_ca(path)?,
        TlsVerify::Insecure => TlsMode::InsecureSkipVerify,
    };
    let pc = ProbeConfig {
        scheme: cfg.health.scheme,
        path: cfg.health.path.clone(),
        timeout: cfg.health.timeout,
        // A busy master's handshake may take up to the interval (see `probe`'s module comment).
        handshake_timeout: cfg.interval,
        extra_healthy: cfg.health.extra_statuses.clone(),
        tls,
    };
    pc.validate()?;
    Ok(pc)
}

/// `--run-once`: every master in, VIP and route in place, then return.
pub fn run_once(cfg: &CareConfig) -> Result<(), NodeError> {
    let mut node = Node::open()?;
    let source = node.source_ip(cfg)?;
    for change in node.ensure_vip(cfg, source)? {
        info!("{}", change.line);
    }
    let all_up = cfg.real_servers.iter().map(|s| (*s, Health::Up)).collect();
    let (_, done) =
        node.ensure_service(cfg, all_up, &mut Reconciler::new(), Instant::now(), true)?;
    for line in done {
        info!("{line}");
    }
    Ok(())
}

/// `--clean`: remove lvscare's service and interface.
pub fn clean(cfg: &CareConfig) -> Result<(), NodeError> {
    let mut node = Node::open()?;
    let removed = node.clean(cfg)?;
    if removed.is_empty() {
        info!("nothing to remove");
    }
    for r in removed {
        info!("removed {r}");
    }
    Ok(())
}

/// Remembers the last error of a recurring task so it is logged once, and its end once.
#[derive(Default)]
struct OnceLog(Option<String>);

impl OnceLog {
    /// The value of `r`, or `None` with the error logged (once) and counted under `task`.
    fn result<T>(
        &mut self,
        what: &str,
        task: &'static str,
        metrics: &Metrics,
        r: Result<T, NodeError>,
    ) -> Option<T> {
        match r {
            Ok(v) => {
                if self.0.take().is_some() {
                    info!("{what}: working again");
                }
                Some(v)
            }
            Err(e) => {
                metrics.kernel_error(task);
                let msg = e.to_string();
                if self.0.as_deref() != Some(msg.as_str()) {
                    error!("{what} failed: {msg} (retrying every tick; logged again only if it changes)");
                    self.0 = Some(msg);
                }
                None
            }
        }
    }
}

/// What the loop keeps at the kernel between passes; moved onto a blocking thread for each.
struct Kernel {
    node: Node,
    reconciler: Reconciler,
}

/// What one pass at the kernel found and did.
struct PassOutcome {
    source: Result<IpAddr, NodeError>,
    /// `None` while no source address has ever been found.
    vip: Option<Result<Vec<VipChange>, NodeError>>,
    service: Result<(Plan, Vec<String>), NodeError>,
}

/// One pass: the source address, the VIP and its link, then the service. Blocking.
fn kernel_pass(
    k: &mut Kernel,
    cfg: &CareConfig,
    known_source: Option<IpAddr>,
    backends: Vec<(SocketAddr, Health)>,
    setup: bool,
) -> PassOutcome {
    let source = k.node.source_ip(cfg);
    let vip = match &source {
        Ok(s) => Some(*s),
        Err(_) => known_source,
    }
    .map(|s| k.node.ensure_vip(cfg, s));
    let service = k
        .node
        .ensure_service(cfg, backends, &mut k.reconciler, Instant::now(), setup);
    PassOutcome {
        source,
        vip,
        service,
    }
}

/// The daemon: runs until SIGTERM or SIGINT, then returns leaving the rules in place so traffic
/// keeps flowing across restarts and upgrades.
pub async fn run(cfg: CareConfig, probe_cfg: ProbeConfig) -> Result<(), NodeError> {
    let cfg = Arc::new(cfg);
    let mut kernel = Kernel {
        node: Node::open()?,
        reconciler: Reconciler::new(),
    };
    let metrics = Arc::new(Metrics::new(&cfg.real_servers));
    let liveness = Arc::new(Liveness::new(metrics::stall_limit(cfg.interval)));
    if let Some(addr) = cfg.metrics_addr {
        let listener = metrics::bind(addr)?;
        tokio::spawn(metrics::serve(listener, metrics.clone(), liveness.clone()));
        info!("serving /metrics and /healthz on http://{addr}");
    }
    let mut watchdog_usec = 0;
    let watchdog = sd_notify::watchdog_enabled(false, &mut watchdog_usec);

    let probe_cfg = Arc::new(probe_cfg);
    let (tx, mut rx) = mpsc::channel::<(SocketAddr, Result<(), ProbeFailure>)>(64);
    for &addr in &cfg.real_servers {
        let schedule = ProbeSchedule::new(cfg.interval, cfg.fastinter, cfg.fall, Instant::now());
        tokio::spawn(probe_loop(
            Prober::new(addr, probe_cfg.clone()),
            schedule,
            tx.clone(),
            metrics.clone(),
        ));
    }
    drop(tx);

    let mut health = HealthTracker::new(cfg.real_servers.iter().copied(), cfg.rise, cfg.fall);
    let mut last_failure: HashMap<SocketAddr, ProbeFailure> = HashMap::new();
    let (mut vip_log, mut svc_log, mut src_log) =
        (OnceLog::default(), OnceLog::default(), OnceLog::default());
    let mut source = None;
    let mut fail_open = false;
    let mut setup = true;
    // A health change since the last applied plan: its real-server changes are not repairs.
    let mut health_changed = false;
    let mut pending_aborts = PendingAborts::new();
    let (abort_tx, mut abort_rx) = mpsc::channel::<AbortEvent>(16);
    let mut abort_log = AbortLog::default();
    spawn_support_check(cfg.vip, abort_tx.clone());
    let mut ticker = tokio::time::interval(cfg.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sigterm =
        signal(SignalKind::terminate()).map_err(|e| NodeError::Signal(e.to_string()))?;
    let mut sigint =
        signal(SignalKind::interrupt()).map_err(|e| NodeError::Signal(e.to_string()))?;
    info!(
        "lvscare: {} -> {} real servers, probing {:?} every {:?} (timeout {:?}, re-probe after a failure {:?}, fall {}, rise {})",
        cfg.vip,
        cfg.real_servers.len(),
        cfg.health.scheme,
        cfg.interval,
        cfg.health.timeout,
        cfg.fastinter,
        cfg.fall,
        cfg.rise
    );

    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            Some((addr, result)) = rx.recv() => {
                let ok = result.is_ok();
                if let Err(f) = result {
                    last_failure.insert(addr, f);
                }
                let Some(t) = health.record(addr, ok) else { continue };
                metrics.transition(addr, t.to);
                health_changed = true;
                match t.to {
                    Health::Down => {
                        let why = last_failure.get(&addr).map(|f| f.to_string()).unwrap_or_default();
                        warn!("master {addr} is down: {why} ({} failed probes in a row)", cfg.fall);
                        pending_aborts.down(addr);
                    }
                    Health::Up => {
                        info!("master {addr} is up again ({} good probes in a row)", cfg.rise);
                        pending_aborts.up(addr);
                    }
                }
                // Act on the change now rather than at the next tick.
            }
            Some(event) = abort_rx.recv() => {
                abort_log.report(event, &metrics);
                continue;
            }
            _ = sigterm.recv() => { info!("SIGTERM: exiting, rules left in place"); return Ok(()); }
            _ = sigint.recv() => { info!("SIGINT: exiting, rules left in place"); return Ok(()); }
        }

        let (job_cfg, backends, known) = (cfg.clone(), health.snapshot(), source);
        let (k, pass) = tokio::task::spawn_blocking(move || {
            let pass = kernel_pass(&mut kernel, &job_cfg, known, backends, setup);
            (kernel, pass)
        })
        .await
        .map_err(|e| NodeError::Task(e.to_string()))?;
        kernel = k;
        if setup {
            // Without the privilege nothing lvscare owns can ever be set up: stop with the fix
            // instead of retrying for ever.
            let refused = [
                pass.service.as_ref().err(),
                pass.vip.as_ref().and_then(|v| v.as_ref().err()),
            ];
            if let Some(e) = refused.into_iter().flatten().find(|e| e.is_not_permitted()) {
                return Err(NodeError::NotPermitted(e.to_string()));
            }
        }

        let src = "finding the node's source address";
        if let Some(s) = src_log.result(src, "source", &metrics, pass.source) {
            if source.is_some_and(|old| old != s) {
                info!("node source address changed to {s}");
            }
            source = Some(s);
        }
        if let Some(r) = pass.vip {
            for c in vip_log
                .result("setting up the VIP", "vip", &metrics, r)
                .unwrap_or_default()
            {
                if c.is_repair(setup) {
                    metrics.repaired(c.object);
                }
                info!("{}", c.line);
            }
        }
        let svc = "reconciling the IPVS service";
        if let Some((plan, done)) = svc_log.result(svc, "service", &metrics, pass.service) {
            for (op, line) in plan.ops.iter().zip(done) {
                if let Some(object) = node::ipvs_repair(op, setup, health_changed) {
                    metrics.repaired(object);
                }
                info!("{line}");
            }
            health_changed = false;
            // The master now takes no new connections: its clients reconnect elsewhere.
            for master in pending_aborts.take(plan.fail_open) {
                spawn_abort(cfg.vip, master, abort_tx.clone());
            }
            if plan.fail_open != fail_open {
                fail_open = plan.fail_open;
                metrics.set_fail_open(fail_open);
                if fail_open {
                    warn!("every master is down: keeping all of them in (fail open), since an empty service is a sure outage");
                } else {
                    info!("at least one master is healthy again: fail-open mode ended");
                }
            }
            if setup {
                setup = false;
                // Tell systemd (Type=notify) we are serving; harmless elsewhere.
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
            }
        }
        // The pass completed (whatever the kernel answered): the loop is alive.
        liveness.beat();
        if let Ok(t) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            metrics.pass_done(t.as_secs_f64());
        }
        if watchdog {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        }
    }
}

/// The outcome of a blocking connection-abort task, for the loop to log.
enum AbortEvent {
    /// The start-up check of whether aborting works here.
    Checked(Result<(), AbortError>),
    /// The abort of one down master's connections.
    Aborted(SocketAddr, Result<AbortReport, AbortError>),
}

/// Runs `job` on a blocking thread (procfs and netlink must not hold up the probes sharing this
/// runtime thread) and sends its outcome back to the loop.
fn spawn_blocking_to<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, AbortError> + Send + 'static,
    event: impl FnOnce(Result<T, AbortError>) -> AbortEvent + Send + 'static,
    tx: mpsc::Sender<AbortEvent>,
) {
    tokio::spawn(async move {
        let result = tokio::task::spawn_blocking(job)
            .await
            .unwrap_or_else(|e| Err(AbortError::Task(e.to_string())));
        let _ = tx.send(event(result)).await;
    });
}

fn spawn_support_check(vip: SocketAddr, tx: mpsc::Sender<AbortEvent>) {
    spawn_blocking_to(move || conns::check_support(vip), AbortEvent::Checked, tx);
}

fn spawn_abort(vip: SocketAddr, master: SocketAddr, tx: mpsc::Sender<AbortEvent>) {
    spawn_blocking_to(
        move || conns::abort_flows_to(vip, master),
        move |r| AbortEvent::Aborted(master, r),
        tx,
    );
}

/// Logs each abort once; a missing kernel feature only the first time it is seen (and again
/// only if the reason changes), since it is a property of the node, not of the event.
#[derive(Default)]
struct AbortLog {
    unsupported: Option<String>,
}

impl AbortLog {
    fn report(&mut self, event: AbortEvent, metrics: &Metrics) {
        let (master, result) = match event {
            AbortEvent::Checked(Ok(())) => return,
            AbortEvent::Checked(Err(e)) => {
                self.failed(None, e);
                return;
            }
            AbortEvent::Aborted(master, r) => (master, r),
        };
        match result {
            Ok(r) => {
                metrics.aborted(master, r.aborted as u64);
                let mut line = format!(
                    "{master} down: aborted {} established connections",
                    r.aborted
                );
                if r.not_local > 0 {
                    line.push_str(&format!(
                        " ({} more in IPVS's table are not this node's sockets or already closed)",
                        r.not_local
                    ));
                }
                if r.failed > 0 {
                    line.push_str(&format!(
                        "; {} could not be aborted: {}",
                        r.failed,
                        r.first_failure.unwrap_or_default()
                    ));
                }
                info!("{line}");
            }
            Err(e) => self.failed(Some(master), e),
        }
    }

    fn failed(&mut self, master: Option<SocketAddr>, e: AbortError) {
        match (e, master) {
            (AbortError::Unsupported(why), _) => {
                if self.unsupported.as_deref() != Some(why.as_str()) {
                    warn!("cannot abort connections to a down master: {why}; its clients wait for their own timeouts (logged once)");
                    self.unsupported = Some(why);
                }
            }
            (e, Some(m)) => warn!("{m} down: aborting its connections failed: {e}"),
            (e, None) => warn!("checking whether connections can be aborted: {e}"),
        }
    }
}

/// Probes one master on its schedule (one probe per interval, a quick re-probe after a first
/// failure) and reports each result; ends when the daemon does.
async fn probe_loop(
    mut prober: Prober,
    mut schedule: ProbeSchedule,
    tx: mpsc::Sender<(SocketAddr, Result<(), ProbeFailure>)>,
    metrics: Arc<Metrics>,
) {
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let result = prober.probe().await;
        let now = Instant::now();
        failures = if result.is_ok() {
            0
        } else {
            failures.saturating_add(1)
        };
        metrics.probe(prober.target(), now - started, failures);
        let next = schedule.after(result.is_ok(), now);
        if tx.send((prober.target(), result)).await.is_err() {
            return;
        }
        tokio::time::sleep_until(next.into()).await;
    }
}
