#!/usr/bin/env bash
# End-to-end test of the kubeadm patches: builds the patched and the unpatched kubeadm with
# build.sh (both cached), then checks certificate lifetimes with openssl and the join --master
# path with a fake lvscare. One line per check; the last line is "N passed, N failed".
# Usage: test.sh [--install-deps]     (--install-deps: as root, apt-get install what is missing)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INSTALL_DEPS=0
for a in "$@"; do
	case "$a" in
	--install-deps) INSTALL_DEPS=1 ;;
	-h | --help) sed -n '2,5p' "$0"; exit 0 ;;
	*) echo "test.sh: unknown argument: $a" >&2; exit 2 ;;
	esac
done

PASSED=0
FAILED=0
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
skip() { echo "SKIP $*"; }
finish() {
	echo "$PASSED passed, $FAILED failed"
	[[ $FAILED == 0 ]]
	exit
}

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# --- dependencies ---------------------------------------------------------------------------------
if [[ $INSTALL_DEPS == 1 ]]; then
	if [[ $(id -u) != 0 ]]; then
		fail "install dependencies: --install-deps needs root"
		finish
	fi
	if apt-get update -q >"$T/apt.log" 2>&1 &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			openssl golang-go golang-github-modern-go-reflect2-dev make rsync patch dpkg-dev xz-utils util-linux coreutils >>"$T/apt.log" 2>&1; then
		pass "install dependencies (apt-get update; apt-get install)"
	else
		tail -n 20 "$T/apt.log"
		fail "install dependencies: apt-get failed"
		finish
	fi
fi
if ! command -v openssl >/dev/null; then
	fail "openssl is missing (Debian package: openssl; or run test.sh --install-deps as root)"
	finish
fi

# --- builds ---------------------------------------------------------------------------------------
# build NAME ARGS...: runs build.sh, sets BIN to the last stdout line.
build() {
	local name=$1 start
	shift
	start=$(date +%s)
	BIN=""
	if "$HERE/build.sh" "$@" >"$T/$name.out" 2>"$T/$name.err"; then
		BIN=$(tail -n 1 "$T/$name.out")
	fi
	if [[ -n $BIN && -x $BIN ]]; then
		pass "build $name kubeadm ($(($(date +%s) - start)) s): $BIN"
	else
		tail -n 20 "$T/$name.err"
		fail "build $name kubeadm (build.sh $*)"
		BIN=""
	fi
}
DEP_FLAG=()
[[ $INSTALL_DEPS == 1 ]] && DEP_FLAG=(--install-deps)
build patched "${DEP_FLAG[@]}"
PATCHED=$BIN
build unpatched --no-patches "${DEP_FLAG[@]}"
UNPATCHED=$BIN
if [[ -z $PATCHED || -z $UNPATCHED ]]; then finish; fi

for k in "$PATCHED" "$UNPATCHED"; do
	v=$("$k" version -o short 2>/dev/null)
	if [[ $v == v1.20.2 ]]; then pass "$k reports version $v"; else fail "$k reports version '$v', want v1.20.2"; fi
done

# --- certificate lifetimes ------------------------------------------------------------------------
NOW=$(date +%s)
DAY=86400
end_epoch() { date -d "$(openssl x509 -noout -enddate -in "$1" | cut -d= -f2)" +%s; }
days_left() { echo $((($(end_epoch "$1") - NOW) / DAY)); }
is_ca() { openssl x509 -noout -text -in "$1" | grep -q 'CA:TRUE'; }
# at_least_98y CERT: the property the patch promises (98 x 365.25 days = 35794 days).
at_least_98y() { [[ $(days_left "$1") -ge 35794 ]]; }

# certs KUBEADM DIR: offline `kubeadm init phase certs all` into DIR.
certs() {
	"$1" init phase certs all --cert-dir "$2" --kubernetes-version v1.20.2 >"$T/certs.log" 2>&1 ||
		{ tail -n 5 "$T/certs.log"; return 1; }
}

EXPECTED_LEAVES=7 # apiserver, apiserver-kubelet-client, apiserver-etcd-client, front-proxy-client, etcd/{server,peer,healthcheck-client}
if certs "$PATCHED" "$T/p"; then
	n=0
	for c in "$T"/p/*.crt "$T"/p/etcd/*.crt; do
		rel=${c#"$T"/p/}
		d=$(days_left "$c")
		if is_ca "$c"; then kind=CA; else kind=leaf; n=$((n + 1)); fi
		if at_least_98y "$c"; then
			pass "patched $kind $rel valid $d days (>= 98 years)"
		else
			fail "patched $kind $rel valid $d days, want >= 98 years"
		fi
	done
	if [[ $n == "$EXPECTED_LEAVES" ]]; then pass "patched init made $n leaf certificates"; else fail "patched init made $n leaf certificates, want $EXPECTED_LEAVES"; fi
	# The kubeconfig client certificates are signed by the same code path.
	if "$PATCHED" init phase kubeconfig admin --cert-dir "$T/p" --kubeconfig-dir "$T/p" \
		--apiserver-advertise-address 10.0.0.1 --kubernetes-version v1.20.2 >"$T/kc.log" 2>&1 &&
		sed -n 's/^ *client-certificate-data: //p' "$T/p/admin.conf" | base64 -d >"$T/admin.crt" 2>/dev/null &&
		at_least_98y "$T/admin.crt"; then
		pass "patched admin.conf client certificate valid $(days_left "$T/admin.crt") days (>= 98 years)"
	else
		fail "patched admin.conf client certificate not >= 98 years"
	fi
else
	fail "patched kubeadm init phase certs all"
fi

if certs "$UNPATCHED" "$T/u"; then
	for c in "$T"/u/*.crt "$T"/u/etcd/*.crt; do
		rel=${c#"$T"/u/}
		d=$(days_left "$c")
		if is_ca "$c"; then
			if [[ $d -ge 3645 && $d -le 3655 ]]; then pass "unpatched CA $rel valid $d days (~10 years)"; else fail "unpatched CA $rel valid $d days, want ~3650"; fi
		else
			if [[ $d -ge 363 && $d -le 366 ]]; then pass "unpatched leaf $rel valid $d days (~1 year)"; else fail "unpatched leaf $rel valid $d days, want ~365"; fi
		fi
	done
	# Negative control: the 98-year predicate must reject what unpatched kubeadm makes.
	if at_least_98y "$T/u/apiserver.crt"; then
		fail "negative control: the 98-year check accepts the unpatched apiserver.crt"
	else
		pass "negative control: the 98-year check rejects the unpatched apiserver.crt"
	fi
else
	fail "unpatched kubeadm init phase certs all"
fi

# --- certs renew ----------------------------------------------------------------------------------
# renew KUBEADM DIR: `kubeadm alpha certs renew apiserver` with a config pointing at DIR (offline).
renew() {
	cat >"$T/renew.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
certificatesDir: $2
EOF
	"$1" alpha certs renew apiserver --config "$T/renew.yaml" >"$T/renew.log" 2>&1 || { tail -n 5 "$T/renew.log"; return 1; }
}
serial() { openssl x509 -noout -serial -in "$1"; }
if [[ -f $T/p/apiserver.crt ]]; then
	s0=$(serial "$T/p/apiserver.crt")
	if renew "$PATCHED" "$T/p" && [[ $(serial "$T/p/apiserver.crt") != "$s0" ]] && at_least_98y "$T/p/apiserver.crt"; then
		pass "patched alpha certs renew apiserver: new certificate valid $(days_left "$T/p/apiserver.crt") days"
	else
		fail "patched alpha certs renew apiserver: no new >= 98-year certificate"
	fi
fi
if [[ -f $T/u/apiserver.crt ]]; then
	# Under an unpatched 10-year CA a renewed certificate ends with its CA, not 99 years later.
	if renew "$PATCHED" "$T/u" && [[ $(end_epoch "$T/u/apiserver.crt") == "$(end_epoch "$T/u/ca.crt")" ]]; then
		pass "patched renew under a 10-year CA ends with the CA ($(days_left "$T/u/apiserver.crt") days)"
	else
		fail "patched renew under a 10-year CA: apiserver.crt ends $(days_left "$T/u/apiserver.crt") days, CA $(days_left "$T/u/ca.crt") days"
	fi
fi

# --- join --master --------------------------------------------------------------------------------
if "$PATCHED" join --help 2>/dev/null | grep -q -- '--master strings'; then
	pass "patched kubeadm join --help lists --master"
else
	fail "patched kubeadm join --help does not list --master"
fi
if "$UNPATCHED" join --help 2>/dev/null | grep -q -- '--master'; then
	fail "negative control: unpatched kubeadm join --help lists --master"
else
	pass "negative control: unpatched kubeadm join --help has no --master"
fi

# The join path runs as root inside a private mount namespace whose /etc is an overlay, so the
# manifest lands in a throw-away /etc/kubernetes. Discovery then fails (nothing listens on the
# VIP), which ends the join before anything else is touched.
if [[ $(id -u) != 0 ]] || ! unshare -m true 2>/dev/null; then
	skip "join --master path (needs root and mount namespaces)"
	finish
fi
mkdir -p "$T/bin"
# Fake lvscare: logs its arguments, prints a manifest for `manifest`, fails on request.
cat >"$T/bin/lvscare" <<'EOF'
#!/bin/sh
echo "$*" >>"$LVSCARE_LOG"
if [ "$1" = "${LVSCARE_FAIL:-}" ]; then echo "fake lvscare: $1 failed on purpose" >&2; exit 3; fi
if [ "$1" = manifest ]; then printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-lvscare\n# args: %s\n' "$*"; fi
exit 0
EOF
chmod +x "$T/bin/lvscare"
cat >"$T/join.yaml" <<'EOF'
apiVersion: kubeadm.k8s.io/v1beta2
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: 127.0.0.1:6443
    token: abcdef.0123456789abcdef
    unsafeSkipCAVerification: true
  timeout: 3s
nodeRegistration:
  criSocket: /var/run/dockershim.sock
EOF
# join_in_ns NAME PATH ARGS...: kubeadm join in the namespace; copies the resulting manifests dir
# to $T/NAME.manifests, output to $T/NAME.log, lvscare calls to $T/NAME.calls; returns join's status.
join_in_ns() {
	local name=$1 path=$2
	shift 2
	mkdir -p "$T/$name.up" "$T/$name.wk" "$T/$name.manifests"
	: >"$T/$name.calls"
	# shellcheck disable=SC2016 # the inner script expands its own positional parameters
	PATH=$path LVSCARE_LOG="$T/$name.calls" LVSCARE_FAIL="${LVSCARE_FAIL:-}" timeout 120 unshare -m sh -c '
		mount --make-rprivate / &&
		mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1.up,workdir=$1.wk" /etc || exit 99
		shift; "$@"; rc=$?
		cp -a /etc/kubernetes/manifests/. "$0.manifests/" 2>/dev/null
		exit $rc' "$T/$name" "$T/$name" "$PATCHED" join "$@" >"$T/$name.log" 2>&1
}
VS=127.0.0.1:6443
RS="--rs 10.0.0.1:6443 --rs 10.0.0.2:6443"
WANT_CALLS="manifest --vs $VS $RS
care --run-once --vs $VS $RS"

join_in_ns ok "$T/bin:$PATH" --config "$T/join.yaml" --master 10.0.0.1:6443 --master 10.0.0.2:6443 \
	--ignore-preflight-errors=all
if [[ $(cat "$T/ok.calls") == "$WANT_CALLS" ]]; then
	pass "join --master runs 'lvscare manifest' then 'lvscare care --run-once' with --vs $VS $RS"
else
	fail "join --master lvscare calls: $(tr '\n' ';' <"$T/ok.calls"), want: $(tr '\n' ';' <<<"$WANT_CALLS")"
fi
if [[ -f $T/ok.manifests/kube-lvscare.yaml ]] &&
	grep -qx "# args: manifest --vs $VS $RS" "$T/ok.manifests/kube-lvscare.yaml"; then
	pass "join --master writes lvscare's manifest output to /etc/kubernetes/manifests/kube-lvscare.yaml"
else
	fail "join --master did not write /etc/kubernetes/manifests/kube-lvscare.yaml from lvscare's output"
fi
if grep -q 'lvscare' "$T/ok.log" && grep -q 'cluster-info\|validate the identity' "$T/ok.log"; then
	pass "join --master sets up the balancer before discovery (discovery then runs and fails: no API server)"
else
	tail -n 5 "$T/ok.log"
	fail "join --master: balancer not set up before discovery"
fi

LVSCARE_FAIL=care join_in_ns carefail "$T/bin:$PATH" --config "$T/join.yaml" --master 10.0.0.1:6443 --ignore-preflight-errors=all
rc=$?
if [[ $rc != 0 && $rc != 99 ]] && grep -q "'lvscare care --run-once --vs $VS --rs 10.0.0.1:6443' failed" "$T/carefail.log" &&
	grep -q 'care failed on purpose' "$T/carefail.log" && [[ ! -e $T/carefail.manifests/kube-lvscare.yaml ]] &&
	! grep -q 'cluster-info\|validate the identity' "$T/carefail.log"; then
	pass "join fails with lvscare's error when 'lvscare care' fails (no manifest, no discovery)"
else
	tail -n 5 "$T/carefail.log"
	fail "join with a failing 'lvscare care' (exit $rc)"
fi

join_in_ns nolvscare "/usr/sbin:/usr/bin:/sbin:/bin" --config "$T/join.yaml" --master 10.0.0.1:6443 --ignore-preflight-errors=all
rc=$?
if [[ $rc != 0 && $rc != 99 ]] && grep -q 'needs the lvscare binary in PATH' "$T/nolvscare.log"; then
	pass "join --master without lvscare in PATH fails up front"
else
	tail -n 5 "$T/nolvscare.log"
	fail "join --master without lvscare in PATH (exit $rc)"
fi

join_in_ns badmaster "$T/bin:$PATH" --config "$T/join.yaml" --master 10.0.0.1 --ignore-preflight-errors=all
rc=$?
if [[ $rc != 0 && $rc != 99 && ! -s $T/badmaster.calls ]] && grep -q 'invalid --master' "$T/badmaster.log"; then
	pass "join --master 10.0.0.1 (no port) is rejected before lvscare runs"
else
	tail -n 5 "$T/badmaster.log"
	fail "join --master 10.0.0.1 (exit $rc)"
fi

# A control-plane join (controlPlane in the config; flags would leave the 5-minute discovery timeout).
{
	cat "$T/join.yaml"
	printf 'controlPlane:\n  localAPIEndpoint:\n    advertiseAddress: 10.0.0.9\n'
} >"$T/join-cp.yaml"
join_in_ns cp "$T/bin:$PATH" --config "$T/join-cp.yaml" --master 10.0.0.1:6443 --ignore-preflight-errors=all
if [[ ! -s $T/cp.calls ]] && grep -q -- '--master is ignored' "$T/cp.log" &&
	grep -q 'cluster-info\|validate the identity' "$T/cp.log"; then
	pass "join --control-plane --master warns and reaches discovery without running lvscare"
else
	tail -n 5 "$T/cp.log"
	fail "join --control-plane --master ran lvscare or did not warn"
fi

finish
