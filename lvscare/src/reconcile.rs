//! The pure decision core: desired state + observed kernel state → IPVS operations.
//!
//! No I/O: the daemon dumps the service and its destinations, calls [`Reconciler::plan`] and
//! applies the operations in order. The only memory kept between rounds is when each Down real
//! server started draining.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::health::Health;
use crate::ipvs::{Destination, ForwardMethod, Service, IP_VS_SVC_F_HASHED};

/// What the virtual service should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The virtual service (lvscare's own: foreign real servers in it are removed).
    pub service: Service,
    /// The real servers and their current health, in configured order.
    pub backends: Vec<(SocketAddr, Health)>,
    /// How long a Down real server may keep its connections at weight 0 before it is deleted.
    pub drain_timeout: Duration,
}

/// What the kernel currently has for the desired service's key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// The service, `None` if it does not exist.
    pub service: Option<Service>,
    /// Its real servers (ignored when the service is absent).
    pub dests: Vec<Destination>,
}

/// One IPVS change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create the virtual service.
    AddService(Service),
    /// Change the service's scheduler, flags, timeout or netmask.
    UpdateService(Service),
    /// Add a real server.
    AddDest(Destination),
    /// Change a real server's weight, forwarding method or thresholds.
    UpdateDest(Destination),
    /// Remove a real server.
    DeleteDest(SocketAddr),
}

/// The operations of one round, in the order they must be applied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Operations: service first, then additions and weight raises, then weight drops, then
    /// deletions, so the service never has no usable real server when it need not.
    pub ops: Vec<Op>,
    /// Every backend was Down, so all were kept in as if Up (an empty service is a sure outage).
    pub fail_open: bool,
}

impl Plan {
    /// True when the kernel state already matches.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Plans IPVS changes and remembers drain start times between rounds.
#[derive(Debug, Clone, Default)]
pub struct Reconciler {
    draining: HashMap<SocketAddr, Instant>,
}

/// Weight of an Up real server.
const UP_WEIGHT: i32 = 1;

impl Reconciler {
    /// A reconciler with no drains in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// When `addr` started draining, if it is draining.
    pub fn drain_started(&self, addr: SocketAddr) -> Option<Instant> {
        self.draining.get(&addr).copied()
    }

    /// Decides the operations that bring `observed` to `desired` at time `now`.
    ///
    /// A Down real server is first set to weight 0 and deleted once it has no connections or
    /// its drain deadline passed; if it already has no connections it is deleted at once, since
    /// there is nothing to drain. Drain timers are forgotten only once the server is seen gone
    /// or Up again, so a failed apply does not restart a drain.
    pub fn plan(&mut self, desired: &Desired, observed: &Observed, now: Instant) -> Plan {
        let fail_open = !desired.backends.is_empty()
            && desired.backends.iter().all(|(_, h)| *h == Health::Down);

        let mut service_ops = Vec::new();
        let dests: &[Destination] = match &observed.service {
            None => {
                service_ops.push(Op::AddService(desired.service.clone()));
                // Destinations cannot exist without their service.
                &[]
            }
            Some(current) => {
                if !same_settings(current, &desired.service) {
                    service_ops.push(Op::UpdateService(desired.service.clone()));
                }
                &observed.dests
            }
        };
        let find = |addr: SocketAddr| dests.iter().find(|d| d.addr == addr);

        let mut raises = Vec::new();
        let mut drops = Vec::new();
        let mut deletes = Vec::new();
        let mut wanted = HashSet::with_capacity(desired.backends.len());

        for &(addr, health) in &desired.backends {
            if !wanted.insert(addr) {
                continue; // A duplicate backend: the first entry decides.
            }
            let health = if fail_open { Health::Up } else { health };
            match (health, find(addr)) {
                (Health::Up, None) => {
                    self.draining.remove(&addr);
                    raises.push(Op::AddDest(Destination::masq(addr, UP_WEIGHT)));
                }
                (Health::Up, Some(d)) => {
                    self.draining.remove(&addr);
                    if !is_up_dest(d) {
                        raises.push(Op::UpdateDest(Destination::masq(addr, UP_WEIGHT)));
                    }
                }
                (Health::Down, None) => {
                    self.draining.remove(&addr);
                }
                (Health::Down, Some(d)) => {
                    let started = *self.draining.entry(addr).or_insert(now);
                    let idle = d.active_conns == 0 && d.inactive_conns == 0;
                    // A deadline too far to represent never passes.
                    let expired = started
                        .checked_add(desired.drain_timeout)
                        .is_some_and(|end| now >= end);
                    if idle || expired {
                        deletes.push(Op::DeleteDest(addr));
                    } else if d.weight > 0 {
                        drops.push(Op::UpdateDest(Destination::masq(addr, 0)));
                    }
                }
            }
        }

        for d in dests {
            if !wanted.contains(&d.addr) {
                deletes.push(Op::DeleteDest(d.addr));
            }
        }
        // Servers no longer configured need no timer.
        self.draining.retain(|addr, _| wanted.contains(addr));

        let mut ops = service_ops;
        ops.extend(raises);
        ops.extend(drops);
        ops.extend(deletes);
        Plan { ops, fail_open }
    }
}

/// Whether two services have the same settings (the kernel's HASHED flag is ignored).
fn same_settings(current: &Service, desired: &Service) -> bool {
    current.scheduler == desired.scheduler
        && current.flags & !IP_VS_SVC_F_HASHED == desired.flags & !IP_VS_SVC_F_HASHED
        && current.timeout == desired.timeout
        && current.netmask == desired.netmask
}

/// Whether a destination is exactly what an Up backend should be.
fn is_up_dest(d: &Destination) -> bool {
    d.weight == UP_WEIGHT
        && d.forward == ForwardMethod::Masquerade
        && d.upper_threshold == 0
        && d.lower_threshold == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{Protocol, ServiceKey};
    use std::net::{IpAddr, Ipv6Addr};

    const DRAIN: Duration = Duration::from_secs(5);

    fn rs(n: u8) -> SocketAddr {
        SocketAddr::from(([192, 168, 0, n], 6443))
    }

    fn service() -> Service {
        Service::new(
            ServiceKey {
                addr: SocketAddr::from(([10, 103, 97, 2], 6443)),
                protocol: Protocol::Tcp,
            },
            "rr",
        )
    }

    /// The service as the kernel reports it back (HASHED set).
    fn kernel_service() -> Service {
        let mut s = service();
        s.flags |= IP_VS_SVC_F_HASHED;
        s
    }

    fn desired(backends: &[(SocketAddr, Health)]) -> Desired {
        Desired {
            service: service(),
            backends: backends.to_vec(),
            drain_timeout: DRAIN,
        }
    }

    fn observed(dests: Vec<Destination>) -> Observed {
        Observed {
            service: Some(kernel_service()),
            dests,
        }
    }

    fn dest(addr: SocketAddr, weight: i32, active: u32, inactive: u32) -> Destination {
        Destination {
            active_conns: active,
            inactive_conns: inactive,
            ..Destination::masq(addr, weight)
        }
    }

    fn plan_at(d: &Desired, o: &Observed, now: Instant) -> Plan {
        Reconciler::new().plan(d, o, now)
    }

    use Health::{Down, Up};

    #[test]
    fn absent_service_is_created_with_every_up_backend() {
        let d = desired(&[(rs(1), Up), (rs(2), Down), (rs(3), Up)]);
        // Stale destinations reported without a service are ignored.
        let o = Observed {
            service: None,
            dests: vec![dest(rs(9), 1, 0, 0)],
        };
        let p = plan_at(&d, &o, Instant::now());
        assert_eq!(
            p.ops,
            vec![
                Op::AddService(service()),
                Op::AddDest(Destination::masq(rs(1), 1)),
                Op::AddDest(Destination::masq(rs(3), 1)),
            ]
        );
        assert!(!p.fail_open);
    }

    #[test]
    fn matching_state_gives_an_empty_plan() {
        let d = desired(&[(rs(1), Up), (rs(2), Up), (rs(3), Down)]);
        let o = observed(vec![dest(rs(1), 1, 4, 2), dest(rs(2), 1, 0, 0)]);
        let p = plan_at(&d, &o, Instant::now());
        assert!(p.is_empty(), "{p:?}");
        assert!(!p.fail_open);
    }

    #[test]
    fn hashed_flag_is_not_a_difference() {
        let d = desired(&[(rs(1), Up)]);
        let mut o = observed(vec![dest(rs(1), 1, 0, 0)]);
        o.service.as_mut().unwrap().flags = IP_VS_SVC_F_HASHED;
        assert!(plan_at(&d, &o, Instant::now()).is_empty());
    }

    #[test]
    fn differing_service_settings_are_updated() {
        let d = desired(&[(rs(1), Up)]);
        let changes: [fn(&mut Service); 4] = [
            |s| s.scheduler = "wrr".into(),
            |s| s.flags |= 0x1, // persistent
            |s| s.timeout = 300,
            |s| s.netmask = 0xffff_ff00,
        ];
        for change in changes {
            let mut o = observed(vec![dest(rs(1), 1, 0, 0)]);
            change(o.service.as_mut().unwrap());
            let p = plan_at(&d, &o, Instant::now());
            assert_eq!(p.ops, vec![Op::UpdateService(service())], "{o:?}");
        }
    }

    #[test]
    fn foreign_dests_are_deleted_after_additions() {
        let d = desired(&[(rs(1), Up)]);
        let o = observed(vec![dest(rs(7), 1, 3, 0)]);
        let p = plan_at(&d, &o, Instant::now());
        assert_eq!(
            p.ops,
            vec![
                Op::AddDest(Destination::masq(rs(1), 1)),
                Op::DeleteDest(rs(7))
            ]
        );
    }

    #[test]
    fn a_dest_on_another_port_of_a_backend_host_is_foreign() {
        let d = desired(&[(rs(1), Up)]);
        let other_port = SocketAddr::new(rs(1).ip(), 443);
        let o = observed(vec![dest(rs(1), 1, 0, 0), dest(other_port, 1, 0, 0)]);
        assert_eq!(
            plan_at(&d, &o, Instant::now()).ops,
            vec![Op::DeleteDest(other_port)]
        );
    }

    #[test]
    fn up_backend_with_wrong_settings_is_updated() {
        let d = desired(&[(rs(1), Up)]);
        let wrongs = [
            Destination::masq(rs(1), 5),
            Destination::masq(rs(1), 0),
            Destination {
                forward: ForwardMethod::Route,
                ..Destination::masq(rs(1), 1)
            },
            Destination {
                upper_threshold: 10,
                ..Destination::masq(rs(1), 1)
            },
            Destination {
                lower_threshold: 2,
                ..Destination::masq(rs(1), 1)
            },
        ];
        for wrong in wrongs {
            let o = observed(vec![wrong.clone()]);
            let p = plan_at(&d, &o, Instant::now());
            assert_eq!(
                p.ops,
                vec![Op::UpdateDest(Destination::masq(rs(1), 1))],
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn down_backend_with_connections_gets_weight_zero_and_a_drain_timer() {
        let d = desired(&[(rs(1), Up), (rs(2), Down)]);
        let o = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 1, 3, 1)]);
        let now = Instant::now();
        let mut r = Reconciler::new();
        let p = r.plan(&d, &o, now);
        assert_eq!(p.ops, vec![Op::UpdateDest(Destination::masq(rs(2), 0))]);
        assert_eq!(r.drain_started(rs(2)), Some(now));
        assert_eq!(r.drain_started(rs(1)), None);
    }

    #[test]
    fn down_backend_without_connections_is_deleted_at_once() {
        let d = desired(&[(rs(1), Up), (rs(2), Down)]);
        let o = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 1, 0, 0)]);
        assert_eq!(
            plan_at(&d, &o, Instant::now()).ops,
            vec![Op::DeleteDest(rs(2))]
        );
    }

    #[test]
    fn draining_backend_is_kept_until_idle() {
        let d = desired(&[(rs(1), Up), (rs(2), Down)]);
        let t0 = Instant::now();
        let mut r = Reconciler::new();
        r.plan(
            &d,
            &observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 1, 3, 0)]),
            t0,
        );

        // Weight 0, still busy, deadline not reached: nothing to do.
        let busy = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 0, 1, 0)]);
        assert!(r.plan(&d, &busy, t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(
            r.drain_started(rs(2)),
            Some(t0),
            "the timer is not restarted"
        );

        // Inactive connections still count.
        let lingering = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 0, 0, 2)]);
        assert!(r
            .plan(&d, &lingering, t0 + Duration::from_secs(2))
            .is_empty());

        let idle = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 0, 0, 0)]);
        let p = r.plan(&d, &idle, t0 + Duration::from_secs(2));
        assert_eq!(p.ops, vec![Op::DeleteDest(rs(2))]);
        // The timer lives until the server is seen gone (the delete may fail).
        assert_eq!(r.drain_started(rs(2)), Some(t0));
        let gone = observed(vec![dest(rs(1), 1, 0, 0)]);
        assert!(r.plan(&d, &gone, t0 + Duration::from_secs(3)).is_empty());
        assert_eq!(r.drain_started(rs(2)), None);
    }

    #[test]
    fn draining_backend_is_deleted_at_the_deadline() {
        let d = desired(&[(rs(1), Up), (rs(2), Down)]);
        let t0 = Instant::now();
        let mut r = Reconciler::new();
        r.plan(
            &d,
            &observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 1, 9, 9)]),
            t0,
        );
        let busy = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 0, 9, 9)]);
        assert!(r
            .plan(&d, &busy, t0 + DRAIN - Duration::from_millis(1))
            .is_empty());
        assert_eq!(
            r.plan(&d, &busy, t0 + DRAIN).ops,
            vec![Op::DeleteDest(rs(2))]
        );
    }

    #[test]
    fn weight_zero_down_backend_seen_first_time_starts_its_timer_now() {
        // E.g. after a daemon restart: the drain restarts from the first sighting.
        let d = desired(&[(rs(1), Up), (rs(2), Down)]);
        let busy = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 0, 1, 0)]);
        let t0 = Instant::now();
        let mut r = Reconciler::new();
        assert!(r.plan(&d, &busy, t0).is_empty());
        assert_eq!(r.drain_started(rs(2)), Some(t0));
        assert_eq!(
            r.plan(&d, &busy, t0 + DRAIN).ops,
            vec![Op::DeleteDest(rs(2))]
        );
    }

    #[test]
    fn zero_drain_timeout_deletes_at_once() {
        let mut d = desired(&[(rs(1), Up), (rs(2), Down)]);
        d.drain_timeout = Duration::ZERO;
        let o = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 1, 5, 5)]);
        assert_eq!(
            plan_at(&d, &o, Instant::now()).ops,
            vec![Op::DeleteDest(rs(2))]
        );
    }

    #[test]
    fn unrepresentable_drain_deadline_never_passes() {
        let mut d = desired(&[(rs(1), Up), (rs(2), Down)]);
        d.drain_timeout = Duration::MAX;
        let busy = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 0, 1, 0)]);
        assert!(plan_at(&d, &busy, Instant::now()).is_empty());
    }

    #[test]
    fn absent_down_backend_needs_nothing() {
        let d = desired(&[(rs(1), Up), (rs(2), Down)]);
        let o = observed(vec![dest(rs(1), 1, 0, 0)]);
        assert!(plan_at(&d, &o, Instant::now()).is_empty());
    }

    #[test]
    fn backend_back_up_while_draining_gets_weight_one_and_timer_forgotten() {
        let t0 = Instant::now();
        let mut r = Reconciler::new();
        let busy = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 1, 3, 0)]);
        r.plan(&desired(&[(rs(1), Up), (rs(2), Down)]), &busy, t0);
        assert!(r.drain_started(rs(2)).is_some());

        let draining = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 0, 3, 0)]);
        let p = r.plan(
            &desired(&[(rs(1), Up), (rs(2), Up)]),
            &draining,
            t0 + DRAIN * 2,
        );
        assert_eq!(p.ops, vec![Op::UpdateDest(Destination::masq(rs(2), 1))]);
        assert_eq!(r.drain_started(rs(2)), None);
    }

    #[test]
    fn all_down_fails_open() {
        let t0 = Instant::now();
        let mut r = Reconciler::new();
        // rs2 is already draining when the last healthy one, rs1, goes Down too.
        let before = desired(&[(rs(1), Up), (rs(2), Down), (rs(3), Down)]);
        let o = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 0, 2, 0)]);
        assert!(r.plan(&before, &o, t0).is_empty());
        assert_eq!(r.drain_started(rs(2)), Some(t0));

        let d = desired(&[(rs(1), Down), (rs(2), Down), (rs(3), Down)]);
        let p = r.plan(&d, &o, t0 + Duration::from_secs(1));
        assert!(p.fail_open);
        assert_eq!(
            p.ops,
            vec![
                Op::UpdateDest(Destination::masq(rs(2), 1)),
                Op::AddDest(Destination::masq(rs(3), 1)),
            ]
        );
        assert_eq!(r.drain_started(rs(2)), None);
    }

    #[test]
    fn fail_open_on_an_absent_service() {
        let d = desired(&[(rs(1), Down)]);
        let p = plan_at(&d, &Observed::default(), Instant::now());
        assert!(p.fail_open);
        assert_eq!(
            p.ops,
            vec![
                Op::AddService(service()),
                Op::AddDest(Destination::masq(rs(1), 1))
            ]
        );
    }

    #[test]
    fn one_up_backend_is_enough_to_not_fail_open() {
        let d = desired(&[(rs(1), Down), (rs(2), Up)]);
        let o = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 1, 0, 0)]);
        let p = plan_at(&d, &o, Instant::now());
        assert!(!p.fail_open);
        assert_eq!(p.ops, vec![Op::DeleteDest(rs(1))]);
    }

    #[test]
    fn no_backends_is_not_fail_open_and_empties_the_service() {
        let d = desired(&[]);
        let o = observed(vec![dest(rs(1), 1, 0, 0)]);
        let p = plan_at(&d, &o, Instant::now());
        assert!(!p.fail_open);
        assert_eq!(p.ops, vec![Op::DeleteDest(rs(1))]);
    }

    #[test]
    fn raises_come_before_drops_and_deletes() {
        // Swap: rs1 goes Down, rs2 comes in; rs9 is foreign.
        let d = desired(&[(rs(1), Down), (rs(2), Up), (rs(3), Down)]);
        let o = observed(vec![
            dest(rs(9), 1, 0, 0),
            dest(rs(1), 1, 1, 0),
            dest(rs(3), 1, 0, 0),
        ]);
        let p = plan_at(&d, &o, Instant::now());
        assert_eq!(
            p.ops,
            vec![
                Op::AddDest(Destination::masq(rs(2), 1)),
                Op::UpdateDest(Destination::masq(rs(1), 0)),
                Op::DeleteDest(rs(3)),
                Op::DeleteDest(rs(9)),
            ]
        );
    }

    #[test]
    fn duplicate_backends_are_handled_once() {
        let d = desired(&[(rs(1), Up), (rs(1), Down)]);
        let p = plan_at(&d, &observed(vec![]), Instant::now());
        assert_eq!(p.ops, vec![Op::AddDest(Destination::masq(rs(1), 1))]);
    }

    #[test]
    fn removed_backends_lose_their_timer() {
        let t0 = Instant::now();
        let mut r = Reconciler::new();
        let busy = observed(vec![dest(rs(1), 1, 0, 0), dest(rs(2), 1, 3, 0)]);
        r.plan(&desired(&[(rs(1), Up), (rs(2), Down)]), &busy, t0);
        let p = r.plan(&desired(&[(rs(1), Up)]), &busy, t0);
        assert_eq!(p.ops, vec![Op::DeleteDest(rs(2))]);
        assert_eq!(r.drain_started(rs(2)), None);
    }

    #[test]
    fn ipv6_service_works_the_same() {
        let vip = SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)), 6443);
        let svc = Service::new(
            ServiceKey {
                addr: vip,
                protocol: Protocol::Tcp,
            },
            "rr",
        );
        let b = SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)), 6443);
        let d = Desired {
            service: svc.clone(),
            backends: vec![(b, Up)],
            drain_timeout: DRAIN,
        };
        let p = plan_at(&d, &Observed::default(), Instant::now());
        assert_eq!(
            p.ops,
            vec![Op::AddService(svc), Op::AddDest(Destination::masq(b, 1))]
        );
    }

    // ---- property-style tests over generated cases ----

    /// xorshift64*: deterministic, dependency-free case generation.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
    }

    /// Applies operations the way the kernel would (HASHED set on every service, counters kept).
    fn apply(observed: &Observed, ops: &[Op]) -> Observed {
        let mut o = observed.clone();
        if o.service.is_none() {
            o.dests.clear();
        }
        for op in ops {
            apply_one(&mut o, op);
        }
        o
    }

    fn apply_one(o: &mut Observed, op: &Op) {
        let write = |current: Option<&Destination>, new: &Destination| Destination {
            active_conns: current.map_or(0, |c| c.active_conns),
            inactive_conns: current.map_or(0, |c| c.inactive_conns),
            persist_conns: current.map_or(0, |c| c.persist_conns),
            ..new.clone()
        };
        match op {
            Op::AddService(s) | Op::UpdateService(s) => {
                assert_eq!(
                    matches!(op, Op::AddService(_)),
                    o.service.is_none(),
                    "AddService only when absent, UpdateService only when present"
                );
                let mut s = s.clone();
                s.flags |= IP_VS_SVC_F_HASHED;
                o.service = Some(s);
            }
            Op::AddDest(d) => {
                assert!(o.service.is_some(), "dest added before its service");
                assert!(o.dests.iter().all(|x| x.addr != d.addr), "EEXIST: {d:?}");
                o.dests.push(write(None, d));
            }
            Op::UpdateDest(d) => {
                let i = o.dests.iter().position(|x| x.addr == d.addr);
                let i = i.unwrap_or_else(|| panic!("ENOENT on update: {d:?}"));
                o.dests[i] = write(Some(&o.dests[i]), d);
            }
            Op::DeleteDest(a) => {
                let before = o.dests.len();
                o.dests.retain(|x| x.addr != *a);
                assert_eq!(before, o.dests.len() + 1, "ENOENT on delete: {a}");
            }
        }
    }

    struct Case {
        desired: Desired,
        observed: Observed,
        reconciler: Reconciler,
        now: Instant,
    }

    fn generate(rng: &mut Rng, base: Instant) -> Case {
        let n = 1 + rng.below(6) as u8;
        let backends: Vec<(SocketAddr, Health)> = (1..=n)
            .map(|i| (rs(i), if rng.chance(40) { Down } else { Up }))
            .collect();
        let schedulers = ["rr", "wrr", "lc"];
        let mut svc = service();
        svc.scheduler = schedulers[rng.below(3) as usize].to_string();
        let desired = Desired {
            service: svc,
            backends,
            drain_timeout: Duration::from_secs(rng.below(4)),
        };

        let mut observed = Observed::default();
        if rng.chance(85) {
            let mut s = kernel_service();
            s.scheduler = schedulers[rng.below(3) as usize].to_string();
            if rng.chance(10) {
                s.timeout = 60;
            }
            observed.service = Some(s);
        }
        // Backends plus a few foreign servers, each present or not, in any state.
        for i in 1..=n + 2 {
            if !rng.chance(70) {
                continue;
            }
            let forwards = [
                ForwardMethod::Masquerade,
                ForwardMethod::Route,
                ForwardMethod::Tunnel,
            ];
            observed.dests.push(Destination {
                addr: rs(if i > n { 100 + i } else { i }),
                forward: if rng.chance(80) {
                    forwards[0]
                } else {
                    forwards[rng.below(3) as usize]
                },
                weight: rng.below(3) as i32,
                upper_threshold: if rng.chance(10) { 5 } else { 0 },
                lower_threshold: 0,
                active_conns: if rng.chance(50) {
                    0
                } else {
                    rng.below(5) as u32
                },
                inactive_conns: if rng.chance(50) {
                    0
                } else {
                    rng.below(5) as u32
                },
                persist_conns: 0,
            });
        }
        // Some drains already in progress, started up to 4 s ago.
        let now = base + Duration::from_secs(10);
        let mut reconciler = Reconciler::new();
        for d in &observed.dests {
            if rng.chance(30) {
                reconciler
                    .draining
                    .insert(d.addr, now - Duration::from_secs(rng.below(5)));
            }
        }
        Case {
            desired,
            observed,
            reconciler,
            now,
        }
    }

    fn cases(count: usize) -> impl Iterator<Item = Case> {
        let base = Instant::now();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        (0..count).map(move |_| generate(&mut rng, base))
    }

    #[test]
    fn plan_then_apply_reaches_a_fixpoint() {
        for mut c in cases(5000) {
            let p = c.reconciler.plan(&c.desired, &c.observed, c.now);
            let after = apply(&c.observed, &p.ops);
            let again = c.reconciler.plan(&c.desired, &after, c.now);
            assert!(
                again.is_empty(),
                "case {:?}\nobserved {:?}\nplan {:?}\nagain {:?}",
                c.desired,
                c.observed,
                p,
                again
            );
        }
    }

    #[test]
    fn up_backends_always_end_in_with_weight_one() {
        for mut c in cases(5000) {
            let p = c.reconciler.plan(&c.desired, &c.observed, c.now);
            let after = apply(&c.observed, &p.ops);
            assert!(after.service.is_some());
            for (addr, h) in &c.desired.backends {
                let d = after.dests.iter().find(|d| d.addr == *addr);
                if *h == Up || p.fail_open {
                    let d = d.unwrap_or_else(|| panic!("{addr} missing: {:?}", c.desired));
                    assert!(is_up_dest(d), "{d:?}");
                } else if let Some(d) = d {
                    assert_eq!(d.weight, 0, "a Down backend must take no new connections");
                }
            }
            // Nothing foreign survives.
            for d in &after.dests {
                assert!(
                    c.desired.backends.iter().any(|(a, _)| *a == d.addr),
                    "{d:?}"
                );
            }
        }
    }

    #[test]
    fn fail_open_never_leaves_the_service_empty() {
        let mut seen = 0;
        for mut c in cases(5000) {
            for b in &mut c.desired.backends {
                b.1 = Down;
            }
            let p = c.reconciler.plan(&c.desired, &c.observed, c.now);
            assert!(p.fail_open);
            seen += 1;
            let after = apply(&c.observed, &p.ops);
            let usable = after.dests.iter().filter(|d| d.weight > 0).count();
            assert_eq!(usable, c.desired.backends.len());
        }
        assert_eq!(seen, 5000);
    }

    #[test]
    fn a_usable_service_never_goes_unusable_mid_plan() {
        for mut c in cases(5000) {
            let usable = |o: &Observed| o.dests.iter().any(|d| d.weight > 0);
            if c.observed.service.is_none() || !usable(&c.observed) {
                continue;
            }
            let p = c.reconciler.plan(&c.desired, &c.observed, c.now);
            let mut o = c.observed.clone();
            for op in &p.ops {
                apply_one(&mut o, op);
                assert!(usable(&o), "unusable after {op:?} in {:?}", p.ops);
            }
        }
    }
}
