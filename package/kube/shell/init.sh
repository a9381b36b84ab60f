#!/usr/bin/env bash
# Prepares a host from the unpacked offline package (run as root, from anywhere): binaries, the
# container runtime started and checked, images imported, kubelet installed for kubeadm to start,
# modules and sysctls. Re-runnable. Every path it creates is recorded in
# /var/lib/seal/installed.list, which clean.sh removes again.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf 'init.sh: %s\n' "$*"; }
die() {
	printf 'init.sh: error: %s\n' "$*" >&2
	exit 1
}

[[ $(id -u) == 0 ]] || die "run init.sh as root"
# SEAL_ROLE (set by seal-install): master (the default) or node.
ROLE=${SEAL_ROLE:-master}
[[ $ROLE == master || $ROLE == node ]] || die "SEAL_ROLE must be master or node, not '$ROLE'"
# containerd and kubelet are systemd units here, as kubeadm expects.
if [[ ! -d /run/systemd/system ]]; then
	die "systemd is not running on this host (PID 1 is '$(cat /proc/1/comm 2>/dev/null || echo unknown)'); the package runs containerd and kubelet as systemd units"
fi
for t in systemctl modprobe sysctl install; do
	command -v "$t" >/dev/null || die "'$t' is missing on this host"
done

STATE=/var/lib/seal
mkdir -p "$STATE"
LIST=$STATE/installed.list
touch "$LIST"
# Re-runs append the same paths again; keep the list unique at the end.
trap 'sort -u -o "$LIST" "$LIST"' EXIT
# put SRC DEST MODE: installs a file and records it for clean.sh.
put() {
	install -D -m "$3" "$1" "$2"
	printf '%s\n' "$2" >>"$LIST"
}

log "installing binaries"
for b in kubeadm kubelet kubectl; do put "bin/$b" "/usr/bin/$b" 0755; done
for b in containerd containerd-shim-runc-v2 ctr runc crictl; do put "bin/$b" "/usr/local/bin/$b" 0755; done
mkdir -p /opt/cni/bin
cp -a cni/. /opt/cni/bin/
(cd cni && find . -type f) | sed "s|^\.|/opt/cni/bin|" >>"$LIST"
# iptables and conntrack from the package only where the host has none of its own.
if ! command -v iptables >/dev/null 2>&1 || ! command -v conntrack >/dev/null 2>&1; then
	NF=/usr/local/lib/seal-netfilter
	# One copy of the folder (process starts are dear on a slow host), every file recorded.
	mkdir -p "$NF"
	cp -a netfilter/. "$NF/"
	(cd netfilter && find . -type f -o -type l) | sed "s|^\.|$NF|" >>"$LIST"
	# wrap NAME BINARY: a command that runs the package's binary with its own libraries (bash:
	# a multi-call binary needs its name in argv[0], which only bash's exec -a sets).
	wrap() {
		printf '#!/bin/bash\nXTABLES_LIBDIR=%s/xtables LD_LIBRARY_PATH=%s/lib exec -a %s %s/bin/%s "$@"\n' \
			"$NF" "$NF" "$1" "$NF" "$2" >"$STATE/wrap"
		command -v "$1" >/dev/null 2>&1 || put "$STATE/wrap" "/usr/local/sbin/$1" 0755
	}
	for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
		wrap "$t" xtables-nft-multi
	done
	wrap conntrack conntrack
	rm -f "$STATE/wrap"
	iptables --version >/dev/null 2>&1 || die "the package's iptables does not run on this host ($(iptables --version 2>&1 | head -n1))"
	conntrack --version >/dev/null 2>&1 || die "the package's conntrack does not run on this host"
fi
put conf/containerd.toml /etc/containerd/config.toml 0644
put conf/cni.template /etc/containerd/cni.template 0644
put conf/containerd.service /etc/systemd/system/containerd.service 0644
put conf/kubelet.service /etc/systemd/system/kubelet.service 0644
put conf/10-kubeadm.conf /etc/systemd/system/kubelet.service.d/10-kubeadm.conf 0644
put shell/pod-routes.sh /usr/local/lib/seal/pod-routes.sh 0755
put conf/seal-pod-routes.service /etc/systemd/system/seal-pod-routes.service 0644
put conf/seal-pod-routes.timer /etc/systemd/system/seal-pod-routes.timer 0644

log "kernel modules and sysctls"
MODULES="overlay br_netfilter nf_conntrack ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh"
missing=""
for m in $MODULES; do modprobe "$m" 2>/dev/null || missing+="$m "; done
[[ -z $missing ]] || die "kernel modules could not be loaded: $missing(is /lib/modules/$(uname -r) installed?)"
printf '%s\n' $MODULES >"$STATE/modules-load.conf"
put "$STATE/modules-load.conf" /etc/modules-load.d/seal.conf 0644
printf 'net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n' >"$STATE/sysctl.conf"
put "$STATE/sysctl.conf" /etc/sysctl.d/k8s.conf 0644
sysctl -q -p /etc/sysctl.d/k8s.conf || die "sysctl -p /etc/sysctl.d/k8s.conf failed"
swapoff -a || true

log "starting containerd"
systemctl daemon-reload
systemctl enable containerd >/dev/null 2>&1 || die "systemctl enable containerd failed"
# A restart picks up a changed configuration on re-runs; the first start is a plain start.
systemctl restart containerd || true
ready=0
for _ in $(seq 1 60); do
	if crictl -r unix:///run/containerd/containerd.sock -t 2s info >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 1
done
if [[ $ready != 1 ]]; then
	systemctl --no-pager status containerd 2>&1 | tail -n 5 >&2 || true
	journalctl --no-pager -u containerd -n 15 2>&1 >&2 || true
	die "containerd did not become ready on /run/containerd/containerd.sock within 60 s (see above)"
fi

# A node never runs the control plane: its images (images/control-plane.tar, listed in
# control-plane.list) stay out; every other archive is imported.
log "importing images ($ROLE)"
for f in images/*.tar; do
	[[ -s $f ]] || continue
	[[ $ROLE == node && $f == images/control-plane.tar ]] && continue
	ctr -n k8s.io images import --no-unpack "$f" >/dev/null || die "ctr images import $f failed"
done
# The runtime must now know every image the package lists for this role.
lists=images/images.list
[[ $ROLE == node ]] || lists+=" images/control-plane.list"
for list in $lists; do
	[[ -f $list ]] || continue
	while read -r image; do
		[[ -n $image ]] || continue
		crictl -r unix:///run/containerd/containerd.sock inspecti "$image" >/dev/null 2>&1 ||
			die "image $image is not in containerd after the import"
	done <"$list"
done

# Pod subnets routed between hosts once they have joined.
systemctl enable --now seal-pod-routes.timer >/dev/null 2>&1 || die "systemctl enable seal-pod-routes.timer failed"

# kubeadm starts kubelet once it has written its configuration.
systemctl enable kubelet >/dev/null 2>&1 || die "systemctl enable kubelet failed"
log "done"
