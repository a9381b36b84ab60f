//! A private LAN for several VMs: a bridge in a network namespace the test creates, one tap per
//! VM, and the host side (inside that namespace) at `10.77.0.1`.

use crate::error::Error;
use crate::kernel::{need_tool, run};
use crate::vm::NetConfig;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static LAN_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A LAN: deleted (namespace, bridge, taps) when dropped. Drop the VMs on it first.
#[derive(Debug)]
pub struct Lan {
    netns: String,
    next_host: u8,
}

/// The host side's address on every LAN.
pub const HOST_IP: &str = "10.77.0.1";

impl Lan {
    /// Creates the namespace and its bridge `br0` with [`HOST_IP`]/24.
    pub fn create() -> Result<Lan, Error> {
        need_tool("ip", "iproute2")?;
        let n = LAN_COUNTER.fetch_add(1, Ordering::SeqCst);
        let netns = format!("seal-tb-{}-{}", std::process::id(), n);
        run(Command::new("ip").args(["netns", "add", &netns]))?;
        let lan = Lan {
            netns,
            next_host: 11,
        };
        lan.ip(&["link", "set", "lo", "up"])?;
        lan.ip(&["link", "add", "br0", "type", "bridge"])?;
        lan.ip(&["addr", "add", &format!("{HOST_IP}/24"), "dev", "br0"])?;
        lan.ip(&["link", "set", "br0", "up"])?;
        Ok(lan)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    fn ip(&self, args: &[&str]) -> Result<String, Error> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.netns, "ip"])
            .args(args))
    }

    /// Creates the next VM's tap on the bridge; the VM gets `10.77.0.<11+i>/24`.
    pub fn attach(&mut self) -> Result<NetConfig, Error> {
        let host = self.next_host;
        self.next_host = self
            .next_host
            .checked_add(1)
            .ok_or_else(|| Error::Command {
                cmd: "Lan::attach".into(),
                status: "address range exhausted".into(),
                stderr: String::new(),
            })?;
        let tap = format!("tap{host}");
        self.ip(&["tuntap", "add", "dev", &tap, "mode", "tap"])?;
        self.ip(&["link", "set", &tap, "master", "br0"])?;
        self.ip(&["link", "set", &tap, "up"])?;
        Ok(NetConfig {
            netns: self.netns.clone(),
            tap,
            mac: format!("52:54:00:77:00:{host:02x}"),
            ip_cidr: format!("10.77.0.{host}/24"),
            gateway: None,
        })
    }

    /// A command that runs on the host side of the LAN (inside its namespace).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns, program]);
        c
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}
