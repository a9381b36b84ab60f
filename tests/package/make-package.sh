#!/bin/bash
# Builds the installer tests' offline package: OUT.tar.gz (+ OUT.tar.gz.sha256). The Kubernetes
# binaries in it are TEST DOUBLES (tests/package/kube/bin); init.sh is the real kind of script.
set -eu
out=${1:?usage: make-package.sh OUT.tar.gz}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -a "$here/kube" "$tmp/kube"
cp "$here/../vm/fake-apiserver.py" "$tmp/kube/bin/fake-apiserver.py"
# git keeps no empty folder: images/ is made here.
mkdir -p "$tmp/kube/images"
tar -C "$tmp" -cf "$tmp/kube/images/images.tar" --files-from /dev/null
tar -C "$tmp" --owner=0 --group=0 --sort=name --mtime=@0 -czf "$out.tmp" kube
mv "$out.tmp" "$out"
sha256sum "$out" | cut -d' ' -f1 > "$out.sha256"
