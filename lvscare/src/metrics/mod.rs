//! What lvscare tells about itself: Prometheus metrics the daemon records its events into, the
//! loop's liveness behind `/healthz` and systemd's watchdog, and the small HTTP server that
//! serves both (`--metrics-addr`).
//!
//! The registry and its encoding are `prometheus-client`'s (the Prometheus project's own Rust
//! client); the output is the OpenMetrics text format, which Prometheus scrapes natively.

mod liveness;
mod server;

pub use liveness::{stall_limit, Liveness};
pub use server::{bind, respond, serve, ServeError};

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::health::Health;
use crate::node::Object;

/// Labels naming one master.
type Master = [(&'static str, String); 1];
/// Labels naming one master and a state it entered.
type MasterTo = [(&'static str, String); 2];
/// Labels naming one kind of object or task.
type Kind = [(&'static str, &'static str); 1];

/// Probe latency buckets: 1 ms to about 2 s, doubling (a probe's limit is below a second).
fn probe_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 12))
}

fn object_label(object: Object) -> &'static str {
    match object {
        Object::Service => "service",
        Object::RealServer => "real_server",
        Object::Interface => "interface",
        Object::Address => "address",
        Object::Route => "route",
        Object::Sysctl => "sysctl",
    }
}

/// Every metric lvscare exports; cheap to update from any task (atomics inside).
pub struct Metrics {
    registry: Registry,
    master_up: Family<Master, Gauge>,
    probe_seconds: Family<Master, Histogram, fn() -> Histogram>,
    consecutive_failures: Family<Master, Gauge>,
    transitions: Family<MasterTo, Counter>,
    aborted: Family<Master, Counter>,
    repairs: Family<Kind, Counter>,
    kernel_errors: Family<Kind, Counter>,
    fail_open: Gauge,
    last_pass: Gauge<f64, AtomicU64>,
}

impl Metrics {
    /// The registry with every family registered, each master present from the start (Up).
    pub fn new(masters: &[SocketAddr]) -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("lvscare"),
            master_up: Family::default(),
            probe_seconds: Family::new_with_constructor(probe_histogram),
            consecutive_failures: Family::default(),
            transitions: Family::default(),
            aborted: Family::default(),
            repairs: Family::default(),
            kernel_errors: Family::default(),
            fail_open: Gauge::default(),
            last_pass: Gauge::default(),
        };
        let registry = &mut m.registry;
        registry.register(
            "master_up",
            "1 while the master is in the service as healthy, 0 while it is Down",
            m.master_up.clone(),
        );
        registry.register(
            "probe_duration_seconds",
            "Duration of each health probe, failed ones included",
            m.probe_seconds.clone(),
        );
        registry.register(
            "probe_consecutive_failures",
            "Failed probes in a row, 0 after a good one",
            m.consecutive_failures.clone(),
        );
        registry.register(
            "master_transitions",
            "Changes of a master's state, by the state entered",
            m.transitions.clone(),
        );
        registry.register(
            "connections_aborted",
            "Node connections to a master aborted when it went Down",
            m.aborted.clone(),
        );
        registry.register(
            "repairs",
            "Kernel objects lvscare restored after something else removed or changed them",
            m.repairs.clone(),
        );
        registry.register(
            "kernel_errors",
            "Failed passes at the kernel, by task (source address, vip, service)",
            m.kernel_errors.clone(),
        );
        registry.register(
            "fail_open",
            "1 while every master is Down and all are kept in",
            m.fail_open.clone(),
        );
        registry.register(
            "last_pass_timestamp_seconds",
            "Unix time of the loop's last completed pass over the kernel state",
            m.last_pass.clone(),
        );
        for master in masters {
            m.master_up.get_or_create(&label(*master)).set(1);
            m.consecutive_failures.get_or_create(&label(*master)).set(0);
            for to in ["up", "down"] {
                let _ = m
                    .transitions
                    .get_or_create(&[("master", master.to_string()), ("to", to.to_string())]);
            }
            let _ = m.aborted.get_or_create(&label(*master));
        }
        m
    }

    /// One probe's result and duration; `streak` is the failures in a row it makes.
    pub fn probe(&self, master: SocketAddr, took: Duration, streak: u32) {
        let l = label(master);
        self.probe_seconds
            .get_or_create(&l)
            .observe(took.as_secs_f64());
        self.consecutive_failures
            .get_or_create(&l)
            .set(i64::from(streak));
    }

    /// A master entered `to`.
    pub fn transition(&self, master: SocketAddr, to: Health) {
        let (up, name) = match to {
            Health::Up => (1, "up"),
            Health::Down => (0, "down"),
        };
        self.master_up.get_or_create(&label(master)).set(up);
        self.transitions
            .get_or_create(&[("master", master.to_string()), ("to", name.to_string())])
            .inc();
    }

    /// `n` connections to `master` were aborted.
    pub fn aborted(&self, master: SocketAddr, n: u64) {
        self.aborted.get_or_create(&label(master)).inc_by(n);
    }

    /// One object was repaired.
    pub fn repaired(&self, object: Object) {
        self.repairs
            .get_or_create(&[("object", object_label(object))])
            .inc();
    }

    /// A kernel task of the loop failed (`task`: "source", "vip" or "service").
    pub fn kernel_error(&self, task: &'static str) {
        self.kernel_errors.get_or_create(&[("task", task)]).inc();
    }

    /// Fail-open mode began or ended.
    pub fn set_fail_open(&self, on: bool) {
        self.fail_open.set(i64::from(on));
    }

    /// The loop completed a pass at this Unix time.
    pub fn pass_done(&self, unix_seconds: f64) {
        self.last_pass.set(unix_seconds);
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

fn label(master: SocketAddr) -> Master {
    [("master", master.to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn every_master_is_present_from_the_start() {
        let a: SocketAddr = "192.168.0.2:6443".parse().unwrap();
        let b: SocketAddr = "[fd00::3]:6443".parse().unwrap();
        let text = Metrics::new(&[a, b]).render();
        assert_eq!(
            value(&text, r#"lvscare_master_up{master="192.168.0.2:6443"}"#),
            Some(1.0)
        );
        assert_eq!(
            value(&text, r#"lvscare_master_up{master="[fd00::3]:6443"}"#),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                r#"lvscare_master_transitions_total{master="192.168.0.2:6443",to="down"}"#
            ),
            Some(0.0)
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn events_move_their_series() {
        let a: SocketAddr = "192.168.0.2:6443".parse().unwrap();
        let m = Metrics::new(&[a]);
        m.probe(a, Duration::from_millis(3), 0);
        m.probe(a, Duration::from_millis(350), 1);
        m.probe(a, Duration::from_millis(351), 2);
        m.transition(a, Health::Down);
        m.aborted(a, 3);
        m.repaired(Object::RealServer);
        m.repaired(Object::RealServer);
        m.kernel_error("service");
        m.set_fail_open(true);
        let text = m.render();
        let master = r#"{master="192.168.0.2:6443"}"#;
        assert_eq!(
            value(&text, &format!("lvscare_master_up{master}")),
            Some(0.0)
        );
        assert_eq!(
            value(
                &text,
                &format!("lvscare_probe_consecutive_failures{master}")
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &text,
                &format!("lvscare_probe_duration_seconds_count{master}")
            ),
            Some(3.0)
        );
        // 3 ms falls in the 4 ms bucket, the two 350 ms probes in the 512 ms one.
        assert_eq!(
            value(
                &text,
                r#"lvscare_probe_duration_seconds_bucket{le="0.004",master="192.168.0.2:6443"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                r#"lvscare_probe_duration_seconds_bucket{le="0.512",master="192.168.0.2:6443"}"#
            ),
            Some(3.0)
        );
        assert_eq!(
            value(
                &text,
                r#"lvscare_master_transitions_total{master="192.168.0.2:6443",to="down"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&text, &format!("lvscare_connections_aborted_total{master}")),
            Some(3.0)
        );
        assert_eq!(
            value(&text, r#"lvscare_repairs_total{object="real_server"}"#),
            Some(2.0)
        );
        assert_eq!(
            value(&text, r#"lvscare_kernel_errors_total{task="service"}"#),
            Some(1.0)
        );
        assert_eq!(value(&text, "lvscare_fail_open"), Some(1.0));
    }
}
