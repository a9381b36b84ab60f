//! lvscare: keeps a kernel IPVS virtual server pointed at the healthy apiservers.
pub mod ipvs;
