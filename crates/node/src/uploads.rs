//! Who may fill this node's blob store: uploads are signed by an account
//! that holds funds or stake, and each account stores at most
//! [`UPLOAD_BYTES_PER_HOUR`] an hour. With blob retention (unreferenced
//! uploads go after an hour) this bounds what a spammer can leave on disk.

use gpunet_ledger::Ledger;
use gpunet_primitives::{Address, RequestError, SignedBlobUpload};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Bytes one account may upload to one node per clock hour: far above what
/// a job's inputs or a provider's results take, far below a disk.
pub const UPLOAD_BYTES_PER_HOUR: u64 = 64 << 30;

const HOUR_MS: u64 = 3_600_000;

/// Why an upload is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadError {
    /// The signed request itself does not hold.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// An account with nothing at stake: uploads would cost it nothing.
    #[error("account {0} holds neither funds nor stake: it cannot store blobs")]
    Unfunded(Address),
    /// Over its hourly quota.
    #[error("account {uploader} would exceed its {limit}-byte upload quota this hour")]
    OverQuota {
        /// Who uploads.
        uploader: Address,
        /// Its quota, in bytes per hour.
        limit: u64,
    },
}

/// Bytes uploaded per account in the current hour, against a quota.
pub struct Uploads {
    bytes_per_hour: u64,
    used: Mutex<BTreeMap<Address, (u64, u64)>>,
}

impl Default for Uploads {
    fn default() -> Self {
        Uploads::with_quota(UPLOAD_BYTES_PER_HOUR)
    }
}

impl Uploads {
    /// Uploads limited to `bytes_per_hour` per account.
    pub fn with_quota(bytes_per_hour: u64) -> Uploads {
        Uploads {
            bytes_per_hour,
            used: Mutex::default(),
        }
    }

    /// Admits `upload` at `now_ms` (a current request, signed by a funded
    /// account, within its quota) and counts its size against the quota.
    pub fn admit(
        &self,
        ledger: &Ledger,
        signed: &SignedBlobUpload,
        now_ms: u64,
    ) -> Result<(), UploadError> {
        signed.check(ledger.chain_id(), now_ms)?;
        let uploader = signed.signer;
        let account = ledger.account(&uploader);
        if account.balance < ledger.state().params.min_fee.max(1) && account.bonded == 0 {
            return Err(UploadError::Unfunded(uploader));
        }
        let hour = now_ms / HOUR_MS;
        let mut used = self.used.lock().expect("upload quota lock");
        used.retain(|_, (h, _)| *h == hour);
        let (_, bytes) = used.entry(uploader).or_insert((hour, 0));
        let after = bytes.saturating_add(signed.body.size);
        if after > self.bytes_per_hour {
            return Err(UploadError::OverQuota {
                uploader,
                limit: self.bytes_per_hour,
            });
        }
        *bytes = after;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_ledger::{Genesis, GenesisAccount};
    use gpunet_primitives::{
        BlobUpload, Hash, Keypair, SignedRequest, MAX_REQUEST_VALIDITY_MS, UNIT,
    };
    use gpunet_types::Params;

    const NOW: u64 = 10 * HOUR_MS;

    fn ledger(funded: &Keypair) -> Ledger {
        let validator = Keypair::from_label("validator");
        let genesis = Genesis {
            chain_id: "test".into(),
            genesis_time_ms: 0,
            accounts: vec![GenesisAccount {
                address: funded.address(),
                balance: UNIT,
            }],
            validators: vec![validator.address()],
            params: Params::default(),
        };
        Ledger::open(None, &genesis).unwrap()
    }

    fn upload(key: &Keypair, size: u64, not_after_ms: u64) -> SignedBlobUpload {
        let upload = BlobUpload {
            hash: Hash::digest(b"x"),
            size,
        };
        SignedRequest::sign(upload, "test", not_after_ms, key)
    }

    #[test]
    fn admits_funded_signed_current_uploads_within_the_hourly_quota() {
        let client = Keypair::from_label("client");
        let ledger = ledger(&client);
        let uploads = Uploads::with_quota(100);
        let soon = NOW + 60_000;
        assert_eq!(
            uploads.admit(&ledger, &upload(&client, 60, soon), NOW),
            Ok(())
        );
        assert_eq!(
            uploads.admit(&ledger, &upload(&client, 41, soon), NOW),
            Err(UploadError::OverQuota {
                uploader: client.address(),
                limit: 100
            })
        );
        assert_eq!(
            uploads.admit(&ledger, &upload(&client, 40, soon), NOW),
            Ok(())
        );
        // A new hour, a new quota.
        let later = NOW + HOUR_MS;
        assert_eq!(
            uploads.admit(&ledger, &upload(&client, 100, later + 1), later),
            Ok(())
        );

        let stranger = Keypair::from_label("stranger");
        assert_eq!(
            uploads.admit(&ledger, &upload(&stranger, 1, soon), NOW),
            Err(UploadError::Unfunded(stranger.address()))
        );
        let mut forged = upload(&client, 1, soon);
        forged.body.size = 2;
        assert_eq!(
            uploads.admit(&ledger, &forged, NOW),
            Err(RequestError::BadSignature.into())
        );
        let expired = |not_after_ms| {
            Err(RequestError::Expired {
                not_after_ms,
                now_ms: NOW,
            }
            .into())
        };
        assert_eq!(
            uploads.admit(&ledger, &upload(&client, 1, NOW - 1), NOW),
            expired(NOW - 1)
        );
        let far = NOW + MAX_REQUEST_VALIDITY_MS + 1;
        assert_eq!(
            uploads.admit(&ledger, &upload(&client, 1, far), NOW),
            expired(far)
        );
    }
}
