//! When each master is probed next: on a fixed grid of one probe per interval, except that a
//! failed probe which has not yet taken the master out is followed by a quick re-probe (haproxy's
//! `fastinter`). A dead master is then out after `fall` probes spaced `fastinter` apart instead of
//! `fall` whole intervals, while a healthy master still gets one probe per interval.
//!
//! Pure: the probe loop asks `after(result, now)` and sleeps until the returned instant.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// The probe timetable of one master.
#[derive(Debug, Clone)]
pub struct ProbeSchedule {
    interval: Duration,
    fast: Duration,
    fall: NonZeroU32,
    /// Consecutive failed probes so far.
    failures: u32,
    /// The last grid instant handed out (or the start).
    grid: Instant,
}

impl ProbeSchedule {
    /// A timetable whose grid starts at `start` (the first probe runs then).
    pub fn new(interval: Duration, fast: Duration, fall: NonZeroU32, start: Instant) -> Self {
        ProbeSchedule {
            interval,
            fast,
            fall,
            failures: 0,
            grid: start,
        }
    }

    /// When to start the next probe, given the result of the one that just ended at `now`.
    pub fn after(&mut self, ok: bool, now: Instant) -> Instant {
        if ok {
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            // Still Up with failures pending: confirm or clear them quickly.
            if self.failures < self.fall.get() {
                return now + self.fast;
            }
        }
        self.next_grid(now)
    }

    /// The first grid instant after `now`: grid instants that passed while a probe ran (or
    /// while re-probing fast) are skipped, never caught up in a burst.
    fn next_grid(&mut self, now: Instant) -> Instant {
        self.grid += self.interval;
        if self.grid <= now {
            let behind = now.duration_since(self.grid);
            let skipped = behind.as_nanos() / self.interval.as_nanos() + 1;
            self.grid += self.interval * u32::try_from(skipped).unwrap_or(u32::MAX);
        }
        self.grid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const FAST: Duration = Duration::from_millis(100);
    const T: Duration = Duration::from_millis(400);

    fn schedule(fall: u32, start: Instant) -> ProbeSchedule {
        ProbeSchedule::new(S, FAST, NonZeroU32::new(fall).unwrap(), start)
    }

    #[test]
    fn healthy_master_gets_one_probe_per_interval() {
        let t0 = Instant::now();
        let mut s = schedule(2, t0);
        let mut start = t0;
        for i in 1..=5 {
            // Each probe takes 3 ms; the next starts on the grid.
            let next = s.after(true, start + Duration::from_millis(3));
            assert_eq!(next, t0 + S * i);
            assert!(next - start >= S);
            start = next;
        }
    }

    #[test]
    fn first_failure_re_probes_fast_then_the_grid_resumes() {
        let t0 = Instant::now();
        let mut s = schedule(2, t0);
        // A probe times out: re-probe after FAST, not at the next grid instant.
        let end = t0 + T;
        assert_eq!(s.after(false, end), end + FAST);
        // The re-probe answers (one lost probe): back to the grid, no second fast probe.
        let end2 = end + FAST + Duration::from_millis(3);
        assert_eq!(s.after(true, end2), t0 + S);
        assert_eq!(s.after(true, t0 + S + Duration::from_millis(3)), t0 + S * 2);
    }

    #[test]
    fn failures_reaching_fall_go_back_to_the_grid() {
        let t0 = Instant::now();
        let mut s = schedule(3, t0);
        let mut now = t0 + T;
        // fall 3: two fast re-probes, then the master is Down and probed once per interval.
        assert_eq!(s.after(false, now), now + FAST);
        now += FAST + T;
        assert_eq!(s.after(false, now), now + FAST);
        now += FAST + T;
        let next = s.after(false, now);
        assert_eq!(
            next,
            t0 + S * 2,
            "grid instant t0+1s passed during the fast probes"
        );
        assert_eq!(s.after(false, next + T), t0 + S * 3);
    }

    #[test]
    fn a_down_master_that_answers_once_then_fails_is_re_probed_fast() {
        let t0 = Instant::now();
        let mut s = schedule(2, t0);
        s.after(false, t0 + T);
        s.after(false, t0 + T + FAST + T);
        let up = s.after(true, t0 + S * 2);
        assert_eq!(up, t0 + S * 3);
        assert_eq!(s.after(false, up + T), up + T + FAST);
    }

    #[test]
    fn fall_of_one_never_re_probes_fast() {
        let t0 = Instant::now();
        let mut s = schedule(1, t0);
        assert_eq!(s.after(false, t0 + T), t0 + S);
    }

    #[test]
    fn a_probe_longer_than_several_intervals_skips_the_missed_instants() {
        let t0 = Instant::now();
        let mut s = schedule(2, t0);
        assert_eq!(s.after(true, t0 + Duration::from_millis(3500)), t0 + S * 4);
        assert_eq!(s.after(true, t0 + S * 4), t0 + S * 5);
    }

    /// Detection of a blackholed master on the defaults: it dies just after a probe, the next
    /// grid probe times out, the fast re-probe times out too. Worst case ≤ 2 s, mean ≤ 1.5 s.
    #[test]
    fn defaults_detect_a_blackholed_master_within_2s() {
        use crate::config::defaults;
        use crate::config::parse_duration;
        let interval = parse_duration(defaults::INTERVAL).unwrap();
        let timeout = parse_duration(defaults::HEALTH_TIMEOUT).unwrap();
        let fast = parse_duration(defaults::FASTINTER).unwrap();
        let fall = NonZeroU32::new(defaults::FALL).unwrap();
        let detect = |death_after_probe: Duration| {
            let t0 = Instant::now();
            let mut s = ProbeSchedule::new(interval, fast, fall, t0);
            let death = t0 + death_after_probe;
            let mut start = s.after(true, t0 + Duration::from_millis(2));
            let mut failures = 0;
            loop {
                let end = if start >= death {
                    start + timeout
                } else {
                    start + Duration::from_millis(2)
                };
                let ok = start < death;
                failures = if ok { 0 } else { failures + 1 };
                if failures == fall.get() {
                    return end - death;
                }
                start = s.after(ok, end);
            }
        };
        let samples: Vec<Duration> = (0..100)
            .map(|i| detect(Duration::from_millis(3 + i * 10)))
            .collect();
        let worst = samples.iter().max().unwrap();
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        assert!(*worst <= Duration::from_secs(2), "worst {worst:?}");
        assert!(mean <= Duration::from_millis(1500), "mean {mean:?}");
    }
}
