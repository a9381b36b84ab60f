#!/usr/bin/env bash
# Restores this master's etcd from a snapshot (`seal-install backup`), as kubeadm's stacked etcd
# keeps it: the apiserver and etcd static pods are stopped (their manifests parked beside the
# manifests folder), the snapshot is restored with the etcd image's own etcdctl into a new data
# folder named and addressed as this member, the old folder is kept aside, and both pods come
# back. The restored etcd is a cluster of one member: on a cluster of several masters, restore
# on one, then `seal-install clean --master` and `join --master` the others (README).
# Usage: restore-etcd.sh SNAPSHOT (run as root on the master).
set -euo pipefail
die() {
	printf 'restore-etcd.sh: error: %s\n' "$*" >&2
	exit 1
}
log() { printf 'restore-etcd.sh: %s\n' "$*"; }

snap=${1:-}
[[ -n $snap ]] || die "usage: restore-etcd.sh SNAPSHOT"
[[ -f $snap ]] || die "no snapshot at $snap"
[[ $(id -u) == 0 ]] || die "run it as root"
snap=$(cd "$(dirname "$snap")" && pwd -P)/$(basename "$snap")
M=/etc/kubernetes/manifests
PARKED=/etc/kubernetes/seal-restore
manifest=$M/etcd.yaml
[[ -f $manifest || -f $PARKED/etcd.yaml ]] || die "no etcd static pod on this host ($manifest): is it a master of a stacked-etcd cluster?"
[[ -f $manifest ]] || manifest=$PARKED/etcd.yaml
arg() { sed -n "s/^ *- --$1=//p" "$manifest" | head -n1; }
img=$(sed -n 's/^ *image: *//p' "$manifest" | head -n1)
name=$(arg name)
peer=$(arg initial-advertise-peer-urls)
data=$(arg data-dir)
[[ -n $img && -n $name && -n $peer && -n $data ]] || die "cannot read image, name, peer URL and data folder from $manifest"

log "stopping the apiserver and etcd"
mkdir -p "$PARKED"
for p in kube-apiserver etcd; do
	[[ ! -f $M/$p.yaml ]] || mv "$M/$p.yaml" "$PARKED/"
done
for _ in $(seq 1 120); do
	pgrep -x etcd >/dev/null || pgrep -x kube-apiserver >/dev/null || break
	sleep 1
done
! pgrep -x etcd >/dev/null || die "etcd still runs 120 s after its manifest was moved to $PARKED (move it back to undo)"

log "restoring $snap as member $name ($peer)"
new=$data.restored
rm -rf "$new"
ctr -n k8s.io run --rm --net-host \
	--mount "type=bind,src=$(dirname "$snap"),dst=/snapshot,options=rbind:ro" \
	--mount "type=bind,src=$(dirname "$data"),dst=$(dirname "$data"),options=rbind:rw" \
	"$img" "seal-etcd-restore-$$" /usr/local/bin/etcdctl snapshot restore "/snapshot/$(basename "$snap")" \
	--name "$name" --initial-cluster "$name=$peer" --initial-advertise-peer-urls "$peer" \
	--data-dir "$new" >&2 || die "etcdctl snapshot restore failed; nothing was replaced (manifests are in $PARKED)"
aside=$data.before-restore-$(date +%s)
mv "$data" "$aside"
mv "$new" "$data"

log "starting etcd and the apiserver (the data before is in $aside)"
mv "$PARKED"/etcd.yaml "$M/"
[[ ! -f $PARKED/kube-apiserver.yaml ]] || mv "$PARKED"/kube-apiserver.yaml "$M/"
rmdir "$PARKED" 2>/dev/null || true
for _ in $(seq 1 100); do
	[[ $(curl -ks --max-time 5 https://127.0.0.1:6443/readyz) == ok ]] && {
		log "done"
		exit 0
	}
	sleep 3
done
die "the apiserver did not become ready within 300 s of the restore"
