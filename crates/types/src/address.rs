//! A node's API address with its key pinned (`https://HOST:PORT#KEY`), and
//! the keys a client trusts. A client accepts a node only if its TLS
//! certificate carries the pinned key (see `gpunet_client::tls`), so no
//! certificate authority is needed and no impostor can answer at an address.

use gpunet_primitives::Address;
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

/// A node address that does not parse, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid node address {address:?}: {reason}")]
pub struct AddressError {
    /// The text given as an address.
    pub address: String,
    /// What is wrong with it, and how to write it.
    pub reason: String,
}

/// A node's API address: its base URL and the key its certificate carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddress {
    /// `https://HOST:PORT`, without a trailing slash.
    pub url: String,
    /// The key its TLS certificate must carry.
    pub key: Address,
}

impl NodeAddress {
    /// The node at `url` (a trailing slash is dropped) holding `key`.
    pub fn new(url: &str, key: Address) -> NodeAddress {
        NodeAddress {
            url: url.trim_end_matches('/').to_string(),
            key,
        }
    }
}

impl NodeAddress {
    /// The file in a node's data directory that holds its API address.
    pub const FILE: &'static str = "api-url";

    /// Writes this address to [`Self::FILE`] in `data_dir`, where clients on
    /// the same machine find it.
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        std::fs::write(data_dir.join(Self::FILE), format!("{self}\n"))
    }
}

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.url, self.key)
    }
}

impl FromStr for NodeAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| AddressError {
            address: s.to_string(),
            reason: reason.to_string(),
        };
        let (url, key) = s.trim().split_once('#').ok_or_else(|| {
            invalid(
                "no key pinned: write it as https://HOST:PORT#KEY (a node prints its \
                 address with its key when it starts, and writes it to api-url in its data directory)",
            )
        })?;
        if !url.starts_with("https://") || url.len() == "https://".len() {
            return Err(invalid("the URL must be https://HOST:PORT"));
        }
        let key = key
            .parse()
            .map_err(|e| invalid(&format!("the key after # is not a public key: {e}")))?;
        Ok(NodeAddress::new(url, key))
    }
}

/// The ed25519 public keys a client accepts from servers; shared, so keys
/// learned later (from a node's peers) count for connections made after.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys(Arc<RwLock<BTreeSet<Address>>>);

impl TrustedKeys {
    /// The keys of `addresses`.
    pub fn of<'a>(addresses: impl IntoIterator<Item = &'a NodeAddress>) -> TrustedKeys {
        let trusted = TrustedKeys::default();
        for address in addresses {
            trusted.insert(address.key);
        }
        trusted
    }

    /// Trusts `key` too, for connections made from now on.
    pub fn insert(&self, key: Address) {
        self.0.write().expect("trusted keys lock").insert(key);
    }

    /// Whether `key` is trusted.
    pub fn contains(&self, key: &Address) -> bool {
        self.0.read().expect("trusted keys lock").contains(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_primitives::Keypair;

    #[test]
    fn addresses_need_https_and_a_pinned_key() {
        let key = Keypair::from_label("node").address();
        let address: NodeAddress = format!("https://127.0.0.1:8645/#{key}").parse().unwrap();
        assert_eq!(address, NodeAddress::new("https://127.0.0.1:8645", key));
        assert_eq!(address.to_string().parse::<NodeAddress>().unwrap(), address);
        for bad in [
            "https://127.0.0.1:8645".to_string(),
            format!("http://127.0.0.1:8645#{key}"),
            format!("https://#{key}"),
            "https://127.0.0.1:8645#nothex".to_string(),
        ] {
            let err = bad.parse::<NodeAddress>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        let unpinned = "https://127.0.0.1:8645".parse::<NodeAddress>().unwrap_err();
        assert!(unpinned.to_string().contains("no key pinned"));
    }
}
