#!/usr/bin/env bash
# The project's entry points for people and CI:
#   ./dev.sh demo   build lvscare and run its failover demo in the real-kernel test bed
#   ./dev.sh test   install what the tests need, build, and run every test (lvscare's fuzz
#                   targets included, 60 s each: FUZZ_SECONDS changes that)
#   ./dev.sh test-real   the real-cluster test alone (35-60 min, not in CI); with
#                   SEAL_REAL_CLUSTER_FULL=1 (or a list of its phases) its slow phases too
# Both install their Debian packages first when run as root (apt-get update, then install).
set -euo pipefail
cd "$(dirname "$0")"

# Host packages: the QEMU test bed (kernel from Debian, busybox initramfs, 9p root), the programs
# used as independent witnesses inside VMs (ipvsadm, curl, openssl, ssh, nft), the apiserver test
# double (python3), sudo for the installer's SSH tests, and what kubeadm-patch and package/build.sh
# need to build Kubernetes from Debian's source (reflect2 v1.0.2 among it) and the offline package,
# etcdctl, the witness that a backup is a valid etcd snapshot, etcd, the real members of the
# member-removal test, g++, which builds libFuzzer for lvscare's fuzz targets, and e2fsprogs,
# which formats the disk of a test VM that is power-cycled.
PACKAGES="qemu-system-x86 busybox-static kmod cpio xz-utils iproute2 ipvsadm openssh-server
  openssh-client sudo curl openssl python3 nftables procps golang-go golang-github-modern-go-reflect2-dev rsync patch
  make dpkg-dev binutils util-linux gcc g++ etcd-client etcd-server python3-prometheus-client e2fsprogs"

deps() {
  if [ "$(id -u)" != 0 ]; then
    echo "dev.sh: not root: skipping package installation (the VM tests need root anyway)" >&2
    return 0
  fi
  local missing
  # shellcheck disable=SC2086
  missing=$(dpkg-query -W -f='${Package} ${Status}\n' $PACKAGES 2>&1 | awk '!/install ok installed/ {print $1}' || true)
  if [ -n "$missing" ] || [ "${CI:-}" = true ]; then
    echo "dev.sh: installing packages" >&2
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
    # Debian's etcd-server starts the service it installs (the tests start their own members).
    if [ -d /run/systemd/system ]; then systemctl stop etcd 2>/dev/null || true; else /etc/init.d/etcd stop >/dev/null 2>&1 || true; fi
  fi
  # ... and enables it: the test VMs boot this machine's root with systemd, where it would take
  # the port of kubeadm's etcd.
  rm -f /etc/systemd/system/multi-user.target.wants/etcd.service
}

case "${1:-}" in
  demo)
    deps
    cargo build --release -p lvscare -p seal-testbed
    exec ./target/release/testbed demo
    ;;
  test)
    deps
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    # kubeadm-patch first: it builds the patched kubeadm that a real-kernel test then uses.
    rc=0
    ./kubeadm-patch/test.sh | tee "$log" || rc=1
    # The real offline package (cached in /var/cache/seal-package) for the real-cluster test.
    if pkg=$(./package/build.sh --install-deps | tail -n1); then
      export SEAL_PACKAGE=$pkg
    else
      echo "dev.sh: package/build.sh failed" >&2
      rc=1
    fi
    cargo build --workspace --all-targets
    cargo clippy --workspace --all-targets -- -D warnings || { echo "dev.sh: clippy found problems" >&2; rc=1; }
    cargo test --workspace --no-fail-fast 2>&1 | tee -a "$log" || rc=1
    # lvscare's decoders and parsers under libFuzzer (own crate, own build in /var/cache/seal-fuzz).
    ./lvscare/fuzz/run.sh || { echo "dev.sh: fuzzing found a problem" >&2; rc=1; }
    # One closing line for the whole run (cargo's own last line is the doc-tests' summary).
    awk '/^test result:/ { p += $4; f += $6 } /^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 }
         END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
    exit "$rc"
    ;;
  test-real)
    deps
    pkg=$(./package/build.sh --install-deps | tail -n1)
    cargo build --workspace --all-targets
    SEAL_REAL_CLUSTER=1 SEAL_PACKAGE=$pkg exec cargo test -p seal-testbed --test real_cluster -- --nocapture
    ;;
  *)
    sed -n '2,7p' "$0" >&2
    exit 2
    ;;
esac
