//! A chain driven block by block, shared by the ledger's integration tests.
#![allow(dead_code)] // each test binary uses a different part

use gpunet_ledger::{Genesis, GenesisAccount, Ledger, TxError};
use gpunet_primitives::{Keypair, SignedTx, Tx, TxBody, UNIT};
use gpunet_types::{Event, Params};

pub(crate) const CHAIN_ID: &str = "test";

/// Lets a test's network type, whose field `$field` is its [`Chain`], be
/// used as the chain itself.
macro_rules! deref_chain {
    ($net:ty, $field:tt) => {
        impl std::ops::Deref for $net {
            type Target = common::Chain;
            fn deref(&self) -> &common::Chain {
                &self.$field
            }
        }

        impl std::ops::DerefMut for $net {
            fn deref_mut(&mut self) -> &mut common::Chain {
                &mut self.$field
            }
        }
    };
}

/// A genesis where each of `funded` holds 10,000 GPN.
pub(crate) fn genesis(validator: &Keypair, funded: &[&Keypair], params: Params) -> Genesis {
    Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 1_000,
        accounts: funded
            .iter()
            .map(|k| GenesisAccount {
                address: k.address(),
                balance: 10_000 * UNIT,
            })
            .collect(),
        validators: vec![validator.address()],
        params,
    }
}

pub(crate) struct Chain {
    pub ledger: Ledger,
    pub validator: Keypair,
    pub time: u64,
    /// Every event so far, of blocks and of transactions.
    pub events: Vec<Event>,
}

impl Chain {
    pub(crate) fn new(genesis: &Genesis, validator: Keypair) -> Chain {
        Chain {
            ledger: Ledger::open(None, genesis).unwrap(),
            validator,
            time: genesis.genesis_time_ms,
            events: Vec::new(),
        }
    }

    /// `body` signed by `signer` with its next nonce and the minimum fee.
    pub(crate) fn tx(&self, signer: &Keypair, body: TxBody) -> SignedTx {
        Tx {
            chain_id: CHAIN_ID.into(),
            sender: signer.address(),
            nonce: self.ledger.account(&signer.address()).nonce,
            fee: Params::default().min_fee,
            body,
        }
        .sign(signer)
    }

    /// Advances block time by `ms`, produces a block with `txs` and checks
    /// the ledger's invariants.
    pub(crate) fn block(&mut self, ms: u64, txs: &[SignedTx]) -> Vec<Result<(), TxError>> {
        self.time += ms;
        let produced = self
            .ledger
            .produce_block(self.validator.address(), self.time, txs)
            .unwrap();
        self.ledger.check_invariants().unwrap();
        self.events.extend(produced.block_events);
        produced
            .results
            .into_iter()
            .map(|r| r.map(|events| self.events.extend(events)))
            .collect()
    }

    /// `body` from `signer`, alone in a block 10 ms later.
    pub(crate) fn send(&mut self, signer: &Keypair, body: TxBody) -> Result<(), TxError> {
        let tx = self.tx(signer, body);
        self.block(10, &[tx]).remove(0)
    }
}
