//! `backup`'s remote side, as pure text: the script that takes an etcd snapshot on a master and
//! the one that removes it once it is copied off. The snapshot is made by the `etcdctl` of the
//! very etcd image the master's static pod runs (read from its manifest), in a throw-away
//! container, so any package whose etcd image carries etcdctl (the official one does) works
//! without an etcdctl on the host.

/// Where the snapshot is made on the master (root-only: it holds every Secret of the cluster).
pub const REMOTE_DIR: &str = "/var/lib/seal/backup";
/// The finished snapshot on the master.
pub const REMOTE_SNAPSHOT: &str = "/var/lib/seal/backup/snapshot.db";
/// Exit status of the script on a host without an etcd static pod.
pub const NO_ETCD: u32 = 3;
/// Reads the first container image out of a static-pod manifest on stdin.
pub(crate) const IMAGE_FILTER: &str = r#"sed -n 's/^ *image: *//p' | head -n1 | tr -d "\"'""#;

/// Takes the snapshot on a master: etcdctl in a container of the etcd pod's image, on the host's
/// network, talking to the local member with the health-check client certificate. The file
/// appears under its final name only once etcdctl has checked it (`snapshot save` verifies the
/// hash it received), so a snapshot cut off half-way is never taken for one.
pub fn snapshot_script() -> String {
    let dir = REMOTE_DIR;
    let snap = REMOTE_SNAPSHOT;
    format!(
        r#"set -eu
manifest=/etc/kubernetes/manifests/etcd.yaml
no_etcd() {{ echo "no etcd static pod on this host ($manifest): is it a master of a stacked-etcd cluster?" >&2; exit {NO_ETCD}; }}
[ -f "$manifest" ] || no_etcd
img=$(<"$manifest" {IMAGE_FILTER})
[ -n "$img" ] || no_etcd
mkdir -p -m 0700 {dir}
rm -f {snap} {snap}.part
ctr -n k8s.io run --rm --net-host \
  --mount type=bind,src=/etc/kubernetes/pki/etcd,dst=/pki,options=rbind:ro \
  --mount type=bind,src={dir},dst=/backup,options=rbind:rw \
  "$img" seal-etcd-backup-$$ /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 \
  --cacert=/pki/ca.crt --cert=/pki/healthcheck-client.crt --key=/pki/healthcheck-client.key \
  snapshot save /backup/snapshot.db.part >&2
chmod 0600 {snap}.part
mv {snap}.part {snap}
"#
    )
}

/// Removes the snapshot from the master once it is on the operator's machine.
pub fn cleanup_command() -> String {
    format!("rm -f {REMOTE_SNAPSHOT} {REMOTE_SNAPSHOT}.part")
}

/// The default name of the local copy: `etcd-snapshot-<UTC time>.db` (`rfc3339` without colons,
/// which some file systems and tools dislike).
pub fn default_file_name(rfc3339: &str) -> String {
    format!("etcd-snapshot-{}.db", rfc3339.replace(':', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_uses_the_pods_image_and_publishes_only_a_checked_snapshot() {
        let s = snapshot_script();
        assert!(s.starts_with("set -eu\n"), "{s}");
        assert!(
            s.contains(&format!("img=$(<\"$manifest\" {IMAGE_FILTER})")),
            "{s}"
        );
        assert!(s.contains(&format!("exit {NO_ETCD}")), "{s}");
        assert!(s.contains("mkdir -p -m 0700 /var/lib/seal/backup"), "{s}");
        // etcdctl writes the .part; only after it succeeded (set -e) is it renamed.
        let save = s
            .find("snapshot save /backup/snapshot.db.part")
            .expect("save");
        let mv = s
            .find("mv /var/lib/seal/backup/snapshot.db.part /var/lib/seal/backup/snapshot.db")
            .expect("mv");
        assert!(save < mv);
        // The certificates are mounted read-only.
        assert!(s.contains("dst=/pki,options=rbind:ro"), "{s}");
        assert_eq!(
            cleanup_command(),
            "rm -f /var/lib/seal/backup/snapshot.db /var/lib/seal/backup/snapshot.db.part"
        );
    }

    #[test]
    fn default_name_has_no_colons() {
        assert_eq!(
            default_file_name("2026-12-02T08:15:00Z"),
            "etcd-snapshot-2026-12-02T081500Z.db"
        );
    }

    #[test]
    fn the_image_line_is_found_as_kubeadm_writes_it() {
        // The script's filter, run by sh on manifests as kubeadm writes them (quoted or not).
        for image in [
            "k8s.gcr.io/etcd:3.4.13-0",
            "\"registry.local/etcd:3.5.9-0\"",
        ] {
            let manifest = format!(
                "spec:\n  containers:\n  - command:\n    - etcd\n    image: {image}\n    imagePullPolicy: IfNotPresent\n"
            );
            let want = format!("{}\n", image.trim_matches('"'));
            assert_eq!(crate::shell::run_filter(IMAGE_FILTER, &manifest), want);
        }
    }
}
