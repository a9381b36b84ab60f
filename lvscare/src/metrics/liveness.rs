//! Whether the daemon's loop still makes progress: the loop marks each completed pass, and
//! `/healthz` (a static pod's livenessProbe) fails once no pass completed for too long, so
//! kubelet restarts a wedged lvscare. The same mark paces systemd's watchdog.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the loop may go without a completed pass before it counts as stuck: several
/// intervals (the loop passes at least once per interval) and never under 10 s, which leaves
/// room for a pass whose netlink calls wait out their 5 s receive timeouts.
pub fn stall_limit(interval: Duration) -> Duration {
    (interval * 5).max(Duration::from_secs(10))
}

/// The time of the loop's last completed pass, shared between the loop and the HTTP server.
#[derive(Debug)]
pub struct Liveness {
    start: Instant,
    /// Milliseconds from `start` to the last pass.
    last_ms: AtomicU64,
    limit: Duration,
}

impl Liveness {
    /// Starts counting now, as if a pass had just completed (start-up gets a whole limit).
    pub fn new(limit: Duration) -> Liveness {
        Liveness {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            limit,
        }
    }

    /// The loop completed a pass.
    pub fn beat(&self) {
        self.beat_at(Instant::now());
    }

    fn beat_at(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.start).as_millis();
        self.last_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// `Some(age)` of the last pass when it is older than the limit, `None` while healthy.
    pub fn stalled(&self) -> Option<Duration> {
        self.stalled_at(Instant::now())
    }

    fn stalled_at(&self, now: Instant) -> Option<Duration> {
        let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        let age = now.saturating_duration_since(last);
        (age > self.limit).then_some(age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuck_only_after_the_limit_without_a_pass() {
        let l = Liveness::new(Duration::from_secs(10));
        let t0 = l.start;
        assert_eq!(l.stalled_at(t0 + Duration::from_secs(10)), None);
        assert_eq!(
            l.stalled_at(t0 + Duration::from_secs(11)),
            Some(Duration::from_secs(11))
        );
        l.beat_at(t0 + Duration::from_secs(11));
        assert_eq!(l.stalled_at(t0 + Duration::from_secs(20)), None);
        assert_eq!(
            l.stalled_at(t0 + Duration::from_millis(21_500)),
            Some(Duration::from_millis(10_500))
        );
    }

    #[test]
    fn the_limit_follows_the_interval_with_a_floor() {
        assert_eq!(stall_limit(Duration::from_secs(1)), Duration::from_secs(10));
        assert_eq!(stall_limit(Duration::from_secs(4)), Duration::from_secs(20));
    }
}
