#!/usr/bin/env bash
# The package's pod network between hosts ("host-gw"): a route to every other node's pod subnet
# (the podCIDR the controller manager gave it) through that node's address, read from the Node
# objects with this host's own kubeconfig. Run by seal-pod-routes.timer; idempotent. Routes it
# made carry protocol 199 (no other user of that number), so stale ones are found and removed.
set -uo pipefail
PROTO=199
KC=""
for f in /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf; do
	if [[ -f $f ]]; then KC=$f; break; fi
done
[[ -n $KC ]] || exit 0 # not joined yet
nodes=$(kubectl --kubeconfig "$KC" --request-timeout=10s get nodes -o \
	jsonpath='{range .items[*]}{.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}') || exit 0
mine=" $(ip -o addr show | awk '{print $4}' | cut -d/ -f1 | tr '\n' ' ') "
wanted=" "
while read -r cidr addr; do
	[[ -n ${cidr:-} && -n ${addr:-} ]] || continue
	[[ $mine == *" $addr "* ]] && continue
	ip route replace "$cidr" via "$addr" proto "$PROTO" || echo "pod-routes: cannot route $cidr via $addr" >&2
	wanted+="$cidr "
done <<<"$nodes"
while read -r dst _; do
	[[ -n ${dst:-} && $wanted != *" $dst "* ]] && ip route del "$dst" proto "$PROTO"
done < <(ip route show proto "$PROTO")
exit 0
