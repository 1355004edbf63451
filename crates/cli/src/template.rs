//! `gpunet rent start --template NAME`: ready-made rentals, defined in
//! `examples/rentals/` (compiled in, so that they work from any directory)
//! with their images built by `scripts/images/`, and how to reach each one
//! once it is up.

use gpunet_client::jobfile::JobFile;
use gpunet_client::ClientError;
use gpunet_primitives::OrderId;
use std::path::PathBuf;

/// A ready-made rental.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Template {
    /// A shell and sshd (image gpunet/ssh): `rent shell`, or ssh, scp,
    /// rsync and VS Code through `rent ssh-config`.
    Shell,
    /// A Jupyter notebook server on the rental's localhost (image
    /// gpunet/jupyter), reached through `rent forward`.
    Jupyter,
    /// PyTorch on one NVIDIA GPU (image gpunet/pytorch).
    Pytorch,
}

impl Template {
    fn definition(self) -> (&'static str, &'static str) {
        match self {
            Template::Shell => (
                "examples/rentals/shell.toml",
                include_str!("../../../examples/rentals/shell.toml"),
            ),
            Template::Jupyter => (
                "examples/rentals/jupyter.toml",
                include_str!("../../../examples/rentals/jupyter.toml"),
            ),
            Template::Pytorch => (
                "examples/rentals/pytorch.toml",
                include_str!("../../../examples/rentals/pytorch.toml"),
            ),
        }
    }

    /// Its job file.
    pub(crate) fn job_file(self) -> Result<JobFile, ClientError> {
        let (origin, text) = self.definition();
        JobFile::from_toml(text, origin, PathBuf::from("."))
    }

    /// Whether its container runs an sshd that takes the renter's keys.
    pub(crate) fn takes_ssh_keys(self) -> bool {
        self == Template::Shell
    }

    /// How a person reaches rental `order` of this template.
    pub(crate) fn how_to_connect(self, order: OrderId) -> String {
        match self {
            Template::Shell => format!(
                "connect: gpunet rent shell {order}\n\
                 or with ssh, scp, rsync, VS Code: gpunet rent ssh-config {order} >> ~/.ssh/config, \
                 then ssh gpunet-{order}"
            ),
            Template::Jupyter => format!(
                "connect: gpunet rent forward {order} 8888, then open http://127.0.0.1:8888 \
                 (only your key gets through, so the notebook asks no token)"
            ),
            Template::Pytorch => format!(
                "connect: gpunet rent shell {order}\n\
                 files: gpunet rent cp ./data {order}:/workspace/"
            ),
        }
    }
}

/// The renter's usual public key (`~/.ssh/id_ed25519.pub`, then ECDSA,
/// then RSA), if there is one.
pub(crate) fn default_ssh_key() -> Option<PathBuf> {
    let ssh = PathBuf::from(std::env::var_os("HOME")?).join(".ssh");
    ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"]
        .into_iter()
        .map(|name| ssh.join(name))
        .find(|key| key.is_file())
}

#[cfg(test)]
mod tests {
    use super::Template;
    use clap::ValueEnum;

    #[test]
    fn every_template_is_a_rental_job_file() {
        for template in Template::value_variants() {
            let job = template.job_file().unwrap();
            assert!(job.image.starts_with("gpunet/"), "{template:?}");
            assert!(!template.how_to_connect(8).is_empty());
        }
    }
}
