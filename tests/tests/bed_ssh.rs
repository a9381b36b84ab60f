//! Several test-bed VMs on one private LAN, each with its own sshd and host keys: one VM runs a
//! command on another over SSH, and the host side of the LAN does too.

use seal_testbed::install_bed::keypair;
use seal_testbed::{kernel_or_skip, Lan, SshdConfig, Vm, VmSpec};
use std::fs;
use std::time::Duration;

const SERVER: &str = "source /seal/lib.sh\nready up\nwait_for_stop\n";

const CLIENT: &str = r#"
source /seal/lib.sh
install -D -m 600 /seal/id_ed25519 /root/.ssh/id_test
while [ ! -f /seal/known_hosts ]; do sleep 0.2; done
ssh -i /root/.ssh/id_test -o UserKnownHostsFile=/seal/known_hosts -o StrictHostKeyChecking=yes \
    -o BatchMode=yes root@10.77.0.11 'hostname; cat /proc/sys/kernel/random/boot_id' > /seal/results/ssh-out
"#;

#[test]
fn one_vm_runs_a_command_on_another_over_ssh() {
    let Some(kernel) = kernel_or_skip("one_vm_runs_a_command_on_another_over_ssh") else {
        return;
    };
    let tmp = std::env::temp_dir().join(format!("seal-bed-ssh-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).expect("tmp dir");
    let (key, public) = keypair(&tmp, "id_ed25519");

    let mut lan = Lan::create().expect("LAN");
    let mut server_spec = VmSpec::new("vm-a", SERVER, Duration::from_secs(180));
    server_spec.cpus = 1;
    server_spec.net = Some(lan.attach().expect("tap a"));
    server_spec.sshd = Some(SshdConfig {
        authorized_keys: Some(public),
        root_password: None,
        sudo_user: None,
    });
    let mut client_spec = VmSpec::new("vm-b", CLIENT, Duration::from_secs(180));
    client_spec.cpus = 1;
    client_spec.net = Some(lan.attach().expect("tap b"));
    client_spec
        .files
        .push(("id_ed25519".into(), fs::read(&key).expect("key")));

    let mut server = Vm::start(&kernel, &server_spec).expect("start vm-a");
    let client = Vm::start(&kernel, &client_spec).expect("start vm-b");
    server
        .wait_for_result("up", Duration::from_secs(120))
        .expect("vm-a up");

    // Trust exactly the key vm-a generated at boot: a wrong key would make ssh refuse.
    let host_key =
        fs::read_to_string(server.results().join("host_ed25519_key.pub")).expect("host key");
    let known_hosts = format!("10.77.0.11 {}", host_key.trim());
    fs::write(tmp.join("known_hosts"), &known_hosts).expect("known_hosts");
    fs::write(client.run_dir().join("known_hosts"), &known_hosts)
        .expect("hand known_hosts to vm-b");

    let out = client.wait().expect("vm-b run");
    out.assert_success();
    let answer = fs::read_to_string(out.results.join("ssh-out")).expect("ssh output");
    let mut lines = answer.lines();
    assert_eq!(
        lines.next(),
        Some("vm-a"),
        "ssh from vm-b reached the wrong host:\n{answer}\n{}",
        out.output
    );
    let boot_id_seen_by_b = lines.next().expect("boot id").to_string();

    // The host side of the LAN reaches the same VM, and it is a different machine from vm-b.
    let host_side = lan
        .command("ssh")
        .arg("-i")
        .arg(&key)
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            tmp.join("known_hosts").display()
        ))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "root@10.77.0.11",
        ])
        .arg("hostname; cat /proc/sys/kernel/random/boot_id")
        .output()
        .expect("ssh from the host side");
    assert!(
        host_side.status.success(),
        "{}",
        String::from_utf8_lossy(&host_side.stderr)
    );
    let host_answer = String::from_utf8_lossy(&host_side.stdout);
    assert_eq!(
        host_answer.lines().collect::<Vec<_>>(),
        vec!["vm-a", boot_id_seen_by_b.as_str()]
    );

    let server_out = server.stop().expect("vm-a stop");
    server_out.assert_success();
    eprintln!(
        "vm-a boot {:.1}s, vm-b boot {:.1}s, vm-b total {:.1}s",
        server_out.boot_time.as_secs_f64(),
        out.boot_time.as_secs_f64(),
        out.wall_time.as_secs_f64()
    );
    drop(lan);
    let _ = fs::remove_dir_all(&tmp);
}
