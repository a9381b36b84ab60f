//! lvscare against the real IPVS kernel: an IPv6 VIP balancing IPv6 masters; `--run-once`
//! putting every master in and exiting; and the netlink codec checked against messages the
//! kernel itself sent for services that ipvsadm created.

use lvscare::ipvs::codec::{
    decode_dest_reply, decode_service_reply, encode_new_dest, encode_new_service, AddrFamily,
};
use lvscare::ipvs::{ForwardMethod, Protocol};
use seal_testbed::{kernel_or_skip, project_binary, Vm, VmSpec};
use std::fs;
use std::time::Duration;

const SCRIPT: &str = r#"
set -u
export VIP6=fd00:97::2
source /seal/lib.sh
LV=__LV__
lan_init
add_host m1 192.168.0.2 fd00:10::2; add_host m2 192.168.0.3 fd00:10::3; add_host m3 192.168.0.4 fd00:10::4
for m in m1 m2 m3; do fake_launch $m "$(cat $FAKE_DIR/$m/ip6)"; done
for m in m1 m2 m3; do fake_wait $m; done

grep -q '^ip_vs ' /proc/modules && die "ip_vs loaded before lvscare ran"
# --run-once: all masters in (even one that is down: no probing before kubelet exists), then exit.
timeout 30 $LV care --run-once --vs 10.103.97.3:6443 --iface lvscare1 --rs 192.168.0.2:6443 --rs 192.168.0.3:6443 --rs 192.168.0.9:6443 \
  > /seal/results/once.log 2>&1; echo $? > /seal/results/once.code
grep -q '^ip_vs ' /proc/modules && echo loaded > /seal/results/ip_vs-after-once
ipvsadm -Ln -t 10.103.97.3:6443 > /seal/results/table-once

# IPv6: masters have no route to the VIP either.
$LV care --vs "[$VIP6]:6443" --rs '[fd00:10::2]:6443' --rs '[fd00:10::3]:6443' --rs '[fd00:10::4]:6443' \
  --ca-file $FAKE_DIR/ca.crt > /seal/results/lvscare6.log 2>&1 &
LVPID=$!
wait_until 30 rs_in "[$VIP6]:6443" '[fd00:10::4]:6443' || { cat /seal/results/lvscare6.log; die "no IPv6 service"; }
ip -6 route show table local > /seal/results/route6
for i in $(seq 1 9); do fetch "https://[$VIP6]:6443/" >> /seal/results/spread6 || echo "v6 request $i failed"; done
ipvsadm -Ln > /seal/results/table6
kill -TERM $LVPID; wait $LVPID

# Kernel messages for the codec: services made by ipvsadm, dumped raw.
ipvsadm -A -t 10.1.2.3:80 -s wrr -p 300
ipvsadm -a -t 10.1.2.3:80 -r 192.168.0.2:8080 -m -w 3
ipvsadm -a -t 10.1.2.3:80 -r 192.168.0.3:80 -g -w 0 -x 100 -y 10
ipvsadm -A -u '[fd00::1]:53' -s sh
ipvsadm -a -u '[fd00::1]:53' -r '[fd00:10::2]:53' -m -w 65535
__DUMP__ > /seal/results/dump.txt
"#;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn ipv6_balancing_run_once_and_kernel_messages() {
    let Some(kernel) = kernel_or_skip("ipv6_balancing_run_once_and_kernel_messages") else {
        return;
    };
    let script = SCRIPT
        .replace("__LV__", &project_binary("lvscare").display().to_string())
        .replace(
            "__DUMP__",
            &project_binary("examples/ipvs_dump").display().to_string(),
        );
    let out = Vm::run(
        &kernel,
        &VmSpec::new("lvscare-v6", &script, Duration::from_secs(600)),
    )
    .expect("VM");
    let read = |name: &str| fs::read_to_string(out.results.join(name)).unwrap_or_default();
    out.assert_success();

    let spread = read("spread6");
    for m in ["m1", "m2", "m3"] {
        assert!(
            spread.lines().any(|l| l == m),
            "{m} not reached over IPv6: {spread:?}\n{}",
            read("lvscare6.log")
        );
    }
    assert!(
        read("route6").contains("fd00:97::2"),
        "no IPv6 VIP route:\n{}",
        read("route6")
    );

    assert_eq!(read("once.code").trim(), "0", "{}", read("once.log"));
    assert_eq!(
        read("ip_vs-after-once").trim(),
        "loaded",
        "lvscare did not get ip_vs loaded"
    );
    let once = read("table-once");
    for rs in ["192.168.0.2:6443", "192.168.0.3:6443", "192.168.0.9:6443"] {
        assert!(once.contains(rs), "--run-once left out {rs}:\n{once}");
    }

    // The codec against what the kernel sent.
    let dump = read("dump.txt");
    let mut services = Vec::new();
    let mut dests = Vec::new();
    for line in dump.lines() {
        if let Some(h) = line.strip_prefix("service ") {
            let raw = unhex(h);
            let s = decode_service_reply(&raw).expect("kernel service decodes");
            // Re-encoding what we decoded and decoding again gives the same service.
            let again =
                decode_service_reply(&encode_new_service(&s).expect("encode")).expect("round trip");
            assert_eq!(again, s);
            services.push(s);
        } else if let Some(h) = line.strip_prefix("dest ") {
            let svc = services.last().expect("dest after its service");
            let d = decode_dest_reply(&unhex(h), AddrFamily::of(&svc.key.addr.ip()))
                .expect("kernel dest decodes");
            let again = decode_dest_reply(
                &encode_new_dest(&svc.key, &d),
                AddrFamily::of(&svc.key.addr.ip()),
            )
            .expect("round trip");
            assert_eq!(
                (again.addr, again.forward, again.weight),
                (d.addr, d.forward, d.weight)
            );
            dests.push((svc.key.addr, d));
        }
    }
    let wrr = services
        .iter()
        .find(|s| s.key.addr.to_string() == "10.1.2.3:80")
        .expect("wrr service in dump");
    assert_eq!(
        (
            wrr.scheduler.as_str(),
            wrr.timeout,
            wrr.flags & 1,
            wrr.key.protocol
        ),
        ("wrr", 300, 1, Protocol::Tcp)
    );
    let sh = services
        .iter()
        .find(|s| s.key.addr.to_string() == "[fd00::1]:53")
        .expect("v6 service in dump");
    assert_eq!(
        (sh.scheduler.as_str(), sh.key.protocol, sh.netmask),
        ("sh", Protocol::Udp, 128)
    );
    let find = |a: &str| {
        let found = dests
            .iter()
            .find(|(_, d)| d.addr.to_string() == a)
            .map(|(_, d)| d.clone());
        found.unwrap_or_else(|| panic!("{a} not in the kernel's dump:\n{dump}"))
    };
    let masq = find("192.168.0.2:8080");
    assert_eq!((masq.forward, masq.weight), (ForwardMethod::Masquerade, 3));
    let route = find("192.168.0.3:80");
    assert_eq!(
        (
            route.forward,
            route.weight,
            route.upper_threshold,
            route.lower_threshold
        ),
        (ForwardMethod::Route, 0, 100, 10)
    );
    assert_eq!(find("[fd00:10::2]:53").weight, 65535);
}
