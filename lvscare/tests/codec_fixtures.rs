//! The IPVS codec against genl messages captured from Debian's 6.1 kernel (in the test bed:
//! services made by ipvsadm, dumped raw by `examples/ipvs_dump`; see fixtures/).

use lvscare::ipvs::codec::{
    decode_dest_reply, decode_service_reply, encode_new_dest, encode_new_service, AddrFamily,
};
use lvscare::ipvs::{Destination, ForwardMethod, Protocol, Service};

const DUMP: &str = include_str!("fixtures/kernel-6.1-dump.txt");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Every service and destination of the capture, decoded; each also survives encode → decode.
fn decoded() -> Vec<(Service, Vec<Destination>)> {
    let mut out: Vec<(Service, Vec<Destination>)> = Vec::new();
    for line in DUMP.lines() {
        if let Some(h) = line.strip_prefix("service ") {
            let s = decode_service_reply(&unhex(h)).expect("kernel service decodes");
            let again = decode_service_reply(&encode_new_service(&s).expect("encodes"))
                .expect("re-decodes");
            assert_eq!(again, s);
            out.push((s, Vec::new()));
        } else if let Some(h) = line.strip_prefix("dest ") {
            let (svc, dests) = out.last_mut().expect("a dest follows its service");
            let fam = AddrFamily::of(&svc.key.addr.ip());
            let d = decode_dest_reply(&unhex(h), fam).expect("kernel dest decodes");
            let again = decode_dest_reply(&encode_new_dest(&svc.key, &d), fam).expect("re-decodes");
            assert_eq!(
                (again.addr, again.forward, again.weight),
                (d.addr, d.forward, d.weight)
            );
            assert_eq!(
                (again.upper_threshold, again.lower_threshold),
                (d.upper_threshold, d.lower_threshold)
            );
            dests.push(d);
        }
    }
    out
}

#[test]
fn ipv4_persistent_wrr_service_and_its_real_servers() {
    let all = decoded();
    let (s, dests) = all
        .iter()
        .find(|(s, _)| s.key.addr.to_string() == "10.1.2.3:80")
        .expect("service");
    assert_eq!(
        (
            s.scheduler.as_str(),
            s.key.protocol,
            s.flags,
            s.timeout,
            s.netmask
        ),
        ("wrr", Protocol::Tcp, 1, 300, 0xffff_ffff)
    );
    let masq = dests
        .iter()
        .find(|d| d.addr.to_string() == "192.168.0.2:8080")
        .expect("masq dest");
    assert_eq!((masq.forward, masq.weight), (ForwardMethod::Masquerade, 3));
    let dr = dests
        .iter()
        .find(|d| d.addr.to_string() == "192.168.0.3:80")
        .expect("route dest");
    assert_eq!(
        (
            dr.forward,
            dr.weight,
            dr.upper_threshold,
            dr.lower_threshold
        ),
        (ForwardMethod::Route, 0, 100, 10)
    );
}

#[test]
fn ipv6_udp_service_with_maximum_ipvsadm_weight() {
    let all = decoded();
    let (s, dests) = all
        .iter()
        .find(|(s, _)| s.key.addr.to_string() == "[fd00::1]:53")
        .expect("service");
    assert_eq!(
        (s.scheduler.as_str(), s.key.protocol, s.netmask),
        ("sh", Protocol::Udp, 128)
    );
    assert_eq!(dests.len(), 1);
    assert_eq!(
        (dests[0].addr.to_string().as_str(), dests[0].weight),
        ("[fd00:10::2]:53", 65535)
    );
}
