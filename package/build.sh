#!/usr/bin/env bash
# Builds seal's offline package: kube<VERSION>.tar.gz (+ .sha256) in the sealos layout, from what
# this machine can have — Kubernetes built from Debian's source by kubeadm-patch/build.sh, the
# container runtime and etcd from Debian's packages, lvscare and the image archive from this
# workspace. See usage() and README.md. Progress goes to stderr; the last line of stdout is the
# path of the package.
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: package/build.sh [--out FILE] [--version v1.20.2] [--from DIR] [--install-deps]

  --out FILE      the package (default $SEAL_PACKAGE_CACHE/kube<VERSION>.tar.gz); FILE.sha256 beside it
  --version V     Kubernetes version (default v1.20.2; another version needs --from)
  --from DIR      use upstream release artefacts instead of building Kubernetes here: DIR/kubeadm,
                  DIR/kubelet, DIR/kubectl (and DIR/crictl, else the one built here), and every
                  DIR/images/*.tar (docker-archives as `docker save` or `ctr export` write them)
                  is shipped as is. kubeadm is used unpatched then.
  --install-deps  apt-get install the missing build tools (needs root)

The package holds kube/bin (kubeadm kubelet kubectl crictl containerd containerd-shim-runc-v2 ctr
runc), kube/cni (CNI plugins), kube/images/images.tar (kube-proxy, pause, lvscare: every host) and
control-plane.tar (apiserver, controller-manager, scheduler, etcd: masters only),
kube/conf (containerd, kubelet units and configuration, the CNI template), kube/shell (init.sh,
clean.sh) and kube/VERSION. CoreDNS has no source on this machine and is not in it (its add-on
phase is skipped by seal-install).

Cache: $SEAL_PACKAGE_CACHE (default /var/cache/seal-package): Debian packages, unpacked roots,
the staged tree and the package, reused while its inputs are unchanged.
USAGE
}

log() { printf 'package/build.sh: %s\n' "$*" >&2; }
die() {
	printf 'package/build.sh: error: %s\n' "$*" >&2
	exit 1
}

VERSION=v1.20.2
OUT=""
FROM=""
INSTALL_DEPS=0
while [[ $# -gt 0 ]]; do
	case "$1" in
	--out) OUT=${2:?--out needs a file}; shift 2 ;;
	--version) VERSION=${2:?--version needs a value}; shift 2 ;;
	--from) FROM=${2:?--from needs a directory}; shift 2 ;;
	--install-deps) INSTALL_DEPS=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
[[ $VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--version must look like v1.20.2, got '$VERSION'"
if [[ -n $FROM ]]; then
	[[ -d $FROM ]] || die "--from $FROM is not a directory"
	FROM=$(cd "$FROM" && pwd -P)
	for b in kubeadm kubelet kubectl; do
		[[ -x $FROM/$b ]] || die "--from $FROM has no executable '$b' (put the release binaries there)"
	done
elif [[ $VERSION != v1.20.2 ]]; then
	die "only v1.20.2 can be built from this machine's sources; for $VERSION download the release binaries and images and pass --from DIR"
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CACHE=${SEAL_PACKAGE_CACHE:-/var/cache/seal-package}
OUT=${OUT:-$CACHE/kube${VERSION#v}.tar.gz}

# --- tools --------------------------------------------------------------------------------------
NEED=(apt-get:apt dpkg-deb:dpkg gcc:gcc cargo:cargo tar:tar gzip:gzip sha256sum:coreutils flock:util-linux chroot:coreutils)
MISSING=""
for t in "${NEED[@]}"; do command -v "${t%%:*}" >/dev/null 2>&1 || MISSING+="$t "; done
if [[ -n $MISSING && $INSTALL_DEPS == 1 ]]; then
	PKGS=$(printf '%s\n' $MISSING | cut -d: -f2 | sort -u | tr '\n' ' ')
	log "installing: $PKGS"
	apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PKGS >&2 ||
		die "apt-get install $PKGS failed"
	MISSING=""
	for t in "${NEED[@]}"; do command -v "${t%%:*}" >/dev/null 2>&1 || MISSING+="$t "; done
fi
[[ -z $MISSING ]] || die "missing tools (tool:Debian package): $MISSING— install them or rerun with --install-deps"

mkdir -p "$CACHE"/{debs,roots} || die "cannot create cache $CACHE (set SEAL_PACKAGE_CACHE)"
exec 9>"$CACHE/lock"
flock 9
START=$(date +%s)

# --- inputs -------------------------------------------------------------------------------------
# Kubernetes: built here (patched kubeadm, every other binary from the same tree) or --from.
KBIN=$CACHE/kbin
rm -rf "$KBIN" && mkdir -p "$KBIN"
if [[ -z $FROM ]]; then
	log "building Kubernetes $VERSION and crictl (kubeadm-patch/build.sh; cached after the first run)"
	built=$("$ROOT/kubeadm-patch/build.sh" --version "$VERSION" --install-deps \
		--what "kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy crictl" \
		--add-cmd "crictl=$HERE/crictl" | tail -n1) || die "kubeadm-patch/build.sh failed"
	cp -a "$built"/. "$KBIN"/
else
	cp -a "$FROM"/kubeadm "$FROM"/kubelet "$FROM"/kubectl "$KBIN"/
	if [[ -x $FROM/crictl ]]; then
		cp -a "$FROM/crictl" "$KBIN/"
	else
		log "--from has no crictl: building seal's (kubeadm-patch/build.sh)"
		built=$("$ROOT/kubeadm-patch/build.sh" --install-deps --what crictl --add-cmd "crictl=$HERE/crictl" | tail -n1) ||
			die "building crictl failed"
		cp -a "$built/crictl" "$KBIN/"
	fi
fi

# Debian packages: the runtime for the hosts, etcd and the kube-proxy image's iptables/ipset.
DEBS=(containerd runc containernetworking-plugins etcd-server etcd-client libc6 iptables libxtables12
	libip4tc2 libip6tc2 libnftnl11 libmnl0 libnetfilter-conntrack3 libnfnetlink0 ipset libipset13 conntrack)
(
	cd "$CACHE/debs"
	missing=()
	for d in "${DEBS[@]}"; do compgen -G "${d}_*.deb" >/dev/null || missing+=("$d"); done
	if [[ ${#missing[@]} -gt 0 ]]; then
		log "downloading Debian packages: ${missing[*]}"
		apt-get download "${missing[@]}" >&2 2>/dev/null || {
			apt-get update -q >&2 && apt-get download "${missing[@]}" >&2
		} || die "apt-get download ${missing[*]} failed (run apt-get update?)"
	fi
) || exit 1
deb_root() { # deb_root NAME: the unpacked root of one Debian package (made once)
	local d
	d=$(compgen -G "$CACHE/debs/${1}_*.deb" | sort | tail -n1)
	local r=$CACHE/roots/$(basename "$d" .deb)
	if [[ ! -d $r ]]; then
		dpkg-deb -x "$d" "$r.tmp" || die "dpkg-deb -x $d failed"
		# Documentation has no use in an image.
		rm -rf "$r.tmp/usr/share/doc" "$r.tmp/usr/share/man" "$r.tmp/usr/share/lintian" "$r.tmp/usr/share/locale"
		mv "$r.tmp" "$r"
	fi
	printf '%s\n' "$r"
}
for d in "${DEBS[@]}"; do deb_root "$d" >/dev/null; done

# lvscare, static (it runs in a FROM-scratch image and on any node), and seal-package.
log "building lvscare (static) and seal-package"
(cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -q -p lvscare \
	--target x86_64-unknown-linux-gnu >&2) || die "cargo build lvscare failed"
(cd "$ROOT" && cargo build --release -q -p packager >&2) || die "cargo build packager failed"
LVSCARE=$ROOT/target/x86_64-unknown-linux-gnu/release/lvscare
SEAL_PACKAGE=$ROOT/target/release/seal-package
LVSCARE_VERSION=$("$LVSCARE" --version | awk '{print $2}')

# pause: the sandbox image's one binary, from the Kubernetes tree's own source.
PAUSE_SRC=$(compgen -G "/var/cache/seal-kubeadm/pristine/v1.20.2/build/pause/linux/pause.c" || true)
[[ -n $PAUSE_SRC ]] || PAUSE_SRC=$(compgen -G "/var/cache/seal-kubeadm/pristine/*/build/pause/linux/pause.c" | head -n1 || true)
[[ -n $PAUSE_SRC ]] || die "pause.c not found (kubeadm-patch/build.sh unpacks the Kubernetes source first)"
mkdir -p "$CACHE/pause"
gcc -Os -static -DVERSION=v3.2-seal -o "$CACHE/pause/pause.tmp" "$PAUSE_SRC" && strip "$CACHE/pause/pause.tmp" &&
	mv "$CACHE/pause/pause.tmp" "$CACHE/pause/pause" || die "gcc -static pause.c failed"

# --- the package tree ---------------------------------------------------------------------------
STAGE=$CACHE/stage
rm -rf "$STAGE" && mkdir -p "$STAGE/kube"/{bin,cni,images,conf,shell}
K=$STAGE/kube
install -m 0755 "$KBIN"/kubeadm "$KBIN"/kubelet "$KBIN"/kubectl "$KBIN"/crictl "$K/bin/"
CTD=$(deb_root containerd)
install -m 0755 "$CTD"/usr/bin/containerd "$CTD"/usr/bin/containerd-shim-runc-v2 "$CTD"/usr/bin/ctr "$K/bin/"
install -m 0755 "$(deb_root runc)"/usr/sbin/runc "$K/bin/"
CNI=$(deb_root containernetworking-plugins)/usr/lib/cni
for p in bridge host-local loopback portmap; do install -m 0755 "$CNI/$p" "$K/cni/"; done
# iptables (nft backend) and conntrack for hosts that lack them: kubeadm's preflight requires both,
# kubelet and the CNI bridge's masquerade run iptables. Self-contained (own libraries, run
# through wrappers that init.sh installs only where the host has no iptables of its own).
NF=$K/netfilter
mkdir -p "$NF"/{bin,lib,xtables}
install -m 0755 "$(deb_root iptables)"/usr/sbin/xtables-nft-multi "$(deb_root conntrack)"/usr/sbin/conntrack "$NF/bin/"
for d in libxtables12 libnftnl11 libmnl0 libnetfilter-conntrack3 libnfnetlink0; do
	cp -a "$(deb_root "$d")"/usr/lib/x86_64-linux-gnu/*.so.* "$NF/lib/"
done
cp -a "$(deb_root iptables)"/usr/lib/x86_64-linux-gnu/xtables/. "$NF/xtables/"
install -m 0644 "$HERE"/kube/conf/* "$K/conf/"
install -m 0755 "$HERE"/kube/shell/* "$K/shell/"
printf '%s\n' "$VERSION" >"$K/VERSION"
# Extra kubeadm flags seal-install passes (see installer/src/plan.rs): no CoreDNS image can be
# built here, so its add-on phase is skipped and preflight's pull of it is not an error (upgrade
# apply pulls it too; its DNS step skips a cluster that has no CoreDNS ConfigMap).
if [[ -z $FROM ]]; then
	echo "--skip-phases=addon/coredns --ignore-preflight-errors=ImagePull" >"$K/conf/kubeadm-init.flags"
	echo "--ignore-preflight-errors=ImagePull" >"$K/conf/kubeadm-join.flags"
	echo "--ignore-preflight-errors=ImagePull" >"$K/conf/kubeadm-upgrade.flags"
fi

# --- images -------------------------------------------------------------------------------------
# The kube-proxy image's root: libc, iptables (nft), ipset, conntrack and their libraries.
PROXY_DEBS=(libc6 iptables libxtables12 libip4tc2 libip6tc2 libnftnl11 libmnl0 libnetfilter-conntrack3
	libnfnetlink0 ipset libipset13 conntrack)
# Two archives: images.tar holds what every host runs (kube-proxy, pause, lvscare);
# control-plane.tar what only masters run. init.sh skips the latter on a node (SEAL_ROLE=node):
# a worker never starts an apiserver, and importing 300 MB it never uses costs minutes on a slow host.
SPEC=$CACHE/images.spec
SPEC_CP=$CACHE/control-plane.spec
LIBC=$(deb_root libc6)
if [[ -z $FROM ]]; then
	{
		echo "# written by package/build.sh"
		for c in kube-apiserver kube-controller-manager kube-scheduler; do
			echo "image k8s.gcr.io/$c:$VERSION"
			echo "env PATH=/usr/local/bin:/usr/bin:/bin"
			echo "add $KBIN/$c /usr/local/bin/$c 0755"
		done
		# etcd: Debian's 3.4.23 (kubeadm v1.20.2 only checks the image name), with its libc.
		echo "image k8s.gcr.io/etcd:3.4.13-0"
		echo "env PATH=/usr/local/bin:/usr/bin:/bin"
		echo "tree $LIBC /"
		echo "add $(deb_root etcd-server)/usr/bin/etcd /usr/local/bin/etcd 0755"
		echo "add $(deb_root etcd-client)/usr/bin/etcdctl /usr/local/bin/etcdctl 0755"
		echo "dir /tmp"
	} >"$SPEC_CP"
fi
{
	echo "# written by package/build.sh"
	if [[ -z $FROM ]]; then
		# kube-proxy in IPVS mode runs iptables(-restore) and ipset: Debian's, nft backend.
		echo "image k8s.gcr.io/kube-proxy:$VERSION"
		echo "env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		for d in "${PROXY_DEBS[@]}"; do
			echo "tree $(deb_root "$d") /"
		done
		for t in iptables iptables-restore iptables-save ip6tables ip6tables-restore ip6tables-save; do
			echo "link /usr/sbin/$t xtables-nft-multi"
		done
		echo "add $KBIN/kube-proxy /usr/local/bin/kube-proxy 0755"
		echo "dir /tmp"
		echo "dir /run"
		echo "image k8s.gcr.io/pause:3.2 /pause"
		echo "add $CACHE/pause/pause /pause 0755"
	fi
	echo "image docker.io/library/lvscare:v$LVSCARE_VERSION /usr/bin/lvscare"
	echo "add $LVSCARE /usr/bin/lvscare 0755"
} >"$SPEC"

# A cheap check that each image's programs run on their own (no library missing): the
# kube-proxy and etcd roots are assembled once more in a folder and run under chroot.
if [[ -z $FROM && $(id -u) == 0 ]]; then
	CHK=$CACHE/check-root
	rm -rf "$CHK" && mkdir -p "$CHK"
	for d in "${PROXY_DEBS[@]}"; do cp -a "$(deb_root "$d")"/. "$CHK"/; done
	ln -sf xtables-nft-multi "$CHK/usr/sbin/iptables"
	cp "$(deb_root etcd-server)/usr/bin/etcd" "$CHK/etcd"
	chroot "$CHK" /usr/sbin/iptables --version >/dev/null || die "iptables does not run from the kube-proxy image's files"
	chroot "$CHK" /usr/sbin/ipset version >/dev/null || die "ipset does not run from the kube-proxy image's files"
	chroot "$CHK" /etcd --version >/dev/null || die "etcd does not run from the etcd image's files"
	rm -rf "$CHK"
fi

log "writing kube/images/images.tar"
"$SEAL_PACKAGE" image-archive "$SPEC" "$K/images/images.tar" >"$CACHE/images.list" || die "seal-package image-archive failed"
cut -d' ' -f1 "$CACHE/images.list" >"$K/images/images.list"
if [[ -z $FROM ]]; then
	log "writing kube/images/control-plane.tar"
	"$SEAL_PACKAGE" image-archive "$SPEC_CP" "$K/images/control-plane.tar" >"$CACHE/control-plane.list" ||
		die "seal-package image-archive failed"
	cut -d' ' -f1 "$CACHE/control-plane.list" >"$K/images/control-plane.list"
	cat "$CACHE/control-plane.list" >>"$CACHE/images.list"
fi
if [[ -n $FROM ]]; then
	shopt -s nullglob
	for f in "$FROM"/images/*.tar; do cp "$f" "$K/images/"; done
	shopt -u nullglob
fi
sed 's/^/package\/build.sh: image /' "$CACHE/images.list" >&2

# --- the archive --------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
log "writing $OUT"
tar -C "$STAGE" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - kube | gzip -1 -n >"$OUT.tmp" ||
	die "writing $OUT failed"
mv "$OUT.tmp" "$OUT"
(cd "$(dirname "$OUT")" && sha256sum "$(basename "$OUT")" | cut -d' ' -f1 >"$(basename "$OUT").sha256.tmp" &&
	mv "$(basename "$OUT").sha256.tmp" "$(basename "$OUT").sha256")
log "done in $(($(date +%s) - START)) s: $(du -h "$OUT" | cut -f1) ($(cat "$OUT.sha256"))"
echo "$OUT"
