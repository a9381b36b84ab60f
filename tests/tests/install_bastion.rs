//! `seal-install` reaches hosts the operator cannot reach directly through an SSH bastion
//! (`--bastion`, as `ssh -J`). Three VMs with real sshd: b is the bastion; m1 and n1 refuse new
//! SSH connections from the operator's machine (an nft rule there), so only a tunnel through b
//! gets to them. The package's kubeadm, kubelet and kubectl are TEST DOUBLES.

use seal_testbed::install_bed::{stderr, Bed, VIP};

#[test]
fn init_and_clean_through_a_bastion() {
    let Some(bed) = Bed::start("init_and_clean_through_a_bastion", &["b", "m1", "n1"]) else {
        return;
    };
    let (b, m1, n1) = (bed.ip("b"), bed.ip("m1"), bed.ip("n1"));
    let before: Vec<String> = ["b", "m1", "n1"]
        .iter()
        .map(|h| bed.text(h, "cat /etc/hosts"))
        .collect();
    // The witness (the system ssh client) shares the operator's machine: the rule is lifted
    // while it looks.
    let rule = format!(
        "table inet seal_bastion {{ chain out {{ type filter hook output priority 0; \
         ip daddr {{ {m1}, {n1} }} tcp dport 22 ct state new counter reject with tcp reset; }}; }}"
    );
    let block = || nft(&bed, &rule);
    let lift = || nft(&bed, "delete table inet seal_bastion");
    block();

    let key = bed.key.display().to_string();
    // Directly: m1 cannot be reached, and nothing is changed anywhere.
    let args = bed.init_args(&["m1"], &["n1"], &["--pk", &key]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, _) = bed.run(&argv);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{m1}: cannot connect")), "{err}");
    assert!(
        !bed.cluster_file().exists(),
        "a refused init wrote the cluster file"
    );
    let counted = bed
        .lan
        .command("nft")
        .args(["list", "table", "inet", "seal_bastion"])
        .output();
    let counted = String::from_utf8_lossy(&counted.expect("nft list").stdout).into_owned();
    assert!(
        !counted.contains("packets 0 "),
        "the rule saw no attempt: {counted}"
    );

    // Through the bastion (same key, user given as a bastion may want its own).
    let bastion = format!("root@{b}");
    let args = bed.init_args(&["m1"], &["n1"], &["--pk", &key, "--bastion", &bastion]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, took) = bed.run(&argv);
    assert!(
        out.status.success(),
        "init through the bastion failed: {}",
        stderr(&out)
    );
    eprintln!("init through the bastion took {:.0}s", took.as_secs_f64());
    assert!(
        stderr(&out).contains(&format!("through bastion {bastion}")),
        "{}",
        stderr(&out)
    );
    let file = std::fs::read_to_string(bed.cluster_file()).expect("cluster file");
    assert!(file.contains(&format!("bastion: {bastion}")), "{file}");
    lift();
    // Both hosts' keys were checked and learned, each under its own address.
    let known =
        std::fs::read_to_string(bed.dir.join("home/.seal/known_hosts")).expect("known_hosts");
    for ip in [&b, &m1, &n1] {
        assert!(
            known.lines().any(|l| l.starts_with(&format!("{ip} "))),
            "{ip} not in:\n{known}"
        );
    }
    // The hosts' sshd saw the installer's logins coming from the bastion.
    for h in ["m1", "n1"] {
        let log = bed.text(
            h,
            "grep 'Accepted publickey for root' /seal/results/sshd.log",
        );
        assert!(log.contains(&format!("from {b} ")), "{h}: {log}");
    }
    // The work itself was done: n1's lvscare balances the VIP to m1.
    let table = bed.text("n1", "ipvsadm -Ln");
    assert!(
        table.contains(&format!("TCP  {VIP}:6443")) && table.contains(&format!("{m1}:6443")),
        "{table}"
    );

    // A later command takes the bastion from the cluster file.
    block();
    let (out, _) = bed.run(&["clean", "--all", "--pk", &key, "--connect-timeout", "60"]);
    assert!(
        out.status.success(),
        "clean through the bastion failed: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("through bastion"), "{}", stderr(&out));
    lift();
    for (i, h) in ["b", "m1", "n1"].iter().enumerate() {
        assert_eq!(bed.text(h, "cat /etc/hosts"), before[i], "{h}: /etc/hosts");
        let left = bed.text(
            h,
            "for f in /root/kube /root/kube.tar.gz /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/lvscare \
             /etc/kubernetes/manifests/kube-lvscare.yaml; do [ -e $f ] && echo $f; done; \
             ip link show lvscare 2>/dev/null; ipvsadm -Ln | grep -F 10.103.97.2; true",
        );
        assert_eq!(left, "", "{h}: left behind after clean");
    }
}

/// Runs `nft -f -` with `script` in the operator's namespace; it must succeed.
fn nft(bed: &Bed, script: &str) {
    use std::io::Write;
    let mut child = bed
        .lan
        .command("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("nft (nftables, installed by dev.sh)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write the rule");
    assert!(
        child.wait().expect("nft").success(),
        "nft refused: {script}"
    );
}
