//! The test bed itself, against the real IPVS kernel: ipvsadm programs a virtual server by hand,
//! and curl reaches three fake apiservers through it once the VIP's source address is fixed.

use seal_testbed::{kernel_or_skip, Vm, VmSpec};
use std::fs;
use std::time::Duration;

const SCRIPT: &str = r#"
set -u
source /seal/lib.sh
lan_init
add_host m1 192.168.0.2
add_host m2 192.168.0.3
add_host m3 192.168.0.4
start_apiservers m1 m2 m3
# The masters really have no route to the VIP.
ip -n m1 route get "$VIP" > /seal/results/m1-route-to-vip 2>&1 && die "m1 has a route to the VIP"
ip link add seal-vip type dummy
ip addr add "$VIP/32" dev seal-vip
ip link set seal-vip up
ipvsadm -A -t "$VIP:6443" -s rr
for ip in 192.168.0.2 192.168.0.3 192.168.0.4; do ipvsadm -a -t "$VIP:6443" -r "$ip:6443" -m; done
ipvsadm -Ln > /seal/results/ipvsadm.txt
# Negative control: without the fix the node's connection carries the VIP as source and hangs.
curl -s --max-time 4 --cacert /run/fake/ca.crt "https://$VIP:6443/" > /dev/null
echo $? > /seal/results/curl-before-fix
vip_source_fix seal-vip "$VIP" "$NODE_IP"
for i in $(seq 1 9); do
  curl -sS --max-time 5 --cacert /run/fake/ca.crt "https://$VIP:6443/" >> /seal/results/answers || echo "curl $i failed"
done
ipvsadm -Ln --stats > /seal/results/ipvsadm-stats.txt
"#;

#[test]
fn ipvsadm_service_reaches_three_masters_through_the_vip() {
    let Some(kernel) = kernel_or_skip("ipvsadm_service_reaches_three_masters_through_the_vip")
    else {
        return;
    };
    let out = Vm::run(
        &kernel,
        &VmSpec::new("bed-ipvs", SCRIPT, Duration::from_secs(240)),
    )
    .expect("VM run");
    out.assert_success();
    let read = |name: &str| fs::read_to_string(out.results.join(name)).unwrap_or_default();

    let table = read("ipvsadm.txt");
    assert!(
        table.contains("TCP  10.103.97.2:6443 rr"),
        "no virtual server in:\n{table}"
    );
    for ip in ["192.168.0.2", "192.168.0.3", "192.168.0.4"] {
        let line = format!("-> {ip}:6443");
        assert!(
            table
                .lines()
                .any(|l| l.contains(&line) && l.contains("Masq")),
            "real server {ip} missing in:\n{table}"
        );
    }
    // curl exit 28 = timed out: the masters could not answer the VIP.
    assert_eq!(
        read("curl-before-fix").trim(),
        "28",
        "expected a hang before the source fix"
    );

    let answers = read("answers");
    let names: Vec<&str> = answers.lines().collect();
    assert_eq!(
        names.len(),
        9,
        "expected 9 answers, got:\n{answers}\n{}",
        out.output
    );
    for m in ["m1", "m2", "m3"] {
        assert_eq!(
            names.iter().filter(|n| **n == m).count(),
            3,
            "round robin should give {m} 3 of 9: {names:?}"
        );
    }
    eprintln!(
        "boot {:.1}s, total {:.1}s",
        out.boot_time.as_secs_f64(),
        out.wall_time.as_secs_f64()
    );
}
