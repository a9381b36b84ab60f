//! A password or passphrase that never shows up in Debug output and is wiped from memory on drop.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

/// A secret string (login password, sudo password, key passphrase).
///
/// Cloning shares one allocation; the bytes are zeroed when the last clone is dropped. There is
/// deliberately no `Display`, and `Debug` prints only `Secret(***)`, so a secret cannot end up in
/// a log line or an error message by accident.
#[derive(Clone)]
pub struct Secret(Arc<Zeroizing<String>>);

impl Secret {
    /// Wraps a secret string.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::new(Zeroizing::new(value.into())))
    }

    /// The secret itself: only for handing it to the SSH server (or sudo) over the encrypted
    /// channel, never for formatting.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_content() {
        let s = Secret::new("hunter2 'quoted' $x");
        let shown = format!("{s:?} {:?}", Some(s.clone()));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown, "Secret(***) Some(Secret(***))");
        assert_eq!(s.expose(), "hunter2 'quoted' $x");
    }
}
