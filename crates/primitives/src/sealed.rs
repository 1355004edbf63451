//! Secrets sealed to a provider: a job's secret environment variables,
//! encrypted by its client to the account key of the provider its lease
//! runs on, so that only that provider's agent can read them.
//!
//! Why this shape:
//! - The spec names its secrets and nothing more ([`JobSpec::secrets`](crate::JobSpec::secrets));
//!   their values are sealed after matching ([`TxBody::SealSecrets`](crate::TxBody::SealSecrets)),
//!   once the provider is known, and only the sealed box goes on chain.
//!   Blocks, events, the API and every node's database hold ciphertext.
//! - A provider's encryption key is its account key read on the other model
//!   of the curve (ed25519 → X25519, the birational map of libsodium's
//!   `crypto_sign_ed25519_pk_to_curve25519`), so a client seals to any
//!   address with nothing more registered, and only the holder of the
//!   account's private key opens.
//! - The box is libsodium's sealed box (`crypto_box_seal`: an ephemeral
//!   X25519 key and XSalsa20-Poly1305), from RustCrypto's `crypto_box`: no
//!   construction of our own.
//! - What is sealed names the order it is for: a box copied into another
//!   order (someone else's, leased to the same provider) opens, but the
//!   agent refuses it there ([`SecretEnv::check_for`]), so no job runs with
//!   another client's secrets.

use crate::{Address, KeyError, Keypair, OrderId};
use borsh::{BorshDeserialize, BorshSerialize};
use std::fmt;

/// Most bytes of a sealed box a transaction carries.
pub const MAX_SEALED_SECRETS_BYTES: usize = 16 * 1024;

/// Most secrets a spec names.
pub const MAX_SECRETS: usize = 32;

/// A job's secret environment, sealed to one provider: opaque to everyone
/// else. Written in JSON as lowercase hex.
#[derive(Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SealedSecrets(Vec<u8>);

impl SealedSecrets {
    /// The box's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A box from its bytes (as a transaction or the API carried them).
    pub fn from_bytes(bytes: Vec<u8>) -> SealedSecrets {
        SealedSecrets(bytes)
    }
}

impl fmt::Debug for SealedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecrets({} bytes)", self.0.len())
    }
}

impl serde::Serialize for SealedSecrets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for SealedSecrets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        hex::decode(text.trim())
            .map(SealedSecrets)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for SealedSecrets {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::json::schema::string_schema(
            "A job's secret environment sealed to its provider's key (libsodium sealed box), in lowercase hex.",
        )
        .pattern(Some("^([0-9a-f]{2})*$"))
        .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for SealedSecrets {}

/// Why secrets could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The provider's address is not a key anyone can hold.
    #[error("cannot seal to {address}: {source}")]
    Recipient {
        /// The address.
        address: Address,
        /// Why it is no key.
        source: KeyError,
    },
    /// More secret bytes than a transaction carries.
    #[error("the sealed secrets take {bytes} bytes; at most {max} fit in a transaction")]
    TooLarge {
        /// Bytes of the box.
        bytes: usize,
        /// [`MAX_SEALED_SECRETS_BYTES`].
        max: usize,
    },
    /// Not a box sealed to this key, or tampered with.
    #[error("the sealed secrets do not open with this provider's key")]
    Unreadable,
    /// It opened, but is not a secret environment.
    #[error("the sealed secrets opened but do not decode: {0}")]
    Malformed(String),
}

/// A job's secret environment variables with the order they are sealed
/// for. Its `Debug` names the variables and hides their values.
#[derive(Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SecretEnv {
    /// The order whose run may read them.
    pub order: OrderId,
    /// NAME and VALUE, sorted by name.
    pub vars: Vec<(String, String)>,
}

impl fmt::Debug for SecretEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.vars.iter().map(|(name, _)| name.as_str()).collect();
        write!(f, "SecretEnv {{ order: {}, names: {names:?} }}", self.order)
    }
}

/// Why an opened secret environment is not the one a run may use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretsMismatch {
    /// Sealed for another order: copied from elsewhere.
    #[error("they were sealed for order {sealed_for}, not this one")]
    OtherOrder {
        /// The order named inside.
        sealed_for: OrderId,
    },
    /// Not exactly the names the spec declares.
    #[error("they name {given:?}, but the spec declares {declared:?}")]
    Names {
        /// Names in the box.
        given: Vec<String>,
        /// The spec's `secrets`.
        declared: Vec<String>,
    },
}

impl SecretEnv {
    /// Seals these secrets to the account key of `provider`.
    pub fn seal(&self, provider: &Address) -> Result<SealedSecrets, SealError> {
        let key = provider.key().map_err(|source| SealError::Recipient {
            address: *provider,
            source,
        })?;
        let public = crypto_box::PublicKey::from(key.to_montgomery().to_bytes());
        let sealed = public
            .seal(&mut rand::rngs::OsRng, &crate::encode(self))
            // Sealing fails only for plaintexts past the cipher's limit.
            .map_err(|_| SealError::TooLarge {
                bytes: usize::MAX,
                max: MAX_SEALED_SECRETS_BYTES,
            })?;
        if sealed.len() > MAX_SEALED_SECRETS_BYTES {
            return Err(SealError::TooLarge {
                bytes: sealed.len(),
                max: MAX_SEALED_SECRETS_BYTES,
            });
        }
        Ok(SealedSecrets(sealed))
    }

    /// Whether the run of `order`, whose spec declares the secret names
    /// `declared` (sorted), may use these: sealed for it, with exactly those
    /// names.
    pub fn check_for(&self, order: OrderId, declared: &[String]) -> Result<(), SecretsMismatch> {
        if self.order != order {
            return Err(SecretsMismatch::OtherOrder {
                sealed_for: self.order,
            });
        }
        let given: Vec<String> = self.vars.iter().map(|(name, _)| name.clone()).collect();
        if given != declared {
            return Err(SecretsMismatch::Names {
                given,
                declared: declared.to_vec(),
            });
        }
        Ok(())
    }
}

impl Keypair {
    /// Opens secrets sealed to this key ([`SecretEnv::seal`]).
    pub fn open_secrets(&self, sealed: &SealedSecrets) -> Result<SecretEnv, SealError> {
        let secret = crypto_box::SecretKey::from(self.signing_key().to_scalar_bytes());
        let plain = secret
            .unseal(&sealed.0)
            .map_err(|_| SealError::Unreadable)?;
        borsh::from_slice(&plain).map_err(|e| SealError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(order: u64) -> SecretEnv {
        SecretEnv {
            order,
            vars: vec![
                ("API_TOKEN".into(), "s3cr3t-value".into()),
                ("HF_TOKEN".into(), "hf_abc".into()),
            ],
        }
    }

    #[test]
    fn only_the_providers_key_opens_what_was_sealed_to_it() {
        let provider = Keypair::from_label("provider");
        let sealed = env(7).seal(&provider.address()).unwrap();
        assert!(!sealed
            .as_bytes()
            .windows(b"s3cr3t-value".len())
            .any(|w| w == b"s3cr3t-value"));
        assert_eq!(provider.open_secrets(&sealed).unwrap(), env(7));
        let other = Keypair::from_label("another provider");
        assert_eq!(other.open_secrets(&sealed), Err(SealError::Unreadable));
    }

    #[test]
    fn a_tampered_box_does_not_open() {
        let provider = Keypair::from_label("provider");
        let mut sealed = env(7).seal(&provider.address()).unwrap();
        let last = sealed.0.len() - 1;
        sealed.0[last] ^= 1;
        assert_eq!(provider.open_secrets(&sealed), Err(SealError::Unreadable));
        assert_eq!(
            provider.open_secrets(&SealedSecrets(vec![1, 2, 3])),
            Err(SealError::Unreadable)
        );
    }

    #[test]
    fn secrets_sealed_for_one_order_are_refused_for_another() {
        let declared = vec!["API_TOKEN".to_string(), "HF_TOKEN".to_string()];
        assert_eq!(env(7).check_for(7, &declared), Ok(()));
        assert_eq!(
            env(7).check_for(8, &declared),
            Err(SecretsMismatch::OtherOrder { sealed_for: 7 })
        );
        assert!(matches!(
            env(7).check_for(7, &declared[..1]),
            Err(SecretsMismatch::Names { .. })
        ));
    }

    #[test]
    fn nothing_is_sealed_to_a_weak_key() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            env(1).seal(&Address(identity)),
            Err(SealError::Recipient { .. })
        ));
    }

    #[test]
    fn debug_and_json_never_show_a_value() {
        let shown = format!("{:?}", env(3));
        assert!(
            shown.contains("API_TOKEN") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        let sealed = env(3).seal(&Keypair::from_label("p").address()).unwrap();
        let json = serde_json::to_string(&sealed).unwrap();
        let back: SealedSecrets = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sealed);
        assert!(format!("{sealed:?}").ends_with("bytes)"));
    }
}
