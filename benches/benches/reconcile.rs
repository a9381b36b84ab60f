//! Cost of one reconcile decision: steady state, one master down, and a large churning service.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use lvscare::health::Health;
use lvscare::ipvs::{Destination, Protocol, Service, ServiceKey, IP_VS_SVC_F_HASHED};
use lvscare::reconcile::{Desired, Observed, Reconciler};

fn backend(i: u32) -> SocketAddr {
    let [_, _, hi, lo] = (0x0a00_0000u32 + i).to_be_bytes();
    SocketAddr::from(([10, 0, hi, lo], 6443))
}

fn service() -> Service {
    let key = ServiceKey {
        addr: SocketAddr::from(([10, 103, 97, 2], 6443)),
        protocol: Protocol::Tcp,
    };
    Service::new(key, "rr")
}

fn kernel_service() -> Service {
    let mut s = service();
    s.flags |= IP_VS_SVC_F_HASHED;
    s
}

fn desired(health: &[Health]) -> Desired {
    Desired {
        service: service(),
        backends: health
            .iter()
            .enumerate()
            .map(|(i, h)| (backend(i as u32), *h))
            .collect(),
        drain_timeout: Duration::from_secs(5),
    }
}

fn busy(addr: SocketAddr, weight: i32) -> Destination {
    Destination {
        active_conns: 20,
        inactive_conns: 5,
        ..Destination::masq(addr, weight)
    }
}

/// Rounds of a 100-backend service where a different tenth of the backends is Down each round,
/// the kernel lags one round behind, and a few foreign destinations appear.
fn churn_rounds() -> Vec<(Desired, Observed)> {
    (0..10u32)
        .map(|round| {
            let health: Vec<Health> = (0..100u32)
                .map(|i| {
                    if i % 10 == round {
                        Health::Down
                    } else {
                        Health::Up
                    }
                })
                .collect();
            let previous_down = (round + 9) % 10;
            let mut dests: Vec<Destination> = (0..100u32)
                .filter(|i| i % 10 != previous_down || i % 20 == 0)
                .map(|i| busy(backend(i), if i % 10 == previous_down { 0 } else { 1 }))
                .collect();
            dests.push(busy(backend(1000 + round), 1));
            (
                desired(&health),
                Observed {
                    service: Some(kernel_service()),
                    dests,
                },
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let up3 = desired(&[Health::Up; 3]);
    let all_in = Observed {
        service: Some(kernel_service()),
        dests: (0..3).map(|i| busy(backend(i), 1)).collect(),
    };

    // The scenarios must be what their names say.
    assert!(Reconciler::new().plan(&up3, &all_in, now).is_empty());
    c.bench_function("plan/3 backends steady", |b| {
        let mut r = Reconciler::new();
        b.iter(|| black_box(r.plan(black_box(&up3), black_box(&all_in), now)))
    });

    let one_down = desired(&[Health::Up, Health::Down, Health::Up]);
    assert_eq!(Reconciler::new().plan(&one_down, &all_in, now).ops.len(), 1);
    c.bench_function("plan/3 backends one down", |b| {
        let mut r = Reconciler::new();
        b.iter(|| black_box(r.plan(black_box(&one_down), black_box(&all_in), now)))
    });

    let rounds = churn_rounds();
    c.bench_function("plan/100 backends churn", |b| {
        let mut r = Reconciler::new();
        let mut i = 0;
        b.iter(|| {
            let (d, o) = &rounds[i % rounds.len()];
            i += 1;
            black_box(r.plan(black_box(d), black_box(o), now))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
