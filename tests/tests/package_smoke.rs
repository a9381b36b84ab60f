//! The real offline package on one real host (a systemd VM), without a cluster: `init.sh`
//! starts containerd and imports a node's images, then, as a master, every image, the package's crictl answers what kubeadm asks of
//! it (`info`, `images`, `inspecti`, `pods -q`), iptables runs from the package, and `clean.sh`
//! takes everything away again; the lvscare image runs under containerd and programs the host's
//! IPVS. Real programs throughout; nothing is a double.

use seal_testbed::install_bed::real_package;
use seal_testbed::{kernel_or_skip, Vm, VmSpec};
use std::time::Duration;

const SCRIPT: &str = r#"set -u
fail() { echo "FAIL: $*"; exit 1; }
before=$(find /etc /usr/bin /usr/local /opt /var/lib \( -path /var/lib/systemd -o -path /var/lib/dpkg \) -prune -o \( -type f -o -type l \) -newer /seal/vm.conf -print 2>/dev/null | sort)
tar -xzf "$PKG" -C /root || fail "unpack"
# init.sh refuses a host it cannot serve, with a message naming what is missing.
mv /usr/bin/systemctl /usr/bin/systemctl.off
out=$(bash /root/kube/shell/init.sh 2>&1); rc=$?
mv /usr/bin/systemctl.off /usr/bin/systemctl
[ $rc != 0 ] || fail "init.sh without systemctl succeeded"
echo "$out" | grep -q "'systemctl' is missing" || fail "no clear message: $out"
out=$(SEAL_ROLE=worker bash /root/kube/shell/init.sh 2>&1) && fail "init.sh took SEAL_ROLE=worker"
echo "$out" | grep -q "SEAL_ROLE must be master or node" || fail "no clear message: $out"
C="crictl -r unix:///run/containerd/containerd.sock"
# A node gets what every host runs, and none of the control plane's images.
SEAL_ROLE=node bash /root/kube/shell/init.sh || fail "init.sh as a node"
[ -s /root/kube/images/control-plane.list ] || fail "no control-plane.list in the package"
while read -r i; do $C inspecti "$i" >/dev/null || fail "image $i missing on a node"; done < /root/kube/images/images.list
while read -r i; do $C inspecti "$i" >/dev/null 2>&1 && fail "control-plane image $i imported on a node"; done < /root/kube/images/control-plane.list
# The same host set up again as a master (the default role) gets them too.
bash /root/kube/shell/init.sh || fail "init.sh"
systemctl is-active containerd || fail "containerd not active"
$C info >/dev/null || fail "crictl info"
$C images
while read -r i; do $C inspecti "$i" >/dev/null || fail "image $i missing"; done < <(cat /root/kube/images/images.list /root/kube/images/control-plane.list)
$C inspecti k8s.gcr.io/coredns:1.7.0 >/dev/null 2>&1 && fail "inspecti of an absent image exited 0"
[ -z "$($C pods -q)" ] || fail "pods -q not empty"
$C ps -a -q
iptables --version || fail "iptables"
conntrack --version || fail "conntrack"
# lvscare's image runs under the package's runtime and programs this host's IPVS, as its static
# pod does on a node (one --run-once pass; the VIP's link and service are its own).
lv=$(awk '/lvscare/ {print $1}' /root/kube/images/images.list)
[ -n "$lv" ] || fail "no lvscare image in images.list"
# A "master" on a dummy link: lvscare wants a route to every real server.
ip link add smoke type dummy && ip addr add 10.0.2.15/24 dev smoke && ip link set smoke up || fail "dummy link"
ctr -n k8s.io run --rm --net-host --privileged --mount type=bind,src=/lib/modules,dst=/lib/modules,options=rbind:ro \
  "$lv" lvscare-smoke /usr/bin/lvscare care --vs 10.103.97.2:6443 --rs 10.0.2.15:6443 --run-once || fail "the lvscare image did not run"
ipvsadm -Ln | grep -q "10.103.97.2:6443" || fail "lvscare's image made no virtual server: $(ipvsadm -Ln)"
ipvsadm -Ln | grep -q "10.0.2.15:6443" || fail "lvscare's image left the master out: $(ipvsadm -Ln)"
ipvsadm -C; ip link del lvscare; ip link del smoke
# A pull is refused on loopback, never sent out.
out=$($C pull k8s.gcr.io/coredns:1.7.0 2>&1) && fail "pull succeeded"
echo "$out" | grep -q "127.0.0.1:1" || fail "pull not sent to the refusing mirror: $out"
bash /root/kube/shell/clean.sh || fail "clean.sh"
systemctl is-active containerd && fail "containerd still active"
rm -rf /root/kube
after=$(find /etc /usr/bin /usr/local /opt /var/lib \( -path /var/lib/systemd -o -path /var/lib/dpkg \) -prune -o \( -type f -o -type l \) -newer /seal/vm.conf -print 2>/dev/null | sort)
new=$(comm -13 <(echo "$before") <(echo "$after"))
echo "left after clean.sh: ${new:-nothing}"
[ -z "$new" ] || fail "clean.sh left files"
for d in /etc/containerd /opt/cni /usr/local/lib/seal /usr/local/lib/seal-netfilter /var/lib/seal /etc/kubernetes \
  /etc/systemd/system/kubelet.service.d /run/containerd; do [ -e "$d" ] && fail "clean.sh left $d"; done
# The test bed's disk for containerd stays mounted (a host's own disk must), and empty.
mountpoint -q /var/lib/containerd || fail "clean.sh unmounted /var/lib/containerd"
[ -z "$(ls -A /var/lib/containerd)" ] || fail "clean.sh left images in /var/lib/containerd"
echo SMOKE-OK
"#;

#[test]
fn package_init_crictl_clean_on_a_real_host() {
    let Some(kernel) = kernel_or_skip("package_init_crictl_clean_on_a_real_host") else {
        return;
    };
    let pkg = real_package();
    let script = format!("PKG='{}'\n{SCRIPT}", pkg.display());
    let mut spec = VmSpec::new("pkg", &script, Duration::from_secs(900));
    spec.systemd = true;
    spec.memory_mb = 2048;
    spec.cpus = 1;
    let out = Vm::run(&kernel, &spec).expect("VM");
    eprintln!("{}", out.output);
    out.assert_success();
    assert!(out.output.contains("SMOKE-OK"), "{}", out.output);
    for image in [
        "k8s.gcr.io/kube-apiserver",
        "k8s.gcr.io/etcd",
        "k8s.gcr.io/pause",
        "docker.io/library/lvscare",
    ] {
        assert!(
            out.output.contains(image),
            "{image} not listed by crictl images"
        );
    }
}
