//! Keys, signatures and hashes.

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("expected {expected} hex characters, got {got:?}")]
    BadHex { expected: usize, got: String },
    #[error("not a valid ed25519 public key")]
    BadPublicKey,
}

fn decode_hex_array<const N: usize>(s: &str) -> Result<[u8; N], KeyError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s.trim(), &mut out).map_err(|_| KeyError::BadHex {
        expected: N * 2,
        got: s.chars().take(80).collect(),
    })?;
    Ok(out)
}

macro_rules! hex_newtype {
    ($name:ident, $len:expr) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &hex::encode(self.0)[..12])
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl $name {
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }
    };
}

/// A 32-byte BLAKE3 digest.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Hash(pub [u8; 32]);
hex_newtype!(Hash, 32);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    pub fn digest(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }
}

impl FromStr for Hash {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode_hex_array(s).map(Hash)
    }
}

/// An account: the ed25519 public key that signs its transactions.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Address(pub [u8; 32]);
hex_newtype!(Address, 32);

impl FromStr for Address {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = decode_hex_array(s)?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::BadPublicKey)?;
        Ok(Address(bytes))
    }
}

impl Address {
    /// Checks `signature` over `message` against this address's key.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify(message, &sig).is_ok()
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);
hex_newtype!(Signature, 64);

impl FromStr for Signature {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode_hex_array(s).map(Signature)
    }
}

/// A signing key and its address.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    pub fn generate() -> Keypair {
        Keypair {
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// A keypair derived from a seed; used for reproducible test and devnet keys.
    pub fn from_seed(seed: [u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// A keypair derived deterministically from a label, for tests and benchmarks.
    pub fn from_label(label: &str) -> Keypair {
        Keypair::from_seed(*blake3::hash(label.as_bytes()).as_bytes())
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn address(&self) -> Address {
        Address(self.signing.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?})", self.address())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_message_and_key() {
        let a = Keypair::from_label("a");
        let b = Keypair::from_label("b");
        let sig = a.sign(b"hello");
        assert!(a.address().verify(b"hello", &sig));
        assert!(!a.address().verify(b"hellO", &sig));
        assert!(!b.address().verify(b"hello", &sig));
    }

    #[test]
    fn addresses_round_trip_through_hex_and_json() {
        let a = Keypair::from_label("a").address();
        assert_eq!(a.to_string().parse::<Address>().unwrap(), a);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), a);
        assert!("zz".parse::<Address>().is_err());
    }
}
