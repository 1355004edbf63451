//! Container images pushed from this machine's engine (`gpunet image push`),
//! kept as `docker save` archives and served peer to peer to the providers
//! that run them: no registry, no validator in between.
//!
//! # Design
//!
//! - **Content addressed.** An archive is named by its BLAKE3 root, as the
//!   data plane's blobs are; a job that runs it names the image by the id
//!   it loads as (`sha256:…`) and carries the archive's root, size and the
//!   client's holder proof ([`ImageBlob`](gpunet_primitives::ImageBlob)). A provider checks the loaded
//!   image is that id, so what runs is exactly what was pushed.
//! - **Kept here, in one place.** `archives/<root>.tar` beside `index.json`
//!   (which names and ids each archive has); the serving peer's store
//!   refers to the archive in place rather than copying it. A job that
//!   names a pushed image hashes its archive again (a changed archive is
//!   refused, not sent) and proves this account holds it.
//! - **Who may read.** From the client's own peer (`gpunet serve`), the
//!   provider of a lease of one of its orders that names the archive
//!   (`served::OwnOrdersGate`). A provider that loaded an image serves it
//!   on only for a lease whose spec names the archive with a holder proof
//!   that holds for the lease's client (`ImageGate`), so a root and proof
//!   seen on chain read nothing without the bytes.

use crate::ClientError;
use gpunet_primitives::{Address, BlobHasher, Hash, ImageBlob, ReadSecret};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How a job names a pushed archive by its root: `blake3:` and 64 hex digits.
pub const ROOT_PREFIX: &str = "blake3:";

/// Names the directory of pushed images ([`ImageStore::default_dir`]).
pub const IMAGES_VAR: &str = "GPUNET_IMAGES";

/// An image pushed from this machine: one archive, the id it loads as and
/// the names it was pushed under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedImage {
    /// BLAKE3 of the archive.
    pub root: Hash,
    /// The image's id, as the engine names it: what it loads as.
    pub image_id: String,
    /// The names it was pushed as (a name moves to the latest push).
    pub names: Vec<String>,
    /// The archive's size in bytes.
    pub size: u64,
}

impl PushedImage {
    /// How a job file names it: `blake3:ROOT`.
    pub fn reference(&self) -> String {
        format!("{ROOT_PREFIX}{}", self.root)
    }
}

/// Why a pushed image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A `blake3:` root that no archive here has.
    #[error("no image with root {root} was pushed from here (see `gpunet image ls`)")]
    NotPushed {
        /// The root named.
        root: String,
    },
    /// The archive's bytes are no longer those pushed.
    #[error("the archive of {root} at {} changed since it was pushed; push the image again", path.display())]
    ArchiveChanged {
        /// Its root when pushed.
        root: Hash,
        /// The archive.
        path: PathBuf,
    },
    /// The index of pushed images cannot be read or written.
    #[error("the index of pushed images {}: {why}", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// The pushed images of this machine, in a directory of their own.
pub struct ImageStore {
    dir: PathBuf,
}

#[derive(Default, Serialize, Deserialize)]
struct Index {
    images: Vec<PushedImage>,
}

impl ImageStore {
    /// `GPUNET_IMAGES`, else `~/.gpunet/images` (`.gpunet/images` without
    /// a home): where `gpunet image push` keeps archives and where a job
    /// file's image is looked up.
    pub fn default_dir() -> PathBuf {
        crate::config::gpunet_dir(IMAGES_VAR, "images")
    }

    /// The store in `dir`, made if missing.
    pub fn open(dir: &Path) -> Result<ImageStore, ClientError> {
        std::fs::create_dir_all(dir.join("archives"))?;
        Ok(ImageStore {
            dir: dir.to_path_buf(),
        })
    }

    /// The store in `dir` as it is: one that does not exist holds nothing.
    pub fn at(dir: &Path) -> ImageStore {
        ImageStore {
            dir: dir.to_path_buf(),
        }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the archive of `root` is kept.
    pub fn archive(&self, root: &Hash) -> PathBuf {
        self.dir.join("archives").join(format!("{root}.tar"))
    }

    /// A new file to save an archive into before [`ImageStore::add`]: on
    /// the archives' file system, so adding it is a rename.
    pub fn staging(&self) -> Result<tempfile::NamedTempFile, ClientError> {
        Ok(tempfile::Builder::new()
            .prefix(".saving-")
            .tempfile_in(self.dir.join("archives"))?)
    }

    /// Every image pushed, by root.
    pub fn list(&self) -> Result<Vec<PushedImage>, ClientError> {
        Ok(self.index()?.images)
    }

    /// Keeps the archive saved in `staged` as image `id` pushed under `name`:
    /// hashed, moved to its place, recorded. `name` no longer names any other.
    pub fn add(
        &self,
        staged: tempfile::NamedTempFile,
        id: &str,
        name: &str,
    ) -> Result<PushedImage, ClientError> {
        let (root, _, size) = BlobHasher::of_file(staged.path())?;
        staged
            .persist(self.archive(&root))
            .map_err(|e| ClientError::Io(e.error))?;
        let mut index = self.index()?;
        for image in &mut index.images {
            image.names.retain(|n| n != name);
        }
        let image = match index.images.iter_mut().find(|i| i.root == root) {
            Some(image) => image,
            None => {
                index.images.push(PushedImage {
                    root,
                    image_id: id.to_string(),
                    names: Vec::new(),
                    size,
                });
                index.images.last_mut().expect("just pushed")
            }
        };
        if name != id {
            image.names.push(name.to_string());
            image.names.sort();
        }
        let added = image.clone();
        index.images.sort_by_key(|i| i.root);
        self.write_index(&index)?;
        Ok(added)
    }

    /// The pushed image `image` names: `blake3:ROOT` (which must have been
    /// pushed), its id (`sha256:…`, or `NAME@sha256:…`), or a name it was
    /// pushed under. `None`: an image the providers' engines are to have.
    pub fn find(&self, image: &str) -> Result<Option<PushedImage>, ClientError> {
        let images = self.list()?;
        if let Some(root) = image.strip_prefix(ROOT_PREFIX) {
            let wanted: Option<Hash> = root.parse().ok();
            return match images.into_iter().find(|i| Some(i.root) == wanted) {
                Some(found) => Ok(Some(found)),
                None => Err(ImageError::NotPushed {
                    root: root.chars().take(64).collect(),
                }
                .into()),
            };
        }
        let digest = image.rsplit_once('@').map_or(image, |(_, digest)| digest);
        Ok(images
            .into_iter()
            .find(|i| i.image_id == digest || i.names.iter().any(|n| n == image)))
    }

    /// What a job of `client` that runs `image` carries: the archive hashed
    /// again (it must be as pushed) and the proof that `client` holds it.
    pub fn blob_for(
        &self,
        image: &PushedImage,
        client: &Address,
    ) -> Result<ImageBlob, ClientError> {
        let (secret, size) = self.read_archive(image)?;
        Ok(ImageBlob {
            hash: image.root,
            size,
            holder_proof: secret.proof_for(client),
        })
    }

    /// Reads `image`'s archive whole: its read secret and size, once its
    /// bytes are found to be those pushed.
    fn read_archive(&self, image: &PushedImage) -> Result<(ReadSecret, u64), ClientError> {
        let path = self.archive(&image.root);
        let (root, secret, size) = BlobHasher::of_file(&path)?;
        if root != image.root {
            return Err(ImageError::ArchiveChanged {
                root: image.root,
                path,
            }
            .into());
        }
        Ok((secret, size))
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    fn index(&self) -> Result<Index, ClientError> {
        let path = self.index_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ImageError::Index {
                    path,
                    why: e.to_string(),
                }
                .into()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the index whole, then renames it in place: a crash leaves the
    /// old index or the new one.
    fn write_index(&self, index: &Index) -> Result<(), ClientError> {
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        serde_json::to_writer_pretty(&mut file, index).map_err(std::io::Error::other)?;
        file.persist(self.index_path())
            .map_err(|e| ClientError::Io(e.error))?;
        Ok(())
    }
}

/// Serving pushed images: who may read an archive.
#[cfg(feature = "p2p")]
mod gate {
    use crate::NodeClient;
    use gpunet_p2p::ReadGate;
    use gpunet_primitives::{Address, Hash, ReadSecret};
    use std::collections::BTreeMap;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, RwLock};

    /// Lets a provider read an image archive this peer holds when one of its
    /// running leases names the archive with a holder proof that holds for
    /// the lease's client: the client pushed it, or has its bytes.
    #[derive(Clone)]
    pub struct ImageGate {
        node: NodeClient,
        secrets: Arc<RwLock<BTreeMap<Hash, ReadSecret>>>,
    }

    impl ImageGate {
        /// A gate that asks `node` about readers' leases, serving nothing yet.
        pub fn new(node: NodeClient) -> ImageGate {
            ImageGate {
                node,
                secrets: Arc::default(),
            }
        }

        /// Serves the archive `root`, whose read secret is `secret`.
        pub fn allow(&self, root: Hash, secret: ReadSecret) {
            self.secrets
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(root, secret);
        }

        /// Serves `root` no longer.
        pub fn forbid(&self, root: &Hash) {
            self.secrets
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(root);
        }

        /// Whether this gate serves `root`.
        pub fn serves(&self, root: &Hash) -> bool {
            self.secrets
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(root)
        }
    }

    impl ReadGate for ImageGate {
        fn may_read(
            &self,
            reader: Address,
            blob: Hash,
        ) -> Pin<Box<dyn Future<Output = bool> + Send>> {
            let secret = self
                .secrets
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&blob)
                .copied();
            let node = self.node.clone();
            Box::pin(async move {
                let Some(secret) = secret else {
                    return false;
                };
                match node.provider_leases(&reader).await {
                    Ok(leases) => leases.iter().any(|lease| {
                        lease.spec.image_blob.is_some_and(|named| {
                            named.hash == blob
                                && named.holder_proof == secret.proof_for(&lease.client)
                        })
                    }),
                    Err(e) => {
                        tracing::warn!("cannot ask the node about {reader}'s leases: {e}");
                        false
                    }
                }
            })
        }
    }
}

#[cfg(feature = "p2p")]
pub use gate::ImageGate;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn staged(store: &ImageStore, bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = store.staging().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    #[test]
    fn a_pushed_image_is_found_by_root_id_and_name_and_proves_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let id = format!("sha256:{}", "cd".repeat(32));
        let pushed = store
            .add(staged(&store, b"an archive"), &id, "me/trainer:1")
            .unwrap();
        assert_eq!(pushed.root, Hash::digest(b"an archive"));
        assert_eq!(pushed.size, 10);
        for name in [
            pushed.reference(),
            id.clone(),
            format!("me/trainer@{id}"),
            "me/trainer:1".into(),
        ] {
            assert_eq!(store.find(&name).unwrap().as_ref(), Some(&pushed), "{name}");
        }
        assert_eq!(store.find("me/trainer:2").unwrap(), None);
        let unknown = format!("{ROOT_PREFIX}{}", Hash::digest(b"other"));
        assert!(matches!(
            store.find(&unknown),
            Err(ClientError::Image(ImageError::NotPushed { .. }))
        ));

        let client = gpunet_primitives::Keypair::generate().address();
        let blob = store.blob_for(&pushed, &client).unwrap();
        let (_, secret) = BlobHasher::of(b"an archive");
        assert_eq!(blob.holder_proof, secret.proof_for(&client));
        assert_eq!((blob.hash, blob.size), (pushed.root, 10));

        // The same name pushed again names the new archive only.
        let newer = store
            .add(staged(&store, b"another archive"), &id, "me/trainer:1")
            .unwrap();
        assert_eq!(store.find("me/trainer:1").unwrap(), Some(newer));
        assert_eq!(store.list().unwrap().len(), 2);

        // An archive changed on disk is not sent.
        std::fs::write(store.archive(&pushed.root), b"tampered").unwrap();
        assert!(matches!(
            store.blob_for(&pushed, &client),
            Err(ClientError::Image(ImageError::ArchiveChanged { .. }))
        ));
    }
}
