#!/bin/sh
# Stage 2 of a test-bed VM, inside the overlay root: basic mounts, modules, network, optional sshd,
# then the run's script. Its output goes to /seal/output.log and its exit status to /seal/exit-code.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
. /seal/vm.conf
# /tmp stays the overlay (writable, and the host's /tmp shows through: a checkout or build
# under /tmp must be visible in the VM); /run starts empty as on a booted machine.
if [ "${SEAL_SYSTEMD:-0}" = 1 ]; then
  # systemd mounted /run, /dev/pts, /dev/shm and the cgroups; init bound the modules.
  mkdir -p /run/netns
  # containerd's overlayfs snapshots cannot live on the overlay root: give it a disk of its own,
  # as a real host has one.
  mkdir -p /var/lib/containerd && mount -t tmpfs -o size=60% tmpfs /var/lib/containerd
  # The kernel's configuration where a host keeps it (kubeadm's system verification reads it).
  cfg="$SEAL_MODDIR/../../../boot/config-$SEAL_KVER"
  [ -f "$cfg" ] && cp "$cfg" "/boot/config-$SEAL_KVER"
else
  mount -t tmpfs tmpfs /run
  mkdir -p /dev/pts /run/netns /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
  # The kernel's own modules live in the host's cache; make them visible where modprobe looks, so
  # on-demand loading (ip_vs schedulers, nft expressions) works as on a real node.
  mkdir -p "/lib/modules/$SEAL_KVER" && mount --bind "$SEAL_MODDIR" "/lib/modules/$SEAL_KVER"
fi
for m in $SEAL_MODULES; do modprobe "$m" || echo "stage2: modprobe $m failed" >&2; done
hostname "$SEAL_HOSTNAME"
echo "$SEAL_HOSTNAME" > /etc/hostname
# The host root's files must not leak into a test host's view of "installed before".
[ "${SEAL_SYSTEMD:-0}" = 1 ] && systemd-machine-id-setup >/dev/null 2>&1
# A VM booting again from its own disk is a host after a reboot: it keeps what it had (hosts file,
# host key, users); only its first boot sets them up.
rebooted=0
[ "${SEAL_DISK:-0}" = 1 ] && [ -f /var/lib/seal-testbed-vm/booted ] && rebooted=1
[ "$rebooted" = 1 ] || printf '127.0.0.1 localhost\n::1 localhost\n127.0.1.1 %s\n' "$SEAL_HOSTNAME" > /etc/hosts
ip link set lo up
if [ -n "$SEAL_IP" ]; then
  ip link set eth0 up
  ip addr add "$SEAL_IP" dev eth0
  [ -n "$SEAL_GATEWAY" ] && ip route add default via "$SEAL_GATEWAY"
fi
mkdir -p /seal/results
if [ "$SEAL_SSHD" = 1 ]; then
  # A LAN host keeps its clock in step, as NTP would: under emulation the guest clock falls
  # behind by seconds a minute. The RTC follows the host's clock. (Only here: single-VM tests
  # time events with the guest clock and must not see it jump.)
  # sysfs reads the RTC at once (hwclock waits for a tick edge, which times out under load).
  ( while [ -r /sys/class/rtc/rtc0/since_epoch ]; do
      date -s "@$(cat /sys/class/rtc/rtc0/since_epoch)" >/dev/null 2>&1; sleep 5
    done ) &
  mkdir -p /run/sshd /root/.ssh && chmod 700 /root/.ssh
  # sshd runs every command through root's shell, and bash then reads ~/.bashrc: the host's,
  # whose tool set-up (pyenv and the like) takes seconds a command under emulation. A LAN host
  # starts with its own, empty, start-up files (only in this VM's overlay).
  for f in .bashrc .profile .bash_profile .bash_login; do [ -e "/root/$f" ] && : > "/root/$f"; done
  # A fresh host key per VM; ed25519 only, since RSA key generation takes seconds under emulation.
  if [ "$rebooted" = 0 ]; then
    rm -f /etc/ssh/ssh_host_*
    ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
  fi
  cp /etc/ssh/ssh_host_ed25519_key.pub /seal/results/host_ed25519_key.pub
  [ -f /seal/authorized_keys ] && cp /seal/authorized_keys /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys
  [ -n "$SEAL_ROOT_PASSWORD" ] && echo "root:$SEAL_ROOT_PASSWORD" | chpasswd
  if [ -n "${SEAL_SUDO_USER:-}" ] && [ "$rebooted" = 0 ]; then
    useradd -m -s /bin/bash "$SEAL_SUDO_USER"
    [ -n "$SEAL_ROOT_PASSWORD" ] && echo "$SEAL_SUDO_USER:$SEAL_ROOT_PASSWORD" | chpasswd
    mkdir -p "/home/$SEAL_SUDO_USER/.ssh"
    [ -f /root/.ssh/authorized_keys ] && cp /root/.ssh/authorized_keys "/home/$SEAL_SUDO_USER/.ssh/"
    chown -R "$SEAL_SUDO_USER:" "/home/$SEAL_SUDO_USER/.ssh" && chmod 700 "/home/$SEAL_SUDO_USER/.ssh"
    echo "$SEAL_SUDO_USER ALL=(ALL:ALL) ALL" > "/etc/sudoers.d/$SEAL_SUDO_USER" && chmod 440 "/etc/sudoers.d/$SEAL_SUDO_USER"
  fi
  /usr/sbin/sshd -o HostKey=/etc/ssh/ssh_host_ed25519_key -o PermitRootLogin=yes -o PasswordAuthentication=yes -o UseDNS=no \
    -o KbdInteractiveAuthentication=no -E /seal/results/sshd.log || echo "stage2: sshd failed" >&2
fi
if [ "${SEAL_DISK:-0}" = 1 ]; then mkdir -p /var/lib/seal-testbed-vm && : > /var/lib/seal-testbed-vm/booted && sync; fi
echo "seal-stage2: running script"
cat /proc/uptime > /seal/booted
cd /seal
/bin/bash /seal/script > /seal/output.log 2>&1 < /dev/null
echo $? > /seal/exit-code.tmp && mv /seal/exit-code.tmp /seal/exit-code
echo "seal-stage2: script done"
if [ "${SEAL_SYSTEMD:-0}" = 1 ]; then
  # /seal is written through (no cache), so the results are on the host already; a full sync
  # can hang on the runtime's mounts. Power off at once, as the other mode's init does.
  sync -f /seal/exit-code
  systemctl poweroff --force --force
fi
sync
