//! lvscare's link, address, route and sysctl management against the real kernel.
//!
//! Every test moves its own thread into a fresh network namespace (`unshare(CLONE_NEWNET)` on a
//! test thread affects only that thread), so nothing outside is touched. What lvscare reports is
//! checked against an independent witness: `ip` run inside the same namespace through `nsenter`.
//! Needs root. Kernels without the dummy driver (CONFIG_DUMMY) get the address and route
//! scenario on a veth instead, and the dummy-only checks assert the "no dummy driver" error.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;

use lvscare::link::{Changed, LinkError, Links};
use lvscare::sysctl::{self, SysctlError};

const VIP4: &str = "10.103.97.2";
const VIP6: &str = "fd00::2";
const NODE4: &str = "192.0.2.10";
const NODE6: &str = "2001:db8:1::10";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A private network namespace for the current test thread.
struct Netns {
    path: String,
}

impl Netns {
    fn enter() -> Netns {
        // SAFETY: plain syscalls without pointers.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET) failed (these tests need root): {}",
            std::io::Error::last_os_error()
        );
        let tid = unsafe { libc::gettid() };
        let ns = Netns {
            path: format!("/proc/{}/task/{tid}/ns/net", std::process::id()),
        };
        ns.ip("link set lo up");
        ns
    }

    /// Runs `ip ARGS` inside this namespace; `Err(stderr)` if it fails.
    fn try_ip(&self, args: &str) -> Result<String, String> {
        run_in(&self.path, "ip", args)
    }

    /// Runs `ip ARGS` inside this namespace and returns its output; panics if it fails.
    fn ip(&self, args: &str) -> String {
        self.try_ip(args)
            .unwrap_or_else(|e| panic!("witness `ip {args}` failed: {e}"))
    }

    fn has_dummy_driver(&self) -> bool {
        let ok = self.try_ip("link add lvsprobe type dummy").is_ok();
        if ok {
            self.ip("link del lvsprobe");
        }
        ok
    }

    /// The `ip -o link` line of `name`, or `None` if there is no such link.
    fn link_line(&self, name: &str) -> Option<String> {
        self.try_ip(&format!("-o -d link show dev {name}")).ok()
    }

    /// IFF_* flag names of link `name` as `ip` prints them.
    fn link_flags(&self, name: &str) -> Vec<String> {
        let line = self
            .link_line(name)
            .unwrap_or_else(|| panic!("witness: no link {name}"));
        let start = line.find('<').expect("flags") + 1;
        let end = line.find('>').expect("flags");
        line[start..end].split(',').map(str::to_string).collect()
    }

    fn ifindex(&self, name: &str) -> u32 {
        let line = self
            .link_line(name)
            .unwrap_or_else(|| panic!("witness: no link {name}"));
        line.split(':').next().unwrap().trim().parse().unwrap()
    }

    /// `ip -o addr show dev IFACE` lines holding `addr`.
    fn addr_lines(&self, iface: &str, addr: &str) -> Vec<String> {
        let family = if addr.contains(':') { "-6" } else { "-4" };
        let out = self.ip(&format!("{family} -o addr show dev {iface}"));
        let needle = format!(" {addr}/");
        out.lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_string)
            .collect()
    }

    /// `ip route show table local` lines for the local route of `addr`.
    fn local_route_lines(&self, addr: &str) -> Vec<String> {
        let family = if addr.contains(':') { "-6" } else { "-4" };
        let out = self.ip(&format!("{family} route show table local"));
        let prefix = format!("local {addr} ");
        out.lines()
            .filter(|l| l.starts_with(&prefix))
            .map(str::to_string)
            .collect()
    }

    /// The source `ip route get DST` reports.
    fn route_get_src(&self, dst: &str) -> String {
        let out = self.ip(&format!("route get {dst}"));
        let mut words = out.split_whitespace();
        while let Some(w) = words.next() {
            if w == "src" {
                return words.next().unwrap().to_string();
            }
        }
        panic!("witness: `ip route get {dst}` shows no src: {out}");
    }

    /// Two veth ends named `name` and `name`p, both up, `name` carrying the given addresses.
    fn uplink(&self, name: &str, addrs: &[&str]) {
        self.ip(&format!("link add {name} type veth peer name {name}p"));
        self.ip(&format!("link set {name} up"));
        self.ip(&format!("link set {name}p up"));
        for a in addrs {
            let nodad = if a.contains(':') { " nodad" } else { "" };
            self.ip(&format!("addr add {a} dev {name}{nodad}"));
        }
    }
}

fn run_in(ns_path: &str, cmd: &str, args: &str) -> Result<String, String> {
    let out = Command::new("nsenter")
        .arg(format!("--net={ns_path}"))
        .arg(cmd)
        .args(args.split_whitespace())
        .output()
        .map_err(|e| format!("cannot run nsenter: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Checks, with the witness and lvscare's own reads, that the VIPs are host addresses on `iface`
/// and their local routes carry the node's addresses as preferred source.
fn assert_vip_state(ns: &Netns, links: &mut Links, iface: &str, ifindex: u32) {
    for (vip, node, plen) in [(VIP4, NODE4, 32), (VIP6, NODE6, 128)] {
        let lines = ns.addr_lines(iface, vip);
        assert_eq!(
            lines.len(),
            1,
            "witness: addresses {vip} on {iface}: {lines:?}"
        );
        assert!(
            lines[0].contains(&format!(" {vip}/{plen} ")),
            "witness: {lines:?}"
        );
        assert!(
            !lines[0].contains("tentative"),
            "witness: {vip} not usable: {lines:?}"
        );
        let own = links.addresses(ifindex, vip.contains(':')).unwrap();
        assert!(
            own.iter().any(|a| a.ip == ip(vip) && a.prefix_len == plen),
            "own read: {own:?}"
        );

        let routes = ns.local_route_lines(vip);
        assert_eq!(
            routes.len(),
            1,
            "witness: local routes of {vip}: {routes:?}"
        );
        assert!(
            routes[0].contains(&format!("dev {iface} ")),
            "witness: {routes:?}"
        );
        assert!(
            routes[0].contains(&format!(" src {node} ")),
            "witness: {routes:?}"
        );
        let own = links.local_routes(ifindex, vip.contains(':')).unwrap();
        let of_vip: Vec<_> = own.iter().filter(|r| r.dst == Some(ip(vip))).collect();
        assert_eq!(of_vip.len(), 1, "own read: {own:?}");
        assert_eq!(of_vip[0].pref_src, Some(ip(node)), "own read: {own:?}");

        // The point of it all: the node's own connections to the VIP leave from its address.
        assert_eq!(ns.route_get_src(vip), node, "witness: source toward {vip}");
        assert_eq!(
            links.source_for(ip(vip)).unwrap(),
            ip(node),
            "own lookup of the source toward {vip}"
        );
    }
}

/// Ensures both VIPs and their routes on `ifindex`, asserting what each call reports.
fn ensure_vips(links: &mut Links, ifindex: u32) -> [Changed; 4] {
    [
        links.ensure_address(ifindex, ip(VIP4)).unwrap(),
        links.ensure_address(ifindex, ip(VIP6)).unwrap(),
        links
            .ensure_local_route_src(ifindex, ip(VIP4), ip(NODE4))
            .unwrap(),
        links
            .ensure_local_route_src(ifindex, ip(VIP6), ip(NODE6))
            .unwrap(),
    ]
}

fn assert_repaired(c: &Changed, what: &str) {
    assert!(
        matches!(c, Changed::Repaired(_)),
        "{what}: expected a repair, got {c:?}"
    );
}

/// The address and route scenario on link `iface`: set up, check, break the way operators and
/// kube-proxy do, check the repairs. The caller has an uplink carrying NODE4 and NODE6.
fn exercise_vips(ns: &Netns, links: &mut Links, iface: &str, ifindex: u32) {
    let [a4, a6, r4, r6] = ensure_vips(links, ifindex);
    assert_eq!((a4, a6), (Changed::Created, Changed::Created));
    // The kernel creates the local route with the VIP itself as source: that is what gets fixed.
    assert_repaired(&r4, "first v4 route pass");
    assert_repaired(&r6, "first v6 route pass");
    assert_vip_state(ns, links, iface, ifindex);
    assert_eq!(
        ensure_vips(links, ifindex),
        [Changed::No, Changed::No, Changed::No, Changed::No],
        "second pass"
    );

    // kube-proxy style: the route put back with the VIP as source.
    ns.ip(&format!(
        "route replace local {VIP4} dev {iface} table local proto kernel scope host src {VIP4}"
    ));
    ns.ip(&format!(
        "-6 route replace local {VIP6} dev {iface} table local proto kernel src {VIP6}"
    ));
    let [a4, a6, r4, r6] = ensure_vips(links, ifindex);
    assert_eq!((a4, a6), (Changed::No, Changed::No));
    assert_repaired(&r4, "v4 route with src VIP");
    assert_repaired(&r6, "v6 route with src VIP");
    assert_vip_state(ns, links, iface, ifindex);

    // An operator deletes the addresses; the kernel re-creates the local routes with src = VIP
    // when they come back (IPv6 even keeps ours and adds its own metric-0 route in front).
    ns.ip(&format!("addr del {VIP4}/32 dev {iface}"));
    ns.ip(&format!("-6 addr del {VIP6}/128 dev {iface}"));
    let [a4, a6, r4, r6] = ensure_vips(links, ifindex);
    assert_eq!((a4, a6), (Changed::Created, Changed::Created));
    assert_repaired(&r4, "v4 route after the address came back");
    assert_repaired(&r6, "v6 route after the address came back");
    assert_vip_state(ns, links, iface, ifindex);

    // The VIP put back with a subnet prefix, which would also add a connected route.
    ns.ip(&format!("addr del {VIP4}/32 dev {iface}"));
    ns.ip(&format!("addr add {VIP4}/24 dev {iface}"));
    match links.ensure_address(ifindex, ip(VIP4)).unwrap() {
        Changed::Repaired(why) => assert!(why.contains("/24"), "{why}"),
        other => panic!("wrong prefix: {other:?}"),
    }
    assert_repaired(
        &links
            .ensure_local_route_src(ifindex, ip(VIP4), ip(NODE4))
            .unwrap(),
        "route after prefix fix",
    );
    assert!(
        !ns.ip("route show table main").contains("10.103.97.0/24"),
        "connected /24 route left behind"
    );
    assert_vip_state(ns, links, iface, ifindex);

    // The local route deleted outright: the VIP is no longer local until it is put back.
    ns.ip(&format!(
        "-6 route del local {VIP6} dev {iface} table local"
    ));
    assert!(
        ns.local_route_lines(VIP6).is_empty(),
        "witness: route should be gone"
    );
    assert_eq!(
        links
            .ensure_local_route_src(ifindex, ip(VIP6), ip(NODE6))
            .unwrap(),
        Changed::Created
    );
    assert_vip_state(ns, links, iface, ifindex);
    assert_eq!(
        ensure_vips(links, ifindex),
        [Changed::No, Changed::No, Changed::No, Changed::No],
        "final pass"
    );
}

#[test]
fn vip_addresses_and_route_source_are_set_and_repaired_on_any_link() {
    let ns = Netns::enter();
    ns.uplink("eth0", &["192.0.2.10/24", "2001:db8:1::10/64"]);
    ns.uplink("vip0", &[]);
    let mut links = Links::open().unwrap();
    let ifindex = ns.ifindex("vip0");
    exercise_vips(&ns, &mut links, "vip0", ifindex);
    // A second handle sees the same, correct state.
    let mut again = Links::open().unwrap();
    assert_eq!(
        ensure_vips(&mut again, ifindex),
        [Changed::No, Changed::No, Changed::No, Changed::No]
    );
}

#[test]
fn dummy_link_is_created_kept_up_and_re_created() {
    let ns = Netns::enter();
    let mut links = Links::open().unwrap();
    if !ns.has_dummy_driver() {
        eprintln!("this kernel has no dummy driver: checking the error lvscare gives instead");
        match links.ensure_dummy("lvscare") {
            Err(e @ LinkError::DummyUnsupported { .. }) => {
                assert!(e.to_string().contains("modprobe dummy"), "{e}")
            }
            other => panic!("expected DummyUnsupported, got {other:?}"),
        }
        assert!(
            ns.link_line("lvscare").is_none(),
            "witness: a link was left behind"
        );
        return;
    }
    ns.uplink("eth0", &["192.0.2.10/24", "2001:db8:1::10/64"]);

    let (index, changed) = links.ensure_dummy("lvscare").unwrap();
    assert_eq!(changed, Changed::Created);
    assert_eq!(index, ns.ifindex("lvscare"), "witness: ifindex");
    assert!(
        ns.link_line("lvscare").unwrap().contains("dummy"),
        "witness: not a dummy"
    );
    assert!(
        ns.link_flags("lvscare").contains(&"UP".to_string()),
        "witness: not up"
    );
    assert_eq!(
        links.ensure_dummy("lvscare").unwrap(),
        (index, Changed::No),
        "second pass"
    );

    exercise_vips(&ns, &mut links, "lvscare", index);

    // Set down: brought back up, same link. IPv6 drops its addresses and routes with the link.
    ns.ip("link set lvscare down");
    let (same, changed) = links.ensure_dummy("lvscare").unwrap();
    assert_eq!(same, index);
    assert_repaired(&changed, "link set down");
    assert!(
        ns.link_flags("lvscare").contains(&"UP".to_string()),
        "witness: still down"
    );
    ensure_vips(&mut links, index);
    assert_vip_state(&ns, &mut links, "lvscare", index);

    // Deleted: re-created (a new ifindex), then everything on it again.
    ns.ip("link del lvscare");
    let (new_index, changed) = links.ensure_dummy("lvscare").unwrap();
    assert_eq!(changed, Changed::Created);
    assert_ne!(new_index, index, "a re-created link gets a new ifindex");
    assert_eq!(new_index, ns.ifindex("lvscare"), "witness: ifindex");
    let [a4, a6, _, _] = ensure_vips(&mut links, new_index);
    assert_eq!((a4, a6), (Changed::Created, Changed::Created));
    assert_vip_state(&ns, &mut links, "lvscare", new_index);

    assert!(links.delete_dummy("lvscare").unwrap());
    assert!(
        ns.link_line("lvscare").is_none(),
        "witness: dummy still there"
    );
    assert!(
        ns.local_route_lines(VIP4).is_empty(),
        "witness: VIP route outlived the link"
    );
    assert!(!links.delete_dummy("lvscare").unwrap(), "second delete");
}

#[test]
fn links_lvscare_does_not_own_are_refused_and_left_untouched() {
    let ns = Netns::enter();
    let mut links = Links::open().unwrap();

    // A bridge, down, with the wanted name: not set up, not deleted.
    ns.ip("link add lvscare type bridge");
    let index = ns.ifindex("lvscare");
    let flags_before = ns.link_flags("lvscare");
    for result in [
        links.ensure_dummy("lvscare").map(drop),
        links.delete_dummy("lvscare").map(drop),
    ] {
        match result {
            Err(e @ LinkError::NotDummy { .. }) => {
                assert!(
                    matches!(&e, LinkError::NotDummy { kind, .. } if kind == "bridge"),
                    "{e:?}"
                );
                assert!(e.to_string().contains("lvscare"), "{e}");
            }
            other => panic!("bridge named lvscare: expected NotDummy, got {other:?}"),
        }
    }
    assert_eq!(ns.ifindex("lvscare"), index, "witness: bridge replaced");
    assert!(
        ns.link_line("lvscare").unwrap().contains("bridge"),
        "witness: no longer a bridge"
    );
    assert_eq!(
        ns.link_flags("lvscare"),
        flags_before,
        "witness: bridge flags changed"
    );
    assert!(
        !ns.link_flags("lvscare").contains(&"UP".to_string()),
        "witness: bridge was set up"
    );
    ns.ip("link del lvscare");

    // A veth, up, with an address: keeps both.
    ns.uplink("lvscare", &["10.9.9.9/32"]);
    let index = ns.ifindex("lvscare");
    assert!(
        matches!(links.ensure_dummy("lvscare"), Err(LinkError::NotDummy { ref kind, .. }) if kind == "veth")
    );
    assert!(matches!(
        links.delete_dummy("lvscare"),
        Err(LinkError::NotDummy { .. })
    ));
    assert_eq!(ns.ifindex("lvscare"), index, "witness: veth replaced");
    assert!(
        ns.link_line("lvscare").unwrap().contains("veth"),
        "witness: veth changed"
    );
    assert_eq!(
        ns.addr_lines("lvscare", "10.9.9.9").len(),
        1,
        "witness: veth lost its address"
    );
    assert!(
        ns.link_flags("lvscare").contains(&"UP".to_string()),
        "witness: veth set down"
    );

    // The loopback device has no link kind at all.
    assert!(
        matches!(links.ensure_dummy("lo"), Err(LinkError::NotDummy { ref kind, .. }) if kind == "physical device")
    );
    assert!(matches!(
        links.ensure_dummy("bad/name"),
        Err(LinkError::InvalidName { .. })
    ));
}

#[test]
fn delete_dummy_removes_only_the_dummy() {
    let ns = Netns::enter();
    let mut links = Links::open().unwrap();
    assert!(
        !links.delete_dummy("lvscare").unwrap(),
        "absent link reported deleted"
    );
    if !ns.has_dummy_driver() {
        eprintln!("this kernel has no dummy driver: only the absent case is checked");
        return;
    }
    ns.ip("link add lvscare type dummy");
    ns.ip("link add other0 type dummy");
    ns.ip("link add br0 type bridge");
    assert!(links.delete_dummy("lvscare").unwrap());
    assert!(
        ns.link_line("lvscare").is_none(),
        "witness: lvscare still there"
    );
    assert!(
        ns.link_line("other0").is_some(),
        "witness: another dummy was deleted"
    );
    assert!(
        ns.link_line("br0").is_some(),
        "witness: the bridge was deleted"
    );
}

#[test]
fn source_for_follows_the_kernels_routes() {
    let ns = Netns::enter();
    ns.uplink("eth0", &["192.0.2.10/24", "2001:db8:1::10/64"]);
    ns.uplink("eth1", &["198.51.100.7/24", "2001:db8:2::7/64"]);
    let mut links = Links::open().unwrap();

    // No default route yet: off-link destinations are unreachable.
    assert!(matches!(
        links.source_for(ip("198.18.0.1")),
        Err(LinkError::NoRoute { .. })
    ));
    assert!(matches!(
        links.source_for(ip("2001:db8:99::1")),
        Err(LinkError::NoRoute { .. })
    ));

    ns.ip("route add default via 192.0.2.1");
    ns.ip("route add 203.0.113.0/24 via 198.51.100.1");
    ns.ip("route add 10.50.0.0/16 via 198.51.100.1 src 192.0.2.10");
    ns.ip("-6 route add default via 2001:db8:1::1");
    ns.ip("-6 route add 2001:db8:99::/48 via 2001:db8:2::1");
    let cases = [
        ("192.0.2.50", "192.0.2.10"),      // on-link, first interface
        ("198.51.100.99", "198.51.100.7"), // on-link, second interface
        ("203.0.113.5", "198.51.100.7"),   // through a gateway on the second interface
        ("198.18.0.1", "192.0.2.10"),      // default route
        ("10.50.1.1", "192.0.2.10"),       // a route's own preferred source wins
        ("2001:db8:2::99", "2001:db8:2::7"),
        ("2001:db8:99::1", "2001:db8:2::7"),
        ("2001:db8:77::1", "2001:db8:1::10"),
    ];
    for (dst, want) in cases {
        assert_eq!(
            links.source_for(ip(dst)).unwrap(),
            ip(want),
            "source toward {dst}"
        );
        assert_eq!(ns.route_get_src(dst), want, "witness: source toward {dst}");
    }
}

#[test]
fn sysctl_is_written_only_when_it_differs() {
    // The namespace this test started in, to prove it is left alone.
    let outer = File::open("/proc/thread-self/ns/net").unwrap();
    let outer_path = format!("/proc/{}/fd/{}", std::process::id(), outer.as_raw_fd());
    let read_outer = || run_in(&outer_path, "cat", "/proc/sys/net/ipv4/ip_forward").unwrap();
    let outer_before = read_outer();

    let ns = Netns::enter();
    let read = |key: &str| {
        run_in(&ns.path, "sysctl", &format!("-n {key}"))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(
        read("net.ipv4.ip_forward"),
        "0",
        "a fresh namespace starts without forwarding"
    );
    assert!(
        sysctl::ensure("net.ipv4.ip_forward", "1").unwrap(),
        "first write reported no change"
    );
    assert_eq!(read("net.ipv4.ip_forward"), "1", "witness");
    assert!(
        !sysctl::ensure("net.ipv4.ip_forward", " 1\n").unwrap(),
        "same value written again"
    );
    assert!(sysctl::ensure("net.ipv4.ip_forward", "0").unwrap());
    assert_eq!(read("net.ipv4.ip_forward"), "0", "witness");

    // A dot inside an interface name is written as a slash in the key.
    ns.uplink("v.1", &[]);
    assert!(sysctl::ensure("net.ipv4.conf.v/1.forwarding", "1").unwrap());
    assert_eq!(read("net.ipv4.conf.v/1.forwarding"), "1", "witness");
    assert!(!sysctl::ensure("net.ipv4.conf.v/1.forwarding", "1").unwrap());

    match sysctl::ensure("net.ipv4.lvscare_no_such_key", "1") {
        Err(e @ SysctlError::Missing { .. }) => assert!(
            e.to_string().contains("net.ipv4.lvscare_no_such_key"),
            "{e}"
        ),
        other => panic!("missing key: {other:?}"),
    }
    assert_eq!(
        read_outer(),
        outer_before,
        "the outer namespace's ip_forward changed"
    );
}
