#!/bin/bash
# Undoes what init.sh installed beyond the files seal-install removes itself (run by
# `seal-install clean` before /root/kube is deleted).
set -u
rm -rf /usr/local/lib/seal-doubles
rm -f /etc/sysctl.d/k8s.conf
echo "clean.sh: done"
