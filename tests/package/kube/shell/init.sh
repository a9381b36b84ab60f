#!/bin/bash
# Prepares a host from the unpacked package (run from kube/shell): binaries into PATH, the kubelet
# unit, images imported when a container runtime exists, swap off, modules and sysctls.
set -eu
cd "$(dirname "$0")/.."
install -m 0755 bin/kubeadm bin/kubelet bin/kubectl /usr/bin/
mkdir -p /usr/local/lib/seal-doubles
[ -f bin/fake-apiserver.py ] && install -m 0755 bin/fake-apiserver.py /usr/local/lib/seal-doubles/
mkdir -p /etc/systemd/system
install -m 0644 conf/kubelet.service /etc/systemd/system/kubelet.service
if command -v ctr >/dev/null 2>&1; then ctr -n k8s.io images import images/images.tar
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then docker load -i images/images.tar
else echo "init.sh: no container runtime found: images not imported"; fi
swapoff -a || true
for m in br_netfilter ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack; do modprobe "$m" 2>/dev/null || echo "init.sh: module $m not loaded"; done
mkdir -p /etc/sysctl.d
printf 'net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n' > /etc/sysctl.d/k8s.conf
sysctl -q -p /etc/sysctl.d/k8s.conf 2>/dev/null || echo "init.sh: some sysctls not applied"
command -v systemctl >/dev/null 2>&1 && systemctl enable kubelet 2>/dev/null || true
echo "init.sh: done"
