#!/usr/bin/env bash
# Undoes init.sh (run after `kubeadm reset`): stops kubelet and containerd, removes the containers
# and images they left, and every path init.sh recorded in /var/lib/seal/installed.list.
set -uo pipefail
log() { printf 'clean.sh: %s\n' "$*"; }
STATE=/var/lib/seal
LIST=$STATE/installed.list

if [[ -d /run/systemd/system ]]; then
	systemctl disable --now seal-pod-routes.timer >/dev/null 2>&1 || true
	systemctl disable --now kubelet >/dev/null 2>&1 || true
	systemctl disable --now containerd >/dev/null 2>&1 || true
fi
# containerd's KillMode=process leaves the shims and their containers running.
pkill -9 -f containerd-shim-runc-v2 2>/dev/null || true
pkill -9 -x containerd 2>/dev/null || true
sleep 1
# Mounts left by containers, kubelet volumes and the snapshotter, innermost first.
# Only mounts below these folders: /var/lib/containerd itself may be a disk of the host's own.
for root in /run/containerd/ /var/lib/containerd/ /var/lib/kubelet/ /run/netns/cni-; do
	grep -o " ${root}[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
done
# What kubeadm reset leaves of Kubernetes itself (its folders, now empty of what matters).
rm -rf /etc/kubernetes /var/lib/kubelet /var/lib/etcd
# kube-proxy's dummy link (its IPVS services stay: see the README).
ip link del kube-ipvs0 2>/dev/null || true
# The pod network: routes to other hosts' pod subnets, and what containerd made from its template.
ip route show proto 199 | while read -r dst _; do ip route del "$dst" proto 199 2>/dev/null; done
ip link del cni0 2>/dev/null || true
rm -f /etc/cni/net.d/10-containerd-net.conflist
rmdir /etc/cni/net.d /etc/cni 2>/dev/null || true
rm -rf /var/lib/cni
# The runtime's data: images, snapshots, containers. Only its contents where it is a mount of its
# own (the host's disk for it), the folder otherwise.
if mountpoint -q /var/lib/containerd; then
	find /var/lib/containerd -mindepth 1 -delete 2>/dev/null || true
else
	rm -rf /var/lib/containerd
fi
rm -rf /run/containerd
if [[ -f $LIST ]]; then
	while read -r f; do
		[[ -n $f ]] && rm -f "$f"
	done <"$LIST"
fi
rmdir /etc/systemd/system/kubelet.service.d /etc/containerd /opt/cni/bin /opt/cni /usr/local/lib/seal \
	/usr/local/lib/seal-netfilter/bin /usr/local/lib/seal-netfilter/lib /usr/local/lib/seal-netfilter/xtables \
	/usr/local/lib/seal-netfilter 2>/dev/null || true
rm -rf "$STATE"
[[ -d /run/systemd/system ]] && systemctl daemon-reload 2>/dev/null
log "done"
exit 0
