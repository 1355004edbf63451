//! Keys, signatures and hashes.

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use std::fmt;
use std::str::FromStr;

/// Text or bytes that are not a usable key, hash or signature.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Not hex of the right length.
    #[error("expected {expected} hex characters, got {got:?}")]
    BadHex {
        /// Hex characters expected.
        expected: usize,
        /// The text given.
        got: String,
    },
    /// Bytes that encode no point of the curve.
    #[error("not a valid ed25519 public key")]
    BadPublicKey,
    /// A point of small order (the identity among them): signatures under
    /// it can be forged without a private key, so no account may use it.
    #[error("a weak ed25519 public key (a point of small order): no one holds its private key")]
    WeakPublicKey,
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
    ($name:ident, $len:expr, $pattern:literal, $what:literal) => {
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::json::schema::string_schema($what)
                    .pattern(Some($pattern))
                    .into()
            }
        }
        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
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
            /// Its raw bytes.
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
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Hash(pub [u8; 32]);
hex_newtype!(
    Hash,
    32,
    "^[0-9a-f]{64}$",
    "A BLAKE3 hash, 32 bytes in lowercase hex."
);

impl Hash {
    /// All zero bytes: the hash of nothing in particular (a genesis parent).
    pub const ZERO: Hash = Hash([0; 32]);

    /// BLAKE3 of `bytes`.
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
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Address(pub [u8; 32]);
hex_newtype!(
    Address,
    32,
    "^[0-9a-f]{64}$",
    "An account: its ed25519 public key, 32 bytes in lowercase hex."
);

impl FromStr for Address {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let address = Address(decode_hex_array(s)?);
        address.key()?;
        Ok(address)
    }
}

impl Address {
    /// This address's key, if it is a point of the curve that is not of
    /// small order (weak keys are refused: see [`KeyError::WeakPublicKey`]).
    pub fn key(&self) -> Result<VerifyingKey, KeyError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::BadPublicKey)?;
        if key.is_weak() {
            return Err(KeyError::WeakPublicKey);
        }
        Ok(key)
    }

    /// Checks `signature` over `message` against this address's key, strictly:
    /// weak keys, a small-order `R` and non-canonical encodings all fail, so a
    /// signature verifies only if the key's holder made it (RFC 8032's
    /// cofactorless check, as ed25519-dalek's `verify_strict`).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        let Ok(key) = self.key() else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(message, &sig).is_ok()
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Signature(pub [u8; 64]);
hex_newtype!(
    Signature,
    64,
    "^[0-9a-f]{128}$",
    "An ed25519 signature, 64 bytes in lowercase hex."
);

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
    /// A new keypair from the operating system's randomness.
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

    /// Its secret seed: whoever has it signs as this key.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// Its public key, which is the account's address.
    pub fn address(&self) -> Address {
        Address(self.signing.verifying_key().to_bytes())
    }

    /// The ed25519 key itself, for the other uses of it in this crate
    /// (opening secrets sealed to the account: `sealed`).
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// An ed25519 signature of `message`.
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

    /// The identity point, encoded: y = 1, sign bit 0.
    fn identity() -> [u8; 32] {
        let mut bytes = [0u8; 32];
        bytes[0] = 1;
        bytes
    }

    #[test]
    fn a_signature_with_no_private_key_under_the_identity_key_is_refused() {
        // R = identity and S = 0 satisfy the cofactored equation for the
        // identity key on any message: the forgery an attacker's client used.
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&identity());
        let forged = Signature(forged);
        let weak = Address(identity());
        assert!(!weak.verify(b"any message", &forged));
        assert!(!weak.verify(b"another", &forged));
        assert_eq!(weak.key().unwrap_err(), KeyError::WeakPublicKey);
        assert_eq!(
            hex::encode(identity()).parse::<Address>().unwrap_err(),
            KeyError::WeakPublicKey
        );
    }

    #[test]
    fn every_small_order_point_is_refused_as_an_address() {
        // The eight points of order dividing 8 (their canonical encodings).
        let small_order = [
            "0100000000000000000000000000000000000000000000000000000000000000",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000080",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        ];
        for hex in small_order {
            let parsed = hex.parse::<Address>();
            assert!(
                matches!(
                    parsed,
                    Err(KeyError::WeakPublicKey) | Err(KeyError::BadPublicKey)
                ),
                "{hex} was accepted as an address: {parsed:?}"
            );
        }
    }

    #[test]
    fn a_signature_with_a_non_canonical_s_is_refused() {
        let a = Keypair::from_label("a");
        let mut sig = a.sign(b"hello");
        // S + L, where L is the group order: the same scalar, not canonical.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (s, l) in sig.0[32..].iter_mut().zip(L) {
            let sum = u16::from(*s) + u16::from(l) + carry;
            *s = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert!(!a.address().verify(b"hello", &sig));
    }
}
