//! Keys on disk. A keystore file (JSON, mode 0600) holds an account's
//! address and its secret key, sealed with a passphrase: Argon2id derives a
//! key from the passphrase and a random salt, and XChaCha20-Poly1305 seals
//! the secret with it, the address as associated data (a file whose address
//! was swapped does not open). A key that must open unattended and guards
//! little (a devnet's, a node's TLS key) may be kept in plain hex instead,
//! and only when asked for.
//!
//! The passphrase comes from `GPUNET_PASSPHRASE` (scripts, services) or is
//! asked for on the terminal; without either, a sealed keystore cannot be
//! made or opened, and the error says so.

use crate::error::ClientError;
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use gpunet_primitives::{Address, Keypair};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The environment variable a passphrase is read from before any prompt.
pub const PASSPHRASE_VAR: &str = "GPUNET_PASSPHRASE";

/// Argon2id's cost for new keystores: 19 MiB, two passes, one lane (OWASP's
/// recommended minimum). Each file records its own, so raising it later
/// leaves older files readable.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// A keystore file's content.
#[derive(Serialize, Deserialize)]
pub struct Keystore {
    /// The key's address (checked against the secret when read).
    pub address: Address,
    /// The secret key, sealed or plain.
    #[serde(flatten)]
    pub secret: Secret,
}

/// How a keystore holds its secret key.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
pub enum Secret {
    /// Sealed with a passphrase.
    Sealed {
        /// How, and the sealed bytes.
        crypto: Sealed,
    },
    /// In plain hex (asked for explicitly: `--plaintext`, a devnet, a node's TLS key).
    Plain {
        /// The secret seed, in hex.
        secret_key: String,
    },
}

/// A secret key sealed with a passphrase.
#[derive(Serialize, Deserialize)]
pub struct Sealed {
    /// The key derivation: `argon2id`.
    pub kdf: String,
    /// Argon2 memory cost, in KiB.
    pub m_kib: u32,
    /// Argon2 passes.
    pub t: u32,
    /// Argon2 lanes.
    pub p: u32,
    /// Argon2 salt, in hex.
    pub salt: String,
    /// The cipher: `xchacha20poly1305`.
    pub cipher: String,
    /// The cipher's nonce, in hex.
    pub nonce: String,
    /// The sealed secret seed and its tag, in hex.
    pub ciphertext: String,
}

/// How a new keystore keeps its key.
pub enum Protection {
    /// Sealed with this passphrase.
    Passphrase(String),
    /// In plain hex.
    Plaintext,
}

impl Protection {
    /// A passphrase from `GPUNET_PASSPHRASE`, or asked twice on the terminal.
    pub fn passphrase_from_env_or_prompt() -> Result<Protection, ClientError> {
        let passphrase = from_env_or_terminal(
            || {
                let first = rpassword::prompt_password("passphrase for the new key: ")?;
                let again = rpassword::prompt_password("the same passphrase again: ")?;
                if first != again {
                    return Err(ClientError::Invalid(
                        "the passphrases differ; nothing was written".into(),
                    ));
                }
                Ok(first)
            },
            || {
                format!(
                    "a new keystore is sealed with a passphrase: set {PASSPHRASE_VAR}, run this \
                     from a terminal, or pass --plaintext to keep the key unencrypted"
                )
            },
        )?;
        non_empty(passphrase).map(Protection::Passphrase)
    }
}

/// The passphrase in `GPUNET_PASSPHRASE`, or the one `ask` reads on the
/// terminal; without either, the error `refusal` says.
fn from_env_or_terminal(
    ask: impl FnOnce() -> Result<String, ClientError>,
    refusal: impl FnOnce() -> String,
) -> Result<String, ClientError> {
    if let Ok(passphrase) = std::env::var(PASSPHRASE_VAR) {
        return Ok(passphrase);
    }
    if !std::io::stdin().is_terminal() {
        return Err(ClientError::Invalid(refusal()));
    }
    ask()
}

fn non_empty(passphrase: String) -> Result<String, ClientError> {
    if passphrase.is_empty() {
        return Err(ClientError::Invalid(
            "an empty passphrase protects nothing (pass --plaintext to mean that)".into(),
        ));
    }
    Ok(passphrase)
}

/// Why a sealed key cannot even be tried with a passphrase.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SealError {
    /// A key derivation or cipher this version does not know.
    #[error("unknown kdf {kdf:?} or cipher {cipher:?}")]
    UnknownScheme {
        /// The file's key derivation.
        kdf: String,
        /// The file's cipher.
        cipher: String,
    },
    /// A salt, nonce or ciphertext that is not hex.
    #[error("not hex: {0}")]
    Hex(#[from] hex::FromHexError),
    /// A nonce of the wrong length.
    #[error("the nonce is {0} bytes, not 24")]
    Nonce(usize),
    /// Argon2 parameters out of its range (a salt too short, a cost too low).
    #[error("key derivation: {0}")]
    Kdf(#[from] argon2::Error),
}

/// The 32-byte key Argon2id derives from `passphrase` and `salt` at this cost.
fn derive(
    passphrase: &str,
    salt: &[u8],
    m_kib: u32,
    t: u32,
    p: u32,
) -> Result<[u8; 32], argon2::Error> {
    let params = Params::new(m_kib, t, p, Some(32))?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password_into(
        passphrase.as_bytes(),
        salt,
        &mut key,
    )?;
    Ok(key)
}

impl Sealed {
    /// `seed` sealed with `passphrase`, bound to `address`.
    fn seal(seed: &[u8; 32], address: &Address, passphrase: &str) -> Sealed {
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let key = derive(passphrase, &salt, MEMORY_KIB, PASSES, LANES)
            .expect("the default Argon2 parameters are valid");
        let ciphertext = XChaCha20Poly1305::new(&key.into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: seed,
                    aad: address.as_bytes(),
                },
            )
            .expect("sealing 32 bytes cannot fail");
        Sealed {
            kdf: "argon2id".into(),
            m_kib: MEMORY_KIB,
            t: PASSES,
            p: LANES,
            salt: hex::encode(salt),
            cipher: "xchacha20poly1305".into(),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
        }
    }

    /// The seed sealed in `self` for `address`, opened with `passphrase`;
    /// `None` for a wrong passphrase or an altered file.
    fn open(&self, address: &Address, passphrase: &str) -> Result<Option<[u8; 32]>, SealError> {
        if self.kdf != "argon2id" || self.cipher != "xchacha20poly1305" {
            return Err(SealError::UnknownScheme {
                kdf: self.kdf.clone(),
                cipher: self.cipher.clone(),
            });
        }
        let (salt, nonce, ciphertext) = (
            hex::decode(&self.salt)?,
            hex::decode(&self.nonce)?,
            hex::decode(&self.ciphertext)?,
        );
        if nonce.len() != 24 {
            return Err(SealError::Nonce(nonce.len()));
        }
        let key = derive(passphrase, &salt, self.m_kib, self.t, self.p)?;
        let opened = XChaCha20Poly1305::new(&key.into()).decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: address.as_bytes(),
            },
        );
        Ok(opened.ok().and_then(|seed| seed.try_into().ok()))
    }
}

impl Keystore {
    /// Writes `key` to a new file at `path` with mode 0600, kept as
    /// `protection` says; refuses to overwrite.
    pub fn create(path: &Path, key: &Keypair, protection: &Protection) -> Result<(), ClientError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let address = key.address();
        let secret = match protection {
            Protection::Passphrase(passphrase) => Secret::Sealed {
                crypto: Sealed::seal(&key.secret_bytes(), &address, passphrase),
            },
            Protection::Plaintext => Secret::Plain {
                secret_key: hex::encode(key.secret_bytes()),
            },
        };
        let text = serde_json::to_string_pretty(&Keystore { address, secret })
            .expect("keystore serializes");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => ClientError::Invalid(format!(
                    "{} already exists; refusing to overwrite a key (use another --keystore path)",
                    path.display()
                )),
                _ => ClientError::Io(e),
            })?;
        file.write_all(text.as_bytes())?;
        Ok(())
    }

    /// Loads the key at `path`; refuses files that others can read. A
    /// sealed key opens with the passphrase from `GPUNET_PASSPHRASE`, or one
    /// asked for on the terminal.
    pub fn load(path: &Path) -> Result<Keypair, ClientError> {
        let invalid =
            |why: String| ClientError::Invalid(format!("keystore {}: {why}", path.display()));
        let meta = std::fs::metadata(path).map_err(|e| {
            ClientError::Invalid(format!(
                "cannot read keystore {}: {e}. Create one with `gpunet wallet new`",
                path.display()
            ))
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(ClientError::Invalid(format!(
                "keystore {} is readable by others; run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
        let ks: Keystore = serde_json::from_slice(&std::fs::read(path)?)
            .map_err(|e| invalid(format!("malformed: {e}")))?;
        let seed = match &ks.secret {
            Secret::Plain { secret_key } => {
                let mut seed = [0u8; 32];
                hex::decode_to_slice(secret_key, &mut seed)
                    .map_err(|_| invalid("malformed secret key".into()))?;
                seed
            }
            Secret::Sealed { crypto } => {
                let passphrase = passphrase_for(path)?;
                crypto
                    .open(&ks.address, &passphrase)
                    .map_err(|e| invalid(format!("malformed sealed key: {e}")))?
                    .ok_or_else(|| invalid("wrong passphrase (or the file was altered)".into()))?
            }
        };
        let key = Keypair::from_seed(seed);
        if key.address() != ks.address {
            return Err(invalid("the secret key does not match the address".into()));
        }
        Ok(key)
    }

    /// Loads the key at `path`, or makes one there, in plain hex, if there is
    /// no file yet: a node's API (TLS) key, made on its first start and
    /// opened on every restart without anyone at hand.
    pub fn load_or_create(path: &Path) -> Result<Keypair, ClientError> {
        if path.exists() {
            return Keystore::load(path);
        }
        let key = Keypair::generate();
        Keystore::create(path, &key, &Protection::Plaintext)?;
        Ok(key)
    }
}

/// The passphrase for the sealed keystore at `path`.
fn passphrase_for(path: &Path) -> Result<String, ClientError> {
    from_env_or_terminal(
        || {
            Ok(rpassword::prompt_password(format!(
                "passphrase for {}: ",
                path.display()
            ))?)
        },
        || {
            format!(
                "keystore {} is sealed with a passphrase: set {PASSPHRASE_VAR} or run this from a terminal",
                path.display()
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passphrase() -> Protection {
        Protection::Passphrase("correct horse battery staple".into())
    }

    #[test]
    fn a_keystore_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let key = Keypair::generate();
        Keystore::create(&path, &key, &Protection::Plaintext).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(Keystore::load(&path).unwrap().address(), key.address());
        assert!(Keystore::create(&path, &Keypair::generate(), &passphrase()).is_err());
        assert_eq!(Keystore::load(&path).unwrap().address(), key.address());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Keystore::load(&path)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
    }

    #[test]
    fn a_sealed_key_opens_with_its_passphrase_only_and_shows_nothing_of_itself() {
        let key = Keypair::generate();
        let address = key.address();
        let sealed = Sealed::seal(&key.secret_bytes(), &address, "right");
        let file = serde_json::to_string(&Keystore {
            address,
            secret: Secret::Sealed { crypto: sealed },
        })
        .unwrap();
        assert!(!file.contains(&hex::encode(key.secret_bytes())), "{file}");
        let Keystore {
            secret: Secret::Sealed { crypto },
            ..
        } = serde_json::from_str(&file).unwrap()
        else {
            panic!("read back as plain: {file}");
        };
        assert_eq!(
            crypto.open(&address, "right").unwrap(),
            Some(key.secret_bytes())
        );
        assert_eq!(crypto.open(&address, "wrong").unwrap(), None);
        // Another address in the file does not open: the seal binds it.
        let other = Keypair::generate().address();
        assert_eq!(crypto.open(&other, "right").unwrap(), None);
    }
}
