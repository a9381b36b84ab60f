//! seal-install: builds an HA Kubernetes cluster over SSH from an offline package.

/// `Deref` (with `mut`, also `DerefMut`) from a type to a part it embeds, so that the part's
/// facts read as the type's own (`cluster.masters`) while each is kept once, in its part.
macro_rules! embeds {
    ($outer:ty => mut $field:ident: $inner:ty) => {
        embeds!($outer => $field: $inner);
        impl std::ops::DerefMut for $outer {
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.$field
            }
        }
    };
    ($outer:ty => $field:ident: $inner:ty) => {
        impl std::ops::Deref for $outer {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.$field
            }
        }
    };
}

pub mod app;
pub mod backup;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod etcd;
pub mod exec;
pub mod hosts;
pub mod kubeadm;
pub mod package;
pub mod plan;
pub mod preflight;
pub mod redact;
pub mod runs;
pub mod shell;
pub mod ssh;
pub mod template;
pub mod upgrade;
