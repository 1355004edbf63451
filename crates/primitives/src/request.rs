//! Signed requests to a node that are not transactions: nothing in them is
//! replicated, so they pay no fee and carry no nonce. Instead each is signed
//! by an account, bound to one chain and valid only until a time a few
//! minutes ahead, so a request seen on the wire passes on no other network
//! and soon on none. One [`SignedRequest::check`] applies those rules to
//! every kind; a node's handler adds only its own (who may push or read).

use crate::{encode, Address, Keypair, Signature};
use borsh::{BorshDeserialize, BorshSerialize};

/// Most a request may be valid ahead of the clock of the node checking it.
pub const MAX_REQUEST_VALIDITY_MS: u64 = 10 * 60 * 1000;

/// What one kind of request asks.
/// What a [`SignedRequest`] can carry.
pub trait RequestBody: BorshSerialize {
    /// Signed along with the request, so a signature over one kind passes
    /// for no other kind (nor for a transaction or a vote).
    const DOMAIN: &'static str;
}

/// `body`, signed by `signer` for chain `chain_id` until `not_after_ms`
/// (Unix time, by the checking node's clock).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedRequest<B> {
    /// The chain it is for.
    pub chain_id: String,
    /// Who signed it.
    pub signer: Address,
    /// Until when (Unix ms) it is valid.
    pub not_after_ms: u64,
    /// What it asks.
    pub body: B,
    /// The signer's signature over all of the above and the body's domain.
    pub signature: Signature,
}

/// Why a node refuses a signed request.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// Signed for another chain.
    #[error("the request is for chain {0:?}, not this one")]
    WrongChain(String),
    /// Past its validity, or valid further ahead than a node accepts.
    #[error(
        "the request is expired or valid too far ahead (valid until {not_after_ms} ms, \
         this node's clock says {now_ms} ms, at most {MAX_REQUEST_VALIDITY_MS} ms ahead)"
    )]
    Expired {
        /// Until when it was valid.
        not_after_ms: u64,
        /// The checking node's clock.
        now_ms: u64,
    },
    /// The signature is not its signer's.
    #[error("the request's signature does not verify")]
    BadSignature,
}

fn sign_bytes<B: RequestBody>(
    chain_id: &str,
    signer: &Address,
    not_after_ms: u64,
    body: &B,
) -> Vec<u8> {
    encode(&(B::DOMAIN, chain_id, signer, not_after_ms, body))
}

impl<B: RequestBody> SignedRequest<B> {
    /// `body` signed by `key` for chain `chain_id` until `not_after_ms`.
    pub fn sign(body: B, chain_id: &str, not_after_ms: u64, key: &Keypair) -> Self {
        let signer = key.address();
        SignedRequest {
            signature: key.sign(&sign_bytes(chain_id, &signer, not_after_ms, &body)),
            chain_id: chain_id.to_owned(),
            signer,
            not_after_ms,
            body,
        }
    }

    /// Checks the request is for `chain_id`, current at `now_ms` (not
    /// expired, not valid more than [`MAX_REQUEST_VALIDITY_MS`] ahead) and
    /// signed by its signer.
    pub fn check(&self, chain_id: &str, now_ms: u64) -> Result<(), RequestError> {
        if self.chain_id != chain_id {
            return Err(RequestError::WrongChain(self.chain_id.clone()));
        }
        if self.not_after_ms < now_ms
            || self.not_after_ms > now_ms.saturating_add(MAX_REQUEST_VALIDITY_MS)
        {
            return Err(RequestError::Expired {
                not_after_ms: self.not_after_ms,
                now_ms,
            });
        }
        let message = sign_bytes(&self.chain_id, &self.signer, self.not_after_ms, &self.body);
        if !self.signer.verify(&message, &self.signature) {
            return Err(RequestError::BadSignature);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
    struct Ask(u64);

    impl RequestBody for Ask {
        const DOMAIN: &'static str = "gpunet/test-ask";
    }

    #[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
    struct OtherAsk(u64);

    impl RequestBody for OtherAsk {
        const DOMAIN: &'static str = "gpunet/test-other-ask";
    }

    const NOW: u64 = 1_000_000;

    fn signed(key: &Keypair) -> SignedRequest<Ask> {
        SignedRequest::sign(Ask(7), "test", NOW + 60_000, key)
    }

    #[test]
    fn a_current_request_checks_only_as_signed() {
        let key = Keypair::from_label("client");
        let request = signed(&key);
        assert_eq!(request.signer, key.address());
        assert_eq!(request.check("test", NOW), Ok(()));

        let mut changed = request.clone();
        changed.body = Ask(8);
        assert_eq!(changed.check("test", NOW), Err(RequestError::BadSignature));
        let mut longer = request.clone();
        longer.not_after_ms += 1;
        assert_eq!(longer.check("test", NOW), Err(RequestError::BadSignature));
        let mut impostor = request.clone();
        impostor.signer = Keypair::from_label("rich").address();
        assert_eq!(impostor.check("test", NOW), Err(RequestError::BadSignature));
        let mut moved = request.clone();
        moved.chain_id = "main".into();
        assert_eq!(moved.check("main", NOW), Err(RequestError::BadSignature));
        assert_eq!(
            request.check("main", NOW),
            Err(RequestError::WrongChain("test".into()))
        );
    }

    #[test]
    fn a_request_is_valid_only_within_its_window() {
        let key = Keypair::from_label("client");
        let request = signed(&key);
        let end = request.not_after_ms;
        assert_eq!(request.check("test", end), Ok(()));
        assert!(matches!(
            request.check("test", end + 1),
            Err(RequestError::Expired { .. })
        ));
        let far = SignedRequest::sign(Ask(7), "test", NOW + MAX_REQUEST_VALIDITY_MS + 1, &key);
        assert!(matches!(
            far.check("test", NOW),
            Err(RequestError::Expired { .. })
        ));
        assert_eq!(far.check("test", NOW + 1), Ok(()));
    }

    #[test]
    fn a_signature_over_one_kind_passes_for_no_other() {
        let key = Keypair::from_label("client");
        let ask = signed(&key);
        let other = SignedRequest {
            chain_id: ask.chain_id,
            signer: ask.signer,
            not_after_ms: ask.not_after_ms,
            body: OtherAsk(7),
            signature: ask.signature,
        };
        assert_eq!(other.check("test", NOW), Err(RequestError::BadSignature));
    }
}
