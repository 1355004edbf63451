//! Files and directories between here and a rental (`gpunet rent cp`,
//! `Rental.cp` in Python), resumable and verified, through commands run in
//! the rental (as `kubectl cp` does, on the sessions of
//! [`RentalLink::exec`](crate::rental_session::RentalLink::exec)): any
//! image with a POSIX shell, `cat`, `tail`, `tar`, `find` and `sha256sum`
//! (busybox has them all).
//!
//! - A file travels into `NAME.gpunet-partial` next to its destination and
//!   is renamed once its SHA-256 matches the source's, so an interrupted copy
//!   goes on from the partial file's length when run again. Sent whole, it
//!   is hashed here as it is read, not read twice.
//! - A directory travels as one tar stream of the files the destination
//!   lacks or holds differently (by SHA-256), so a rerun sends only what is
//!   missing; every file is checked against the source's hashes after.
//!
//! The rental is the other party, and it is not trusted with this machine:
//! names it lists are refused unless they stay inside the destination, the
//! tar reader refuses entries that would leave it, and what its commands
//! write to their errors is kept only up to a bound.

use crate::rental_session::{OutputBuffer, RentalLink};
use crate::{ClientError, Wallet};
use gpunet_primitives::OrderId;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite};
use tokio_util::io::SyncIoBridge;

type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Suffix of a file still on its way.
const PARTIAL: &str = ".gpunet-partial";

/// Bytes of names one archive of a download asks for (they go as
/// arguments, which the kernel bounds at 2 MiB in all).
const NAMES_PER_ARCHIVE: usize = 64 * 1024;

/// Most of a failed command's errors kept for its message.
const STDERR_KEPT: usize = 4096;

/// One side of a copy: a local path, or `ID:PATH` in a rental.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A path here.
    Local(PathBuf),
    /// `ID:PATH`: a path in rental `order`'s container.
    Rental {
        /// The rental.
        order: OrderId,
        /// The path in its container (relative ones from its working directory).
        path: String,
    },
}

impl std::str::FromStr for Place {
    type Err = String;

    /// `ID:PATH` is in rental ID (write `./8:x` for a local file named so).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err("an empty path".into());
        }
        match text.split_once(':') {
            Some((id, path)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
                let order = id
                    .parse()
                    .map_err(|_| format!("{id:?} in {text:?} is not an order id"))?;
                if path.is_empty() {
                    return Err(format!("{text:?} names no path in rental {order}"));
                }
                Ok(Place::Rental {
                    order,
                    path: path.to_string(),
                })
            }
            _ => Ok(Place::Local(PathBuf::from(text))),
        }
    }
}

/// What a copy did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Copied {
    /// Where the files went (`ID:PATH` for a rental).
    pub destination: String,
    /// Files sent this time.
    pub files: u64,
    /// Their bytes (what a resumed file still needed).
    pub bytes: u64,
    /// Files that were there already, identical.
    pub unchanged: u64,
}

/// Copies `from` to `to`, one of them in a rental of this wallet's (the
/// other local), on a link of its own.
pub async fn copy(wallet: &Wallet, from: Place, to: Place) -> Result<Copied, ClientError> {
    let invalid = |why: &str| ClientError::Invalid(why.into());
    let order = match (&from, &to) {
        (Place::Local(_), Place::Rental { order, .. })
        | (Place::Rental { order, .. }, Place::Local(_)) => *order,
        (Place::Local(_), Place::Local(_)) => {
            return Err(invalid(
                "neither side is in a rental: write one as ID:PATH, e.g. 8:/workspace",
            ))
        }
        (Place::Rental { .. }, Place::Rental { .. }) => {
            return Err(invalid(
                "both sides are in rentals: copy to here, then on (one side is local)",
            ))
        }
    };
    let link = RentalLink::connect(wallet, order).await?;
    let copied = copy_on(&link, from, to).await;
    link.close().await;
    copied
}

/// Copies `from` to `to` through `link`: one side local, the other in the
/// link's rental.
pub async fn copy_on(link: &RentalLink, from: Place, to: Place) -> Result<Copied, ClientError> {
    let rental = Rental {
        link,
        order: link.order(),
    };
    let elsewhere = |order: OrderId| {
        ClientError::Invalid(format!(
            "rental {order} is not the one this link reaches ({})",
            link.order()
        ))
    };
    match (from, to) {
        (Place::Local(local), Place::Rental { order, path }) => match order == rental.order {
            true => rental.upload(&local, &path).await,
            false => Err(elsewhere(order)),
        },
        (Place::Rental { order, path }, Place::Local(local)) => match order == rental.order {
            true => rental.download(&path, &local).await,
            false => Err(elsewhere(order)),
        },
        _ => Err(ClientError::Invalid(
            "one side of a copy is local, the other in the rental (ID:PATH)".into(),
        )),
    }
}

/// A rental, reached through its link.
struct Rental<'a> {
    link: &'a RentalLink,
    order: OrderId,
}

/// What a path in the rental is.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Missing,
    Directory,
    File { bytes: u64 },
}

impl Rental<'_> {
    /// Runs `sh -c script sh args...` in the rental, `input` its standard
    /// input and `output` its standard output; an error with its errors
    /// unless it exits 0.
    async fn run(
        &self,
        script: &str,
        args: &[&str],
        input: impl AsyncRead + Unpin,
        output: impl AsyncWrite + Unpin,
    ) -> Result<(), ClientError> {
        let command = ["sh", "-c", script, "sh"]
            .iter()
            .chain(args)
            .map(|a| a.to_string())
            .collect();
        let mut errors = OutputBuffer::new(STDERR_KEPT);
        match self.link.exec(command, input, output, &mut errors).await? {
            0 => Ok(()),
            code => Err(ClientError::RentalSession(format!(
                "copying failed in rental {} (exit code {code}): {}",
                self.order,
                String::from_utf8_lossy(errors.bytes()).trim()
            ))),
        }
    }

    /// The standard output of `sh -c script sh args...`.
    async fn output(&self, script: &str, args: &[&str]) -> Result<String, ClientError> {
        let mut out = Vec::new();
        self.run(script, args, tokio::io::empty(), &mut out).await?;
        String::from_utf8(out).map_err(|_| broke(self.order, "an answer that is not text".into()))
    }

    async fn kind(&self, path: &str) -> Result<Kind, ClientError> {
        let answer = self
            .output(
                r#"if [ -d "$1" ]; then echo d; elif [ -f "$1" ]; then echo f; wc -c < "$1"; else echo -; fi"#,
                &[path],
            )
            .await?;
        let mut lines = answer.split_whitespace();
        match (lines.next(), lines.next().map(str::parse::<u64>)) {
            (Some("d"), None) => Ok(Kind::Directory),
            (Some("f"), Some(Ok(bytes))) => Ok(Kind::File { bytes }),
            (Some("-"), None) => Ok(Kind::Missing),
            _ => Err(broke(
                self.order,
                format!("an odd answer about {path:?}: {answer:?}"),
            )),
        }
    }

    /// Bytes of `path`, 0 if it is not a file.
    async fn size(&self, path: &str) -> Result<u64, ClientError> {
        Ok(match self.kind(path).await? {
            Kind::File { bytes } => bytes,
            Kind::Missing | Kind::Directory => 0,
        })
    }

    async fn sha256(&self, path: &str) -> Result<String, ClientError> {
        let answer = self.output(r#"sha256sum "$1""#, &[path]).await?;
        answer
            .split_whitespace()
            .next()
            .filter(|hash| is_sha256(hash))
            .map(str::to_string)
            .ok_or_else(|| broke(self.order, format!("an odd hash of {path:?}: {answer:?}")))
    }

    /// The SHA-256 of every file under directory `path`, by its path
    /// relative to it (nothing if it does not exist).
    async fn hashes(&self, path: &str) -> Result<BTreeMap<PathBuf, String>, ClientError> {
        let listing = self
            .output(
                r#"cd "$1" 2>/dev/null || exit 0; find . -type f -exec sha256sum {} +"#,
                &[path],
            )
            .await?;
        let mut hashes = BTreeMap::new();
        for line in listing.lines() {
            let (hash, name) = line
                .split_once("  ")
                .filter(|(hash, _)| is_sha256(hash))
                .ok_or_else(|| broke(self.order, format!("an odd listing line {line:?}")))?;
            hashes.insert(inside(self.order, name)?, hash.to_string());
        }
        Ok(hashes)
    }

    /// The directories under directory `path`, relative to it.
    async fn directories(&self, path: &str) -> Result<Vec<PathBuf>, ClientError> {
        let listing = self.output(r#"cd "$1" && find . -type d"#, &[path]).await?;
        listing
            .lines()
            .filter(|l| *l != ".")
            .map(|name| inside(self.order, name))
            .collect()
    }

    async fn upload(&self, local: &Path, remote: &str) -> Result<Copied> {
        let meta = tokio::fs::metadata(local).await.map_err(at(local))?;
        let name = local.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            ClientError::Invalid(format!("{} has no name to copy it as", local.display()))
        })?;
        let target = match self.kind(remote).await? {
            Kind::Directory => format!("{}/{name}", remote.trim_end_matches('/')),
            _ if remote.ends_with('/') => format!("{remote}{name}"),
            _ => remote.to_string(),
        };
        let destination = format!("{}:{target}", self.order);
        if meta.is_dir() {
            return self.upload_directory(local, &target, destination).await;
        }
        let bytes = self.upload_file(local, &target).await?;
        Ok(Copied {
            destination,
            files: 1,
            bytes,
            unchanged: 0,
        })
    }

    /// Sends `local` into `target`'s partial file from where it stopped,
    /// checks it, renames it; the bytes sent.
    async fn upload_file(&self, local: &Path, target: &str) -> Result<u64> {
        let partial = format!("{target}{PARTIAL}");
        let length = tokio::fs::metadata(local).await?.len();
        let mut sent = 0;
        for attempt in 0..2 {
            // A partial file longer than the source is from another one.
            let from = match self.size(&partial).await? {
                have if have <= length && attempt == 0 => have,
                _ => 0,
            };
            let mut file = tokio::fs::File::open(local).await?;
            file.seek(std::io::SeekFrom::Start(from)).await?;
            let arrived = if from == 0 {
                self.send_whole(file, &partial).await?
            } else {
                let script = r#"cat >> "$1""#;
                self.run(script, &[&partial], file, tokio::io::sink())
                    .await?;
                self.sha256(&partial).await? == sha256_of(local).await?
            };
            sent += length - from;
            if arrived {
                let mode = file_mode(local).await?;
                self.output(
                    r#"chmod "$3" "$1" && mv -f "$1" "$2""#,
                    &[&partial, target, &mode],
                )
                .await?;
                return Ok(sent);
            }
        }
        Err(ClientError::RentalSession(format!(
            "{} arrived different in rental {} twice; nothing was replaced ({partial} is left)",
            local.display(),
            self.order
        )))
    }

    /// Sends all of `file` into `partial`, hashing it here as it is read
    /// and there once it is written, in one session: whether it arrived as
    /// sent.
    async fn send_whole(&self, file: tokio::fs::File, partial: &str) -> Result<bool> {
        let mut sending = Hashing::new(file);
        let mut answer = Vec::new();
        // Not `tee | sha256sum` there: busybox's tee is five times slower
        // than cat, then sha256sum.
        let script = r#"mkdir -p "$(dirname "$1")" && cat > "$1" && sha256sum "$1""#;
        self.run(script, &[partial], &mut sending, &mut answer)
            .await?;
        let answer = String::from_utf8_lossy(&answer);
        match answer.split_whitespace().next() {
            Some(hash) if is_sha256(hash) => Ok(hash == sending.finish()),
            _ => Err(broke(
                self.order,
                format!("an odd hash of {partial:?}: {answer:?}"),
            )),
        }
    }

    async fn upload_directory(
        &self,
        local: &Path,
        target: &str,
        destination: String,
    ) -> Result<Copied> {
        let (directories, files) = walk(local)?;
        let mut ours = BTreeMap::new();
        for file in &files {
            ours.insert(file.clone(), sha256_of(&local.join(file)).await?);
        }
        let theirs = self.hashes(target).await?;
        let wanted: Vec<PathBuf> = files
            .iter()
            .filter(|f| theirs.get(*f) != ours.get(*f))
            .cloned()
            .collect();
        let bytes = total_size(local, &wanted)?;
        let (reader, writer) = tokio::io::duplex(256 * 1024);
        let root = local.to_path_buf();
        let chosen = wanted.clone();
        let pack = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut tar = tar::Builder::new(SyncIoBridge::new(writer));
            tar.follow_symlinks(false);
            for directory in &directories {
                tar.append_dir(directory, root.join(directory))?;
            }
            for file in &chosen {
                tar.append_path_with_name(root.join(file), file)?;
            }
            tar.into_inner()?.shutdown()
        });
        let sent = self
            .run(
                r#"mkdir -p "$1" && tar x -f - -C "$1""#,
                &[target],
                reader,
                tokio::io::sink(),
            )
            .await;
        let packed = pack
            .await
            .map_err(|e| broke(self.order, format!("packing the files: {e}")))?;
        sent?;
        packed.map_err(at(local))?;
        let arrived = self.hashes(target).await?;
        let different: Vec<String> = ours
            .iter()
            .filter(|(file, hash)| arrived.get(*file) != Some(*hash))
            .map(|(file, _)| file.display().to_string())
            .collect();
        all_arrived(self.order, &different)?;
        Ok(Copied {
            destination,
            files: wanted.len() as u64,
            bytes,
            unchanged: (files.len() - wanted.len()) as u64,
        })
    }

    async fn download(&self, remote: &str, local: &Path) -> Result<Copied> {
        let kind = self.kind(remote).await?;
        let name = Path::new(remote.trim_end_matches('/'))
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("root"));
        let target = if local.is_dir() {
            local.join(name)
        } else {
            local.to_path_buf()
        };
        let destination = target.display().to_string();
        match kind {
            Kind::Missing => Err(ClientError::Invalid(format!(
                "rental {} has no file or directory {remote:?}",
                self.order
            ))),
            Kind::File { bytes } => {
                let sent = self.download_file(remote, bytes, &target).await?;
                Ok(Copied {
                    destination,
                    files: 1,
                    bytes: sent,
                    unchanged: 0,
                })
            }
            Kind::Directory => self.download_directory(remote, &target, destination).await,
        }
    }

    async fn download_file(&self, remote: &str, length: u64, target: &Path) -> Result<u64> {
        let mut partial = target.as_os_str().to_owned();
        partial.push(PARTIAL);
        let partial = PathBuf::from(partial);
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await?;
        }
        let hash = self.sha256(remote).await?;
        let mut received = 0;
        for attempt in 0..2 {
            let have = tokio::fs::metadata(&partial).await.map_or(0, |m| m.len());
            let from = if have <= length && attempt == 0 {
                have
            } else {
                0
            };
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(from == 0)
                .append(from > 0)
                .open(&partial)
                .await?;
            let from_byte = (from + 1).to_string();
            self.run(
                r#"tail -c "+$2" "$1""#,
                &[remote, &from_byte],
                tokio::io::empty(),
                file,
            )
            .await?;
            received += length - from;
            if sha256_of(&partial).await? == hash {
                tokio::fs::rename(&partial, target).await?;
                return Ok(received);
            }
        }
        Err(ClientError::RentalSession(format!(
            "{remote} arrived different from rental {} twice; nothing was replaced ({} is left)",
            self.order,
            partial.display()
        )))
    }

    async fn download_directory(
        &self,
        remote: &str,
        target: &Path,
        destination: String,
    ) -> Result<Copied> {
        let theirs = self.hashes(remote).await?;
        tokio::fs::create_dir_all(target).await?;
        for directory in self.directories(remote).await? {
            tokio::fs::create_dir_all(target.join(directory)).await?;
        }
        let mut wanted = Vec::new();
        for (file, hash) in &theirs {
            let here = target.join(file);
            let same = match tokio::fs::metadata(&here).await {
                Ok(meta) if meta.is_file() => sha256_of(&here).await? == *hash,
                _ => false,
            };
            if !same {
                wanted.push(file.clone());
            }
        }
        // Names go as arguments (busybox's tar reads no list), so a long
        // list goes in several archives.
        let mut batch = Vec::new();
        let mut batch_len = 0;
        for (i, file) in wanted.iter().enumerate() {
            let name = format!("./{}", file.display());
            batch_len += name.len() + 1;
            batch.push(name);
            if batch_len >= NAMES_PER_ARCHIVE || i + 1 == wanted.len() {
                self.fetch_archive(remote, &std::mem::take(&mut batch), target)
                    .await?;
                batch_len = 0;
            }
        }
        // The others were found identical before.
        let mut different = Vec::new();
        for file in &wanted {
            let here = target.join(file);
            let hash = theirs.get(file);
            if !tokio::fs::metadata(&here).await.is_ok_and(|m| m.is_file())
                || Some(&sha256_of(&here).await?) != hash
            {
                different.push(file.display().to_string());
            }
        }
        all_arrived(self.order, &different)?;
        let bytes = total_size(target, &wanted)?;
        Ok(Copied {
            destination,
            files: wanted.len() as u64,
            bytes,
            unchanged: (theirs.len() - wanted.len()) as u64,
        })
    }
}

impl Rental<'_> {
    /// Fetches `names` (under `remote`, each `./`-prefixed) as one tar
    /// stream and unpacks it into `target`.
    async fn fetch_archive(&self, remote: &str, names: &[String], target: &Path) -> Result<()> {
        let (reader, writer) = tokio::io::duplex(256 * 1024);
        let unpack = unpack_into(reader, target.to_path_buf());
        let args: Vec<&str> = std::iter::once(remote)
            .chain(names.iter().map(String::as_str))
            .collect();
        let received = self
            .run(
                r#"cd "$1" && shift && tar c -f - "$@""#,
                &args,
                tokio::io::empty(),
                writer,
            )
            .await;
        let unpacked = unpack
            .await
            .map_err(|e| broke(self.order, format!("unpacking the files: {e}")))?;
        received?;
        unpacked.map_err(at(target))?;
        Ok(())
    }
}

/// Unpacks the tar stream `reader` into `root` on a blocking thread, and
/// reads `reader` to its end.
///
/// The tar reader stops at the archive's end marker, but tar pads its output
/// to whole records after it (10 KiB for GNU tar): unread, the writer, still
/// sending the padding, fails on a closed pipe. It is read after a failed
/// unpacking too, so the error said is the unpacking's. The tar reader keeps
/// every entry inside `root`.
fn unpack_into(
    reader: impl AsyncRead + Send + Unpin + 'static,
    root: PathBuf,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    tokio::task::spawn_blocking(move || {
        let mut archive = tar::Archive::new(SyncIoBridge::new(reader));
        archive.set_preserve_permissions(true);
        let unpacked = archive.unpack(root);
        let drained = std::io::copy(&mut archive.into_inner(), &mut std::io::sink());
        unpacked.and(drained.map(drop))
    })
}

/// Refuses a copy whose `different` files did not arrive as they left.
fn all_arrived(order: OrderId, different: &[String]) -> Result<()> {
    if different.is_empty() {
        return Ok(());
    }
    Err(ClientError::RentalSession(format!(
        "{} file(s) arrived different, copying with rental {order} ({}); run the copy again \
         to send them again",
        different.len(),
        different.join(", ")
    )))
}

/// A local file error that names the file.
fn at(path: &Path) -> impl Fn(std::io::Error) -> ClientError + '_ {
    move |e| {
        ClientError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    }
}

fn broke(order: OrderId, why: String) -> ClientError {
    ClientError::RentalSession(format!("copying with rental {order} broke: {why}"))
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A name the rental listed (`./a/b`) as a path that stays inside the
/// directory it was listed from; anything else is refused.
fn inside(order: OrderId, name: &str) -> Result<PathBuf, ClientError> {
    let path = Path::new(name.strip_prefix("./").unwrap_or(name));
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain || path.as_os_str().is_empty() {
        return Err(broke(
            order,
            format!("a name that leaves its directory: {name:?}"),
        ));
    }
    Ok(path.to_path_buf())
}

/// The directories and the files under `root` (relative to it; links are
/// copied as links, and counted with the files).
fn walk(root: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut directories, mut files) = (Vec::new(), Vec::new());
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| at(root)(e.into()))?;
        let relative = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .to_path_buf();
        if relative.to_str().is_none_or(|name| name.contains('\n')) {
            return Err(ClientError::Invalid(format!(
                "{} has a name that cannot be copied (not UTF-8, or a line break in it)",
                entry.path().display()
            )));
        }
        if entry.file_type().is_dir() {
            directories.push(relative);
        } else if entry.file_type().is_file() {
            files.push(relative);
        }
    }
    Ok((directories, files))
}

fn total_size(root: &Path, files: &[PathBuf]) -> std::io::Result<u64> {
    files.iter().try_fold(0u64, |sum, file| {
        Ok(sum.saturating_add(std::fs::metadata(root.join(file))?.len()))
    })
}

/// Reads through to its reader, hashing (SHA-256) what passes: a file is
/// hashed as it is sent.
struct Hashing<R> {
    reader: R,
    hasher: Sha256,
}

impl<R: AsyncRead + Unpin> Hashing<R> {
    fn new(reader: R) -> Hashing<R> {
        Hashing {
            reader,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 of what was read, as `sha256sum` prints it.
    fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Hashing<R> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut this.reader).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = polled {
            this.hasher.update(&buf.filled()[before..]);
        }
        polled
    }
}

/// The file's SHA-256, as `sha256sum` prints it.
async fn sha256_of(path: &Path) -> Result<String> {
    let mut file = tokio::fs::File::open(path).await.map_err(at(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file's permission bits in octal, for `chmod`.
async fn file_mode(path: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = tokio::fs::metadata(path).await?.permissions().mode() & 0o777;
    Ok(format!("{mode:o}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn what_is_read_through_hashing_is_hashed_as_sha256sum_prints() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut hashing = Hashing::new(&bytes[..]);
        let mut copied = Vec::new();
        tokio::io::copy(&mut hashing, &mut copied).await.unwrap();
        assert_eq!(copied, bytes);
        assert_eq!(hashing.finish(), hex(&Sha256::digest(&bytes)));
        // sha256sum of nothing:
        assert_eq!(
            Hashing::new(&b""[..]).finish(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// GNU tar's output: entries, the end marker, then zeros to a whole
    /// 10 KiB record. The writer must be able to send all of it.
    #[tokio::test]
    async fn an_archive_is_read_to_the_end_of_its_padding() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(6);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "a.txt", &b"alpha\n"[..])
            .unwrap();
        let mut archive = builder.into_inner().unwrap();
        archive.resize(archive.len().div_ceil(10_240) * 10_240 + 10_240, 0);

        let dir = tempfile::tempdir().unwrap();
        // A pipe smaller than the padding: the writer waits on the reader.
        let (reader, mut writer) = tokio::io::duplex(512);
        let unpack = unpack_into(reader, dir.path().to_path_buf());
        let sent = tokio::io::AsyncWriteExt::write_all(&mut writer, &archive).await;
        drop(writer);
        unpack.await.unwrap().unwrap();
        sent.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "alpha\n"
        );
    }

    #[test]
    fn a_place_is_in_a_rental_when_it_starts_with_an_id() {
        let rental = |order, path: &str| Place::Rental {
            order,
            path: path.into(),
        };
        assert_eq!("8:/workspace".parse(), Ok(rental(8, "/workspace")));
        assert_eq!("8:data".parse(), Ok(rental(8, "data")));
        assert_eq!(
            "./8:data".parse(),
            Ok(Place::Local(PathBuf::from("./8:data")))
        );
        assert_eq!(
            "data.bin".parse(),
            Ok(Place::Local(PathBuf::from("data.bin")))
        );
        assert_eq!("c:/x".parse(), Ok(Place::Local(PathBuf::from("c:/x"))));
        assert!("8:".parse::<Place>().is_err());
        assert!("".parse::<Place>().is_err());
        assert!("99999999999999999999999:x".parse::<Place>().is_err());
    }

    #[test]
    fn a_listed_name_must_stay_inside_its_directory() {
        assert_eq!(inside(1, "./a/b.txt").unwrap(), PathBuf::from("a/b.txt"));
        assert_eq!(inside(1, "a b").unwrap(), PathBuf::from("a b"));
        for hostile in [
            "../etc/passwd",
            "./../x",
            "/etc/passwd",
            "./a/../../b",
            ".",
            "",
        ] {
            assert!(inside(1, hostile).is_err(), "{hostile:?}");
        }
    }
}
