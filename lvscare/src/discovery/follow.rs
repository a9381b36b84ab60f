//! Deciding what each answer from the cluster does to the master list lvscare balances to: the
//! pure state of one list-then-watch, without sockets. The list starts as the kept one (or the
//! `--rs` seed), changes only to a plausible update, and a refused update is reported once per
//! reason, not once per event: an apiserver that keeps sending the same bad slice must not
//! flood the log.

use std::net::SocketAddr;

use super::endpoints::{Implausible, WatchEvent};

/// What the caller does after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Balance to these masters from now on (and keep them on disk).
    Use(Vec<SocketAddr>),
    /// Nothing changes.
    Unchanged,
    /// The update was not followed; `first` is true the first time in a row for this reason
    /// (log it then only).
    Refused {
        /// Why.
        reason: Implausible,
        /// Whether to log it.
        first: bool,
    },
    /// The watch cannot go on (expired resource version, server error): list again.
    Relist {
        /// The server's words, for one log line.
        why: String,
    },
}

/// The list lvscare follows and where its watch resumes.
#[derive(Debug, Clone)]
pub struct Follower {
    masters: Vec<SocketAddr>,
    resource_version: Option<String>,
    refused: Option<Implausible>,
}

impl Follower {
    /// Starts from the kept list, else from the seed.
    pub fn new(seed: Vec<SocketAddr>, kept: Option<Vec<SocketAddr>>) -> Self {
        Follower {
            masters: kept.unwrap_or(seed),
            resource_version: None,
            refused: None,
        }
    }

    /// The masters to balance to.
    pub fn masters(&self) -> &[SocketAddr] {
        &self.masters
    }

    /// The resource version a watch resumes from (None: list first).
    pub fn resume_from(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }

    /// A list (GET) answered `masters` at `resource_version`.
    pub fn listed(
        &mut self,
        masters: Result<Vec<SocketAddr>, Implausible>,
        resource_version: Option<String>,
    ) -> Step {
        self.resource_version = resource_version;
        self.update(masters)
    }

    /// One watch event.
    pub fn event(&mut self, event: WatchEvent) -> Step {
        match event {
            WatchEvent::Changed {
                masters,
                resource_version,
            } => {
                if resource_version.is_some() {
                    self.resource_version = resource_version;
                }
                self.update(masters)
            }
            WatchEvent::Deleted => self.update(Err(Implausible::Deleted)),
            WatchEvent::Bookmark { resource_version } => {
                if resource_version.is_some() {
                    self.resource_version = resource_version;
                }
                Step::Unchanged
            }
            WatchEvent::Error { code, message } => {
                self.resource_version = None;
                Step::Relist {
                    why: match code {
                        Some(c) => format!("{c}: {message}"),
                        None => message,
                    },
                }
            }
        }
    }

    fn update(&mut self, masters: Result<Vec<SocketAddr>, Implausible>) -> Step {
        match masters {
            Ok(list) => {
                self.refused = None;
                if list == self.masters {
                    Step::Unchanged
                } else {
                    self.masters = list.clone();
                    Step::Use(list)
                }
            }
            Err(reason) => {
                let first = self.refused.as_ref() != Some(&reason);
                self.refused = Some(reason.clone());
                Step::Refused { reason, first }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn changed(list: &[&str], rv: &str) -> WatchEvent {
        WatchEvent::Changed {
            masters: Ok(addrs(list)),
            resource_version: Some(rv.into()),
        }
    }

    #[test]
    fn starts_from_the_kept_list_else_the_seed() {
        let seed = addrs(&["10.0.0.1:6443"]);
        assert_eq!(Follower::new(seed.clone(), None).masters(), &seed[..]);
        let kept = addrs(&["10.0.0.2:6443"]);
        let f = Follower::new(seed, Some(kept.clone()));
        assert_eq!(f.masters(), &kept[..]);
        assert_eq!(f.resume_from(), None);
    }

    #[test]
    fn follows_plausible_updates_and_reports_a_refusal_once() {
        let mut f = Follower::new(addrs(&["10.0.0.1:6443"]), None);
        assert_eq!(
            f.listed(Ok(addrs(&["10.0.0.1:6443"])), Some("5".into())),
            Step::Unchanged
        );
        assert_eq!(f.resume_from(), Some("5"));
        let two = addrs(&["10.0.0.1:6443", "10.0.0.2:6443"]);
        assert_eq!(
            f.event(changed(&["10.0.0.1:6443", "10.0.0.2:6443"], "6")),
            Step::Use(two.clone())
        );
        assert_eq!(f.resume_from(), Some("6"));
        // The same bad update three times: said once; the list stays.
        let empty = || WatchEvent::Changed {
            masters: Err(Implausible::Empty),
            resource_version: Some("7".into()),
        };
        assert_eq!(
            f.event(empty()),
            Step::Refused {
                reason: Implausible::Empty,
                first: true
            }
        );
        for _ in 0..2 {
            assert_eq!(
                f.event(empty()),
                Step::Refused {
                    reason: Implausible::Empty,
                    first: false
                }
            );
        }
        // Another reason is news; so is the same one after a good update.
        assert!(matches!(
            f.event(WatchEvent::Deleted),
            Step::Refused {
                reason: Implausible::Deleted,
                first: true
            }
        ));
        assert_eq!(f.masters(), &two[..]);
        assert_eq!(
            f.event(changed(&["10.0.0.2:6443"], "8")),
            Step::Use(addrs(&["10.0.0.2:6443"]))
        );
        assert!(matches!(
            f.event(empty()),
            Step::Refused { first: true, .. }
        ));
    }

    #[test]
    fn bookmarks_move_the_resume_point_and_errors_relist() {
        let mut f = Follower::new(addrs(&["10.0.0.1:6443"]), None);
        assert_eq!(
            f.event(WatchEvent::Bookmark {
                resource_version: Some("40".into())
            }),
            Step::Unchanged
        );
        assert_eq!(f.resume_from(), Some("40"));
        assert_eq!(
            f.event(WatchEvent::Error {
                code: Some(410),
                message: "too old resource version".into()
            }),
            Step::Relist {
                why: "410: too old resource version".into()
            }
        );
        assert_eq!(f.resume_from(), None);
        assert_eq!(f.masters(), &addrs(&["10.0.0.1:6443"])[..]);
    }
}
