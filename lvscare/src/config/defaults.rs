//! Default values of the tuning flags, chosen so that a dead master stops receiving new
//! connections within 2 s at negligible load on the apiservers.
//!
//! Probes start on a fixed tick every `INTERVAL`; a failed probe is confirmed by a re-probe
//! `FASTINTER` after it ends (see `schedule`), and the `FALL`-th consecutive failure sets the
//! server's weight to 0. A master can die just after a successful probe, so the worst case from
//! death to "no new connections" is `INTERVAL + TIMEOUT + (FALL - 1) × (FASTINTER + TIMEOUT)`:
//! - apiserver process killed: the connect is refused at once, so 1 s + 0.1 s = 1.1 s
//!   (0.6 s on average);
//! - master blackholed or powered off: nothing answers, each probe ends at the timeout:
//!   1 s + 0.35 s + 0.1 s + 0.35 s = 1.8 s (1.3 s on average; `testbed bench-failover`
//!   measured 1.52 s mean and 1.97 s worst with a 400 ms timeout, hence 350 ms).
//!
//! `TIMEOUT` 350 ms limits the connect and the answer (a dead master fails one of them); a new
//! connection's TLS handshake may take up to `INTERVAL`, because a slow handshake means a busy
//! master, not a dead one (see `probe`). 350 ms is two orders of magnitude above the latency of
//! `/healthz` on a LAN, so only a stuck server times out; `FALL` 2 means a single lost packet
//! or slow answer never takes a healthy master out (and if all masters look down, the reconciler fails open anyway). A healthy
//! master gets one probe per interval; only a failed probe brings the quick second one.
//! `RISE` 3: a recovering master must answer for 3 s in a row before it gets traffic again —
//! slow to trust, quick to distrust; the other masters carry the load meanwhile.
//! `DRAIN_TIMEOUT` 5 s: a Down master at weight 0 keeps its existing connections at most this
//! long (about what the older lvscare's "weight 0, delete on the next probe" gave), then it is
//! deleted so clients stuck on a dead master reconnect elsewhere.
//!
//! Load: one GET of the health path per second per worker per master. Estimated at well under
//! 0.1 ms of apiserver CPU per request on a kept-alive connection, that is about 1 % of a core
//! per 100 workers. A fresh TLS handshake per probe would cost roughly ten times that (an RSA
//! signature each), so the prober should reuse its connection. On apiservers older than
//! kubernetes PR #112046 (2022) every `/healthz` also costs one etcd read; very large clusters on
//! such versions can raise `--interval` (detection time grows as `FALL × interval`).

/// Probe interval.
pub const INTERVAL: &str = "1s";
/// Probe timeout (must stay below the interval).
pub const HEALTH_TIMEOUT: &str = "350ms";
/// Delay of the quick re-probe after a first failed probe.
pub const FASTINTER: &str = "100ms";
/// Consecutive successes that bring a Down server back.
pub const RISE: u32 = 3;
/// Consecutive failures that take an Up server out.
pub const FALL: u32 = 2;
/// Longest time a Down server keeps its connections before it is deleted.
pub const DRAIN_TIMEOUT: &str = "5s";
/// IPVS scheduler.
pub const SCHEDULER: &str = "rr";
/// Health check path.
pub const HEALTH_PATH: &str = "/healthz";
/// Name of the dummy interface holding the VIP (same as the older lvscare).
pub const IFACE: &str = "lvscare";
/// Image of the static pod when `--image` is not given: this version of lvscare.
pub const IMAGE: &str = concat!("lvscare:v", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use crate::config::testing::{addr, care, BASE};
    use crate::config::{LogFormat, RunMode, TlsVerify};
    use crate::probe::Scheme;
    use std::time::Duration;

    #[test]
    fn defaults() {
        let c = care(&[
            "--vs",
            "10.103.97.2:6443",
            "--rs",
            "192.168.0.2:6443",
            "--rs",
            "192.168.0.3:6443",
        ])
        .unwrap();
        assert_eq!(c.vip, addr("10.103.97.2:6443"));
        assert_eq!(
            c.real_servers,
            vec![addr("192.168.0.2:6443"), addr("192.168.0.3:6443")]
        );
        assert_eq!(c.scheduler, "rr");
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.health.timeout, Duration::from_millis(350));
        assert_eq!(c.fastinter, Duration::from_millis(100));
        assert_eq!(c.health.path, "/healthz");
        assert_eq!(c.health.scheme, Scheme::Https);
        assert_eq!(c.health.tls, TlsVerify::Insecure);
        assert!(c.health.extra_statuses.is_empty());
        assert_eq!((c.rise.get(), c.fall.get()), (3, 2));
        assert_eq!(c.drain_timeout, Duration::from_secs(5));
        assert_eq!(c.iface, "lvscare");
        assert_eq!(c.source_ip, None);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.metrics_addr, None);
        assert_eq!(c.mode, RunMode::Daemon);
    }

    #[test]
    fn defaults_take_a_dead_master_out_within_2s() {
        let c = care(BASE).unwrap();
        // Worst case: dies right after a successful probe, then every probe times out.
        let worst =
            c.interval + c.health.timeout + (c.fastinter + c.health.timeout) * (c.fall.get() - 1);
        assert!(worst <= Duration::from_secs(2), "{worst:?}");
    }
}
