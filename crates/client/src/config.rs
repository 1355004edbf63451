//! The user's configuration: named profiles, each a node address and a
//! keystore, one of them the default, so that no command depends on the
//! directory it runs in. It lives in `config.toml` under the user's config
//! directory (`~/.config/gpunet/` on Linux, as the `directories` crate
//! finds it), or in the file `GPUNET_CONFIG` names. `gpunet init` writes a
//! profile, `gpunet devnet` registers its own, `--profile` picks one.
//!
//! ```toml
//! default_profile = "devnet"
//!
//! [profiles.devnet]
//! node = "https://127.0.0.1:8645#5173d6…"
//! keystore = "/home/me/src/gpunet/.gpunet/devnet/wallets/client.json"
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable naming another configuration file.
pub const CONFIG_VAR: &str = "GPUNET_CONFIG";

/// Longest profile name.
const MAX_NAME_LEN: usize = 64;

/// The user's profiles.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The profile commands use when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Where commands go and whose key signs them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The node's address, `https://HOST:PORT#KEY` (comma-separated to fail over).
    pub node: String,
    /// The keystore file, an absolute path.
    pub keystore: PathBuf,
}

/// Why the configuration cannot be read, written or used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No home directory to keep a configuration in.
    #[error("no configuration directory (no home directory?): set {CONFIG_VAR} to a file")]
    NoConfigDir,
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not a configuration.
    #[error("{path} is not a gpunet configuration: {error}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        error: toml::de::Error,
    },
    /// The file cannot be written.
    #[error("cannot write {path}: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A profile was named that the configuration does not have.
    #[error("no profile {name:?} in {path} (profiles: {known}); `gpunet init --profile {name} --node ADDRESS` makes one")]
    NoSuchProfile {
        /// The name given.
        name: String,
        /// The file.
        path: PathBuf,
        /// The profiles it has, comma-separated.
        known: String,
    },
    /// A profile name that is empty, too long, or not letters, digits, `-` and `_`.
    #[error("profile names are 1 to {MAX_NAME_LEN} letters, digits, '-' or '_', not {0:?}")]
    BadName(String),
}

impl Config {
    /// The configuration file: `GPUNET_CONFIG`, or `config.toml` in the
    /// user's config directory.
    pub fn path() -> Result<PathBuf, ConfigError> {
        if let Some(path) = std::env::var_os(CONFIG_VAR).filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(path));
        }
        directories::ProjectDirs::from("", "", "gpunet")
            .map(|dirs| dirs.config_dir().join("config.toml"))
            .ok_or(ConfigError::NoConfigDir)
    }

    /// Reads the configuration at `path`; none there is an empty one.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|error| ConfigError::Parse {
                path: path.to_path_buf(),
                error,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(error) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                error,
            }),
        }
    }

    /// Writes the configuration to `path` whole (a reader never sees half
    /// of it: it is written beside and renamed over), creating its directory.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let write_error = |error| ConfigError::Write {
            path: path.to_path_buf(),
            error,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_error)?;
        }
        let text = toml::to_string(self).map_err(|e| write_error(std::io::Error::other(e)))?;
        let mut beside = path.as_os_str().to_owned();
        beside.push(format!(".{}.tmp", std::process::id()));
        let beside = PathBuf::from(beside);
        std::fs::write(&beside, text).map_err(write_error)?;
        std::fs::rename(&beside, path).map_err(write_error)
    }

    /// The profile `name`, or why there is none.
    pub fn profile(&self, name: &str, path: &Path) -> Result<&Profile, ConfigError> {
        self.profiles
            .get(name)
            .ok_or_else(|| ConfigError::NoSuchProfile {
                name: name.to_string(),
                path: path.to_path_buf(),
                known: if self.profiles.is_empty() {
                    "none".into()
                } else {
                    self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            })
    }

    /// The default profile, with its name, if one is set and exists.
    pub fn default_entry(&self) -> Option<(&str, &Profile)> {
        let name = self.default_profile.as_deref()?;
        Some((name, self.profiles.get(name)?))
    }

    /// Sets profile `name`, and makes it the default when `make_default` or
    /// when there is no default yet. Returns whether it is the default.
    pub fn set(
        &mut self,
        name: &str,
        profile: Profile,
        make_default: bool,
    ) -> Result<bool, ConfigError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(valid) {
            return Err(ConfigError::BadName(name.to_string()));
        }
        self.profiles.insert(name.to_string(), profile);
        if make_default || self.default_entry().is_none() {
            self.default_profile = Some(name.to_string());
        }
        Ok(self.default_profile.as_deref() == Some(name))
    }
}

/// The directory `var` names, else `~/.gpunet/NAME` (`.gpunet/NAME` without
/// a home): where this machine keeps one kind of thing.
pub(crate) fn gpunet_dir(var: &str, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(var) {
        return dir.into();
    }
    std::env::var_os("HOME")
        .map_or_else(
            || PathBuf::from(".gpunet"),
            |home| PathBuf::from(home).join(".gpunet"),
        )
        .join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(node: &str) -> Profile {
        Profile {
            node: node.into(),
            keystore: "/keys/me.json".into(),
        }
    }

    #[test]
    fn profiles_round_trip_and_the_first_one_set_is_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/config.toml");
        let mut config = Config::load(&path).unwrap();
        assert_eq!(
            config,
            Config::default(),
            "no file is an empty configuration"
        );
        assert!(config.set("devnet", profile("https://a#1"), false).unwrap());
        assert!(!config.set("main", profile("https://b#2"), false).unwrap());
        config.save(&path).unwrap();
        let read = Config::load(&path).unwrap();
        assert_eq!(read, config);
        assert_eq!(read.default_entry().unwrap().0, "devnet");
        let mut changed = read.clone();
        assert!(changed.set("main", profile("https://b#3"), true).unwrap());
        assert_eq!(changed.default_entry().unwrap().1.node, "https://b#3");
        let missing = read.profile("staging", &path).unwrap_err().to_string();
        assert!(missing.contains("(profiles: devnet, main)"), "{missing}");
        for bad in ["", "a b", "x/../y", &"p".repeat(65)] {
            assert!(matches!(
                changed.set(bad, profile("n"), false),
                Err(ConfigError::BadName(_))
            ));
        }
        std::fs::write(&path, "profiles = 3").unwrap();
        assert!(matches!(
            Config::load(&path),
            Err(ConfigError::Parse { .. })
        ));
    }
}
