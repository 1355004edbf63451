//! The ledger target: a live market (four providers, each with a staked
//! 2-GPU machine) executes transactions drawn from the input, a few per
//! block, as a proposer and a replica do. After every block the ledger's
//! invariants hold, building and checking a block change nothing, and the
//! replica reaches the same state root and events.
//!
//! Transactions are of two kinds: any [`TxBody`] at all (extreme integers,
//! hostile strings, ids of nothing), and moves aimed at the market's live
//! orders (a result reported by the lease's provider, a dispute by the
//! client), without which random bytes would rarely get past matching.

use arbitrary::{Arbitrary, Unstructured};
use gpunet_ledger::{Genesis, GenesisAccount, Ledger};
use gpunet_primitives::{
    GpuSpec, Hash, ImageBlob, JobOutcome, JobSpec, Keypair, MachineSpec, OnExit, Resources,
    SealedSecrets, SignedTx, Stop, Tx, TxBody, WorkspaceSave, UNIT,
};
use gpunet_types::{Machine, Params};
use std::sync::OnceLock;

const CHAIN: &str = "fuzz";
const ACTORS: usize = 4;
/// Blocks one input may make: enough for orders to run their course, few
/// enough that an execution stays in milliseconds.
const MAX_BLOCKS: usize = 32;
/// Transactions in one block at most.
const MAX_BLOCK_TXS: usize = 4;

/// One step of an input.
#[derive(Arbitrary, Debug)]
enum Move {
    /// Any transaction, from an actor at its next nonce, paying
    /// `fee` hundredths of a GPN.
    Any { who: u8, fee: u8, body: Box<TxBody> },
    /// A job sized to the market's machines and paid for.
    Submit {
        who: u8,
        gpus: u8,
        timeout_secs: u8,
        audit: u8,
        attempts: u8,
        /// Whether it names a secret variable (its client must seal it).
        secret: bool,
        /// Whether its image was pushed (its lease prepares first).
        pushed: bool,
    },
    /// A job array of a few members, audited or not.
    SubmitArray {
        who: u8,
        size: u8,
        timeout_secs: u8,
        audit: u8,
    },
    /// A rental of a market machine, naming a secret or not, restarting
    /// its container or not.
    Rent {
        who: u8,
        secs: u8,
        secret: bool,
        restart: bool,
        save_on_end: bool,
        /// Whether its image was pushed (its lease prepares first).
        pushed: bool,
    },
    /// A box of secrets sealed by an order's client, of `bytes` bytes.
    Seal { order: u8, bytes: u8 },
    /// A run reported by its lease's provider.
    Complete {
        order: u8,
        duration_ms: u16,
        output: u8,
    },
    /// A run reported failed by its lease's provider.
    Fail { order: u8 },
    /// A lease handed back by its provider.
    Decline { order: u8 },
    /// A preparing lease started by its provider.
    Start { order: u8 },
    /// A rental's port announced by its provider.
    Announce { order: u8 },
    /// A liveness probe answered by the lease's provider.
    AnswerProbe { order: u8 },
    /// A result disputed by its client.
    Dispute { order: u8, output: u8 },
    /// A job stopped by its client.
    StopJob { order: u8 },
    /// A rental renewed by its renter.
    Renew { order: u8, secs: u8 },
    /// A rental ended by its renter, asking to save its workspace or not.
    EndRental { order: u8, save: bool },
    /// A saved workspace (or a failure to save it) reported by its provider.
    ReportWorkspace { order: u8, saved: bool },
    /// A rental's machine reported offline by its renter.
    ReportOffline { order: u8 },
    /// Block time passes.
    Wait { ms: u16 },
    /// The block ends here.
    EndBlock,
}

/// Runs the market on `data`; panics when an invariant breaks or the
/// replica disagrees.
pub fn run(data: &[u8]) {
    let mut market = Market::open();
    let mut input = Unstructured::new(data);
    for _ in 0..MAX_BLOCKS {
        if input.is_empty() {
            break;
        }
        let mut txs = Vec::new();
        while txs.len() < MAX_BLOCK_TXS {
            let Ok(next) = Move::arbitrary(&mut input) else {
                break;
            };
            match next {
                Move::EndBlock => break,
                Move::Wait { ms } => market.time += u64::from(ms),
                other => txs.extend(market.tx(other)),
            }
        }
        market.block(&txs);
    }
}

/// The machines of a fresh market, for targets that search them (made
/// once per process: the search is what is fuzzed, not the market).
pub fn sample_machines() -> Vec<Machine> {
    static MACHINES: OnceLock<Vec<Machine>> = OnceLock::new();
    MACHINES
        .get_or_init(|| Market::open().ledger.machines().cloned().collect())
        .clone()
}

struct Market {
    validator: Keypair,
    keys: Vec<Keypair>,
    ledger: Ledger,
    replica: Ledger,
    time: u64,
    nonces: Vec<u64>,
}

impl Market {
    fn open() -> Market {
        let validator = Keypair::from_label("fuzz-validator");
        let keys: Vec<Keypair> = (0..ACTORS)
            .map(|i| Keypair::from_label(&format!("fuzz-actor-{i}")))
            .collect();
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            genesis_time_ms: 0,
            accounts: keys
                .iter()
                .map(|k| GenesisAccount {
                    address: k.address(),
                    balance: 1_000 * UNIT,
                })
                .collect(),
            validators: vec![validator.address()],
            params: Params {
                dispute_window_ms: 3_000,
                report_grace_ms: 2_000,
                unbonding_ms: 10_000,
                order_ttl_ms: 30_000,
                // Machines take orders at once; challenges have their own tests.
                hardware_challenges: false,
                max_declines: 2,
                duration_slack_ms: 1_000,
                ..Params::default()
            },
        };
        let ledger = Ledger::open(None, &genesis).expect("a valid genesis opens");
        let replica = Ledger::open(None, &genesis).expect("a valid genesis opens");
        let mut market = Market {
            validator,
            keys,
            ledger,
            replica,
            time: 100,
            nonces: vec![0; ACTORS],
        };
        let preamble: Vec<SignedTx> = (0..ACTORS)
            .flat_map(|who| {
                let stake = market.signed(who, UNIT, TxBody::Stake { amount: 300 * UNIT });
                let register = market.signed(who, UNIT, machine());
                [stake, register]
            })
            .collect();
        market.block(&preamble);
        market
    }

    /// `body` signed by actor `who` at its next nonce.
    fn signed(&mut self, who: usize, fee: u128, body: TxBody) -> SignedTx {
        let nonce = self.nonces[who];
        self.nonces[who] += 1;
        Tx {
            chain_id: CHAIN.into(),
            sender: self.keys[who].address(),
            nonce,
            fee,
            body,
        }
        .sign(&self.keys[who])
    }

    /// The id of one of the orders, picked by `pick`.
    fn order(&self, pick: u8) -> Option<u64> {
        let ids: Vec<u64> = self
            .ledger
            .state()
            .orders
            .iter()
            .map(|(id, _)| *id)
            .collect();
        (!ids.is_empty()).then(|| ids[usize::from(pick) % ids.len()])
    }

    /// The actor who holds the lease of order `id`, else the first.
    fn provider(&self, id: u64) -> usize {
        let provider = self
            .ledger
            .order(id)
            .and_then(|o| o.lease())
            .map(|l| l.provider);
        self.actor(provider)
    }

    /// The actor who placed order `id`, else the first.
    fn client(&self, id: u64) -> usize {
        self.actor(self.ledger.order(id).map(|o| o.client))
    }

    fn actor(&self, address: Option<gpunet_primitives::Address>) -> usize {
        self.keys
            .iter()
            .position(|k| Some(k.address()) == address)
            .unwrap_or(0)
    }

    /// The transaction a move makes, if any.
    fn tx(&mut self, next: Move) -> Option<SignedTx> {
        let by_provider = |order: u8, market: &Market, body: fn(u64) -> TxBody| {
            market
                .order(order)
                .map(|id| (market.provider(id), body(id)))
        };
        let (who, body) = match next {
            Move::Any { who, fee, body } => {
                // Fees of 0 to 2.55 GPN: 0 is below the minimum.
                let fee = u128::from(fee) * (UNIT / 100);
                return Some(self.signed(usize::from(who) % ACTORS, fee, *body));
            }
            Move::Submit {
                who,
                gpus,
                timeout_secs,
                audit,
                attempts,
                secret,
                pushed,
            } => {
                let timeout = 1 + u64::from(timeout_secs % 30);
                let max_price = 2 * UNIT;
                let spec = JobSpec {
                    max_attempts: 1 + u32::from(attempts % 3),
                    audit_bps: [0, 5_000, 10_000][usize::from(audit % 3)],
                    secrets: secret_names(secret),
                    image_blob: pushed_image(pushed),
                    ..job(u32::from(gpus % 3), timeout)
                };
                let deposit = 3 * 3 * gpunet_types::max_payment(max_price, timeout).expect("small");
                let body = TxBody::SubmitOrder {
                    spec,
                    max_price_per_hour: max_price,
                    deposit,
                };
                (usize::from(who) % ACTORS, body)
            }
            Move::SubmitArray {
                who,
                size,
                timeout_secs,
                audit,
            } => {
                let timeout = 1 + u64::from(timeout_secs % 30);
                let max_price = 2 * UNIT;
                let spec = JobSpec {
                    audit_bps: [0, 10_000][usize::from(audit % 2)],
                    ..job(0, timeout)
                };
                let deposit_each =
                    3 * gpunet_types::max_payment(max_price, timeout).expect("small");
                let body = TxBody::SubmitArray {
                    spec,
                    // Up to 9: 0 is refused, the rest spread over the market.
                    size: u32::from(size % 10),
                    max_price_per_hour: max_price,
                    deposit_each,
                };
                (usize::from(who) % ACTORS, body)
            }
            Move::Rent {
                who,
                secs,
                secret,
                restart,
                save_on_end,
                pushed,
            } => {
                let secs = 1 + u64::from(secs % 20);
                let body = TxBody::Rent {
                    spec: JobSpec {
                        network: true,
                        ports: vec![8080],
                        secrets: secret_names(secret),
                        on_exit: if restart {
                            OnExit::Restart
                        } else {
                            OnExit::End
                        },
                        save_on_end,
                        image_blob: pushed_image(pushed),
                        ..job(0, secs)
                    },
                    max_price_per_hour: 2 * UNIT,
                    deposit: gpunet_types::max_payment(2 * UNIT, secs).expect("small"),
                };
                (usize::from(who) % ACTORS, body)
            }
            Move::Complete {
                order,
                duration_ms,
                output,
            } => {
                let id = self.order(order)?;
                let outcome = JobOutcome::Completed {
                    exit_code: 0,
                    output_root: Hash::digest(&[output % 4]),
                    output_bytes: 1,
                    duration_ms: u64::from(duration_ms),
                    // Runs stopped at their timeout: partial outputs that differ agree.
                    stopped: (output % 4 >= 2).then_some(Stop::Timeout),
                    held_by: gpunet_primitives::OutputHolder::Nodes,
                };
                (
                    self.provider(id),
                    TxBody::ReportResult { order: id, outcome },
                )
            }
            Move::Fail { order } => by_provider(order, self, |order| TxBody::ReportResult {
                order,
                outcome: JobOutcome::Failed {
                    reason: "fuzz".into(),
                },
            })?,
            Move::Decline { order } => by_provider(order, self, |order| TxBody::DeclineLease {
                order,
                reason: "image missing".into(),
            })?,
            Move::Start { order } => {
                by_provider(order, self, |order| TxBody::StartLease { order })?
            }
            Move::Announce { order } => {
                by_provider(order, self, |order| TxBody::AnnounceEndpoints {
                    order,
                    endpoints: vec!["203.0.113.5:32768".into()],
                })?
            }
            Move::AnswerProbe { order } => {
                by_provider(order, self, |order| TxBody::AnswerProbe { order })?
            }
            Move::Dispute { order, output } => {
                let id = self.order(order)?;
                let body = TxBody::DisputeResult {
                    order: id,
                    expected_root: Hash::digest(&[output % 4]),
                    deposit: 2 * UNIT,
                };
                (self.client(id), body)
            }
            Move::StopJob { order } => {
                let id = self.order(order)?;
                (self.client(id), TxBody::StopJob { order: id })
            }
            Move::Renew { order, secs } => {
                let id = self.order(order)?;
                let secs = 1 + u64::from(secs % 20);
                let body = TxBody::RenewRental {
                    order: id,
                    extra_secs: secs,
                    deposit: gpunet_types::max_payment(2 * UNIT, secs).expect("small"),
                };
                (self.client(id), body)
            }
            Move::EndRental { order, save } => {
                let id = self.order(order)?;
                (self.client(id), TxBody::EndRental { order: id, save })
            }
            Move::ReportWorkspace { order, saved } => {
                let id = self.order(order)?;
                let save = match saved {
                    true => WorkspaceSave::Saved {
                        root: Hash::digest(&id.to_le_bytes()),
                        bytes: 1,
                        held_by: gpunet_primitives::OutputHolder::Provider,
                    },
                    false => WorkspaceSave::Failed {
                        reason: "disk full".into(),
                    },
                };
                (
                    self.provider(id),
                    TxBody::ReportWorkspace { order: id, save },
                )
            }
            Move::ReportOffline { order } => {
                let id = self.order(order)?;
                (self.client(id), TxBody::ReportOffline { order: id })
            }
            Move::Seal { order, bytes } => {
                let id = self.order(order)?;
                let sealed = SealedSecrets::from_bytes(vec![bytes; usize::from(bytes)]);
                let body = TxBody::SealSecrets { order: id, sealed };
                (self.client(id), body)
            }
            Move::Wait { .. } | Move::EndBlock => return None,
        };
        Some(self.signed(who, UNIT, body))
    }

    /// Makes a block of `txs` as a proposer does, checks it as a validator
    /// does, commits it on both ledgers, and checks what must hold.
    fn block(&mut self, txs: &[SignedTx]) {
        self.time += 100;
        let (root, replica_root) = (self.ledger.state_root(), self.replica.state_root());
        let proposal = self
            .ledger
            .build_block(self.validator.address(), self.time, txs)
            .expect("a proposer builds a block of any transactions");
        assert_eq!(
            self.ledger.state_root(),
            root,
            "building a block changed the state"
        );
        self.replica
            .check_block(&proposal.block)
            .expect("a replica accepts the proposer's block");
        assert_eq!(
            self.replica.state_root(),
            replica_root,
            "checking a block changed the state"
        );
        let produced = self
            .ledger
            .produce_block(self.validator.address(), self.time, txs)
            .expect("a proposer commits a block of any transactions");
        assert_eq!(produced.block, proposal.block, "building is not producing");
        if let Err(violation) = self.ledger.check_invariants() {
            panic!("an invariant broke: {violation:?}");
        }
        for (tx, result) in txs.iter().zip(&produced.results) {
            assert_eq!(result.is_ok(), self.ledger.receipt(&tx.hash()).is_some());
        }
        let applied = self
            .replica
            .apply_block(&produced.block)
            .expect("a replica applies a decided block");
        assert_eq!(
            self.replica.state_root(),
            self.ledger.state_root(),
            "replicas disagree"
        );
        assert!(
            applied.events().eq(produced.events()),
            "replicas emitted different events"
        );
        // A refused transaction used no nonce.
        for (who, key) in self.keys.iter().enumerate() {
            self.nonces[who] = self.ledger.account(&key.address()).nonce;
        }
    }
}

fn machine() -> TxBody {
    TxBody::RegisterMachine {
        spec: MachineSpec {
            cpu_cores: 2,
            memory_mb: 1024,
            disk_mb: 10,
            gpu: Some(GpuSpec {
                vendor: "nvidia".into(),
                model: "T4".into(),
                count: 2,
                vram_mb: 16_000,
            }),
            region: "r".into(),
            executor: "process".into(),
        },
        price_per_hour: UNIT,
        resource_prices: Default::default(),
    }
}

/// The secret variables a spec names: one, or none.
fn secret_names(secret: bool) -> Vec<String> {
    if secret {
        vec!["TOKEN".into()]
    } else {
        Vec::new()
    }
}

/// A pushed image of 1 MiB (105 ms to prepare in), if `pushed`.
fn pushed_image(pushed: bool) -> Option<ImageBlob> {
    pushed.then(|| ImageBlob {
        hash: Hash::digest(b"fuzz image"),
        size: 1 << 20,
        holder_proof: Hash::digest(b"fuzz proof"),
    })
}

fn job(gpus: u32, timeout_secs: u64) -> JobSpec {
    JobSpec {
        name: "fuzz".into(),
        ..JobSpec::new(
            format!("sha256:{}", "0".repeat(64)),
            vec!["run".into()],
            Resources::new(1, 64, 1).with_gpus(gpus),
            timeout_secs,
        )
    }
}
