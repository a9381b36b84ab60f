//! IP networks (`address/prefix`, no host bits) and `ip:port` endpoints.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::KubeadmError;

/// An IP network `address/prefix` with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

fn ip_bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u32::from(a) as u128, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// The network mask of `prefix` bits in a `width`-bit address, as the low bits of a u128.
fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        (u128::MAX << (128 - prefix as u32)) >> (128 - width as u32)
    }
}

impl Cidr {
    /// The single-address network of `ip` (/32 or /128).
    pub fn host(ip: IpAddr) -> Cidr {
        Cidr {
            addr: ip,
            prefix: ip_bits(ip).1,
        }
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, width) = ip_bits(self.addr);
        let (x, w) = ip_bits(ip);
        w == width && x & mask(self.prefix, width) == net
    }

    /// Whether the two networks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

impl FromStr for Cidr {
    type Err = KubeadmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| KubeadmError::BadCidr {
            value: s.to_string(),
            why,
        };
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| bad("write it as ADDRESS/PREFIX, e.g. 10.96.0.0/12".into()))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad(format!("`{addr}` is not an IP address")))?;
        let (bits, width) = ip_bits(addr);
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= width)
            .ok_or_else(|| bad(format!("the prefix must be a number from 0 to {width}")))?;
        let net = bits & mask(prefix, width);
        if net != bits {
            let fixed = match addr {
                IpAddr::V4(_) => IpAddr::from(std::net::Ipv4Addr::from(net as u32)),
                IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::from(net)),
            };
            return Err(bad(format!(
                "host bits are set; the network is {fixed}/{prefix}"
            )));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

string_conversions!(Cidr, display);

/// `ip:port`, IPv6 in brackets.
pub fn endpoint(ip: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "10.96.0.0/12".parse().expect("cidr");
        assert!(c.contains(ip("10.96.0.1")) && c.contains(ip("10.111.255.255")));
        assert!(!c.contains(ip("10.112.0.0")) && !c.contains(ip("fd00::1")));
        let p: Cidr = "100.64.0.0/10".parse().expect("cidr");
        assert!(!p.overlaps(&c));
        assert!(p.overlaps(&"100.100.0.0/16".parse().expect("cidr")));
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .expect("all")
            .contains(ip("1.2.3.4")));
        assert!("fd00::/8"
            .parse::<Cidr>()
            .expect("v6")
            .contains(ip("fd12::1")));
        assert!("::1/128".parse::<Cidr>().expect("v6").contains(ip("::1")));
        assert!(Cidr::host(ip("10.0.0.1")).contains(ip("10.0.0.1")));
        assert!(!Cidr::host(ip("10.0.0.1")).contains(ip("10.0.0.2")));
        let e = "10.96.0.1/12".parse::<Cidr>().expect_err("host bits");
        assert!(e.to_string().contains("the network is 10.96.0.0/12"), "{e}");
        assert!("10.96.0.0/33".parse::<Cidr>().is_err());
        assert!("10.96.0.0".parse::<Cidr>().is_err());
        assert!("10.96.0/12".parse::<Cidr>().is_err());
    }
}
