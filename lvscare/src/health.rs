//! Per real server rise/fall tracking: turns a stream of probe results into Up/Down states.
//!
//! Pure state machine, no I/O. Every server starts Up: lvscare puts every master in at start (as
//! `--run-once` does), and a broken one is taken out after `fall` failed probes.

use std::net::SocketAddr;
use std::num::NonZeroU32;

/// Whether a real server should receive traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// Healthy: in the service with weight 1.
    Up,
    /// Unhealthy: drained and removed.
    Down,
}

/// A change of state of one real server, reported once when it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The real server.
    pub addr: SocketAddr,
    /// State before the probe result.
    pub from: Health,
    /// State after the probe result.
    pub to: Health,
}

/// Tracking state of one server.
#[derive(Debug, Clone, Copy)]
struct ServerState {
    health: Health,
    /// Consecutive results that argue for leaving the current state.
    streak: u32,
}

/// Rise/fall tracker for a fixed list of real servers.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    rise: NonZeroU32,
    fall: NonZeroU32,
    // A Vec, not a map: a handful of masters, and the configured order is kept for snapshots.
    servers: Vec<(SocketAddr, ServerState)>,
}

impl HealthTracker {
    /// Tracks `servers` (duplicates ignored), all starting Up.
    pub fn new(
        servers: impl IntoIterator<Item = SocketAddr>,
        rise: NonZeroU32,
        fall: NonZeroU32,
    ) -> Self {
        let mut tracker = HealthTracker {
            rise,
            fall,
            servers: Vec::new(),
        };
        for addr in servers {
            tracker.insert(addr);
        }
        tracker
    }

    /// Starts tracking `addr` as Up; a server already tracked keeps its state.
    pub fn insert(&mut self, addr: SocketAddr) {
        if self.index(addr).is_none() {
            self.servers.push((
                addr,
                ServerState {
                    health: Health::Up,
                    streak: 0,
                },
            ));
        }
    }

    /// Stops tracking `addr`; returns whether it was tracked.
    pub fn remove(&mut self, addr: SocketAddr) -> bool {
        let before = self.servers.len();
        self.servers.retain(|(a, _)| *a != addr);
        self.servers.len() != before
    }

    /// Records one probe result; `Some` only when the server changes state.
    ///
    /// A result for a server that is not tracked is ignored (a probe that finished after a
    /// configuration change must not resurrect a removed server).
    pub fn record(&mut self, addr: SocketAddr, ok: bool) -> Option<Transition> {
        let (rise, fall) = (self.rise.get(), self.fall.get());
        let i = self.index(addr)?;
        let state = &mut self.servers[i].1;
        let (threshold, against) = match state.health {
            Health::Up => (fall, !ok),
            Health::Down => (rise, ok),
        };
        if !against {
            // A result confirming the current state resets the opposite streak.
            state.streak = 0;
            return None;
        }
        state.streak += 1;
        if state.streak < threshold {
            return None;
        }
        let from = state.health;
        let to = match from {
            Health::Up => Health::Down,
            Health::Down => Health::Up,
        };
        *state = ServerState {
            health: to,
            streak: 0,
        };
        Some(Transition { addr, from, to })
    }

    /// Current state of `addr`, `None` if it is not tracked.
    pub fn health(&self, addr: SocketAddr) -> Option<Health> {
        self.index(addr).map(|i| self.servers[i].1.health)
    }

    /// All tracked servers and their states, in insertion order.
    pub fn snapshot(&self) -> Vec<(SocketAddr, Health)> {
        self.servers.iter().map(|(a, s)| (*a, s.health)).collect()
    }

    fn index(&self, addr: SocketAddr) -> Option<usize> {
        self.servers.iter().position(|(a, _)| *a == addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([192, 168, 0, n], 6443))
    }

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn tracker(rise: u32, fall: u32) -> HealthTracker {
        HealthTracker::new([addr(1), addr(2)], nz(rise), nz(fall))
    }

    #[test]
    fn all_servers_start_up() {
        let t = tracker(3, 2);
        assert_eq!(
            t.snapshot(),
            vec![(addr(1), Health::Up), (addr(2), Health::Up)]
        );
    }

    #[test]
    fn fall_consecutive_failures_turn_up_into_down() {
        let mut t = tracker(3, 2);
        assert_eq!(t.record(addr(1), false), None);
        assert_eq!(t.health(addr(1)), Some(Health::Up));
        assert_eq!(
            t.record(addr(1), false),
            Some(Transition {
                addr: addr(1),
                from: Health::Up,
                to: Health::Down
            })
        );
        assert_eq!(t.health(addr(1)), Some(Health::Down));
        // The other server is unaffected.
        assert_eq!(t.health(addr(2)), Some(Health::Up));
    }

    #[test]
    fn fall_of_one_acts_on_the_first_failure() {
        let mut t = tracker(1, 1);
        assert!(t.record(addr(1), false).is_some());
        assert!(t.record(addr(1), true).is_some());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut t = tracker(3, 2);
        assert_eq!(t.record(addr(1), false), None);
        assert_eq!(t.record(addr(1), true), None);
        assert_eq!(t.record(addr(1), false), None);
        assert_eq!(t.health(addr(1)), Some(Health::Up));
    }

    #[test]
    fn rise_consecutive_successes_turn_down_into_up() {
        let mut t = tracker(3, 1);
        assert!(t.record(addr(1), false).is_some());
        assert_eq!(t.record(addr(1), true), None);
        assert_eq!(t.record(addr(1), true), None);
        assert_eq!(
            t.record(addr(1), true),
            Some(Transition {
                addr: addr(1),
                from: Health::Down,
                to: Health::Up
            })
        );
    }

    #[test]
    fn a_failure_resets_the_success_count() {
        let mut t = tracker(2, 1);
        t.record(addr(1), false);
        assert_eq!(t.record(addr(1), true), None);
        assert_eq!(t.record(addr(1), false), None);
        assert_eq!(t.record(addr(1), true), None);
        assert_eq!(t.health(addr(1)), Some(Health::Down));
        assert!(t.record(addr(1), true).is_some());
    }

    #[test]
    fn transitions_are_reported_once() {
        let mut t = tracker(2, 2);
        let changes: usize = (0..10).filter_map(|_| t.record(addr(1), false)).count();
        assert_eq!(changes, 1);
        let changes: usize = (0..10).filter_map(|_| t.record(addr(1), true)).count();
        assert_eq!(changes, 1);
    }

    #[test]
    fn counts_start_afresh_after_a_transition() {
        let mut t = tracker(2, 2);
        t.record(addr(1), false);
        t.record(addr(1), false);
        // Just turned Down: one success is not enough to rise (rise = 2).
        assert_eq!(t.record(addr(1), true), None);
        assert_eq!(t.health(addr(1)), Some(Health::Down));
    }

    #[test]
    fn unknown_servers_are_ignored() {
        let mut t = tracker(1, 1);
        assert_eq!(t.record(addr(9), false), None);
        assert_eq!(t.health(addr(9)), None);
        assert_eq!(t.snapshot().len(), 2);
    }

    #[test]
    fn insert_and_remove() {
        let mut t = tracker(1, 1);
        t.record(addr(1), false);
        t.insert(addr(1));
        assert_eq!(
            t.health(addr(1)),
            Some(Health::Down),
            "insert keeps an existing state"
        );
        t.insert(addr(3));
        assert_eq!(t.health(addr(3)), Some(Health::Up));
        assert!(t.remove(addr(1)));
        assert!(!t.remove(addr(1)));
        assert_eq!(
            t.snapshot(),
            vec![(addr(2), Health::Up), (addr(3), Health::Up)]
        );
    }

    #[test]
    fn duplicates_are_tracked_once() {
        let t = HealthTracker::new([addr(1), addr(1)], nz(1), nz(1));
        assert_eq!(t.snapshot().len(), 1);
    }
}
