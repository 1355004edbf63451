//! The application side of Malachite: builds proposals from the mempool,
//! validates other validators' proposals by executing them, commits decided
//! blocks to the ledger and serves decided blocks to peers that sync.

use crate::certificates::CertificateStore;
use crate::context::{
    encode_block, BlockValue, GpunetContext, Height, ProposalPart, ValidatorAddress, ValidatorSet,
};
use crate::mempool::Mempool;
use crate::signing::Signer;
use crate::state_sync::SnapshotTaker;
use gpunet_ledger::Ledger;
use gpunet_node::{inclusions, publish_block_events, Clock, SubmitError};
use gpunet_primitives::{Block, BlockHeader, Hash};
use gpunet_types::BlockEvent;
use malachitebft_app_channel::app::engine::host::Next;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, Context as _, Height as _, Round, Validator as _, Validity, Value as _,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// How proposals are built and judged.
#[derive(Clone, Debug)]
pub struct ProposalConfig {
    /// Most transactions in one block.
    pub max_block_txs: usize,
    /// A proposer with nothing to include waits up to this long for transactions
    /// or due work before proposing an empty block, so block time keeps moving.
    pub heartbeat: Duration,
    /// A proposer with something to include waits until this long after the
    /// last block (or until it holds `max_block_txs`) before proposing, so
    /// that a block carries what arrives meanwhile: votes, certificates, the
    /// write-ahead log and a block's own bookkeeping are paid per block, and
    /// under a steady load blocks of one or two transactions made back to
    /// back cost every validator several times the CPU per transaction
    /// (BENCHMARKS.md, "CPU time per transaction"). Zero: propose at once.
    pub gather: Duration,
    /// How far apart two honest validators' clocks may be (PBTS's precision):
    /// a fresh proposal timed further ahead of this validator's clock is not
    /// voted for, so a proposer cannot fast-forward deadlines.
    pub max_clock_drift: Duration,
    /// How long a proposal may take to reach a validator in round 0 (PBTS's
    /// message delay; it grows by a tenth each round so that a network slower
    /// than this still decides): a fresh proposal timed earlier than the
    /// drift and this delay before it arrived is not voted for, so a proposer
    /// cannot hold block time back.
    pub max_message_delay: Duration,
    /// The clock blocks are stamped and judged by.
    pub clock: Clock,
    /// Size of the parts a proposal is streamed to peers in.
    pub part_bytes: usize,
    /// Largest block accepted from a proposer, in bytes.
    pub max_block_bytes: usize,
}

impl Default for ProposalConfig {
    fn default() -> Self {
        ProposalConfig {
            max_block_txs: 5_000,
            heartbeat: Duration::from_secs(1),
            gather: Duration::from_millis(60),
            max_clock_drift: Duration::from_secs(5),
            max_message_delay: Duration::from_secs(15),
            clock: Clock::system(),
            part_bytes: 256 * 1024,
            max_block_bytes: 32 << 20,
        }
    }
}

/// Unfinished proposal streams kept per peer.
const MAX_STREAMS_PER_PEER: usize = 16;

/// A proposal arriving in parts from one peer.
#[derive(Default)]
struct PartStream {
    init: Option<ProposalPart>,
    data: BTreeMap<u64, Vec<u8>>,
    bytes: usize,
    fin: Option<(u64, gpunet_primitives::Signature)>,
}

/// A complete proposal received from the network, not yet judged.
struct ReceivedProposal {
    height: Height,
    round: Round,
    pol_round: Round,
    proposer: ValidatorAddress,
    value: BlockValue,
    arrival: Arrival,
}

/// How a proposal reached this node, which decides whether its time is judged
/// against this node's clock.
#[derive(Clone, Copy)]
enum Arrival {
    /// Streamed by its proposer while the height is decided, complete at
    /// `at_ms` on this node's clock.
    Live { at_ms: u64 },
    /// Sent by a peer with a commit certificate: validators holding more than
    /// two thirds of the voting power found its time timely, and the engine
    /// checks the certificate, so this node's own clock has no say.
    Synced,
}

/// Why a fresh proposal's time is not voted for.
#[derive(Debug, PartialEq, Eq)]
enum Untimely {
    /// Timed this far beyond the latest time the receiver's clock allows.
    Early { ahead_ms: u64 },
    /// Timed this far before the earliest time the receiver's clock allows.
    Late { behind_ms: u64 },
}

/// Judges a fresh proposal's time against the receiver's clock when it
/// arrived, as CometBFT's proposer-based timestamps do: timely between
/// `arrived - drift - delay` and `arrived + drift`, where the delay grows by a
/// tenth of `max_message_delay` each round.
fn timeliness(
    time_ms: u64,
    arrived_ms: u64,
    round: Round,
    config: &ProposalConfig,
) -> Result<(), Untimely> {
    let drift = config.max_clock_drift.as_millis() as u64;
    let delay = config.max_message_delay.as_millis() as u64;
    let grown = delay.saturating_add((delay / 10).saturating_mul(u64::from(round_key(round))));
    let latest = arrived_ms.saturating_add(drift);
    let earliest = arrived_ms.saturating_sub(drift.saturating_add(grown));
    if time_ms > latest {
        Err(Untimely::Early {
            ahead_ms: time_ms - latest,
        })
    } else if time_ms < earliest {
        Err(Untimely::Late {
            behind_ms: earliest - time_ms,
        })
    } else {
        Ok(())
    }
}

pub(crate) struct App {
    ledger: Arc<RwLock<Ledger>>,
    signer: Signer,
    address: ValidatorAddress,
    mempool: Arc<Mutex<Mempool>>,
    certificates: CertificateStore,
    events: broadcast::Sender<BlockEvent>,
    config: ProposalConfig,
    /// Takes state snapshots for joining nodes, if this node serves them.
    snapshots: Option<SnapshotTaker>,
    /// Values built or received for heights not yet decided, by (height, round).
    proposals: BTreeMap<(Height, u32), Vec<ProposedValue<GpunetContext>>>,
    /// Proposals for heights this node has not reached yet, judged when it does.
    future: BTreeMap<Height, Vec<ReceivedProposal>>,
    streams: BTreeMap<(PeerId, StreamId), PartStream>,
    last_block: Instant,
}

fn round_key(round: Round) -> u32 {
    round.as_u32().unwrap_or(u32::MAX)
}

/// The validator set that decides `height`, as the ledger recorded it.
pub(crate) fn validator_set(ledger: &Ledger, height: Height) -> ValidatorSet {
    ValidatorSet::new(ledger.validator_set(height.0))
}

/// Where consensus (re)starts: the height after the ledger's head, and the
/// validators that decide it.
pub(crate) fn resume_point(ledger: &Ledger) -> (Height, ValidatorSet) {
    let next = Height(ledger.head().height + 1);
    (next, validator_set(ledger, next))
}

/// A block no certificate can name (its roots are zero), standing for one a
/// peer sent that this node cannot take.
fn unmatched_block(height: Height, proposer: ValidatorAddress) -> Block {
    Block {
        header: BlockHeader {
            chain_id: String::new(),
            height: height.0,
            parent: Hash::ZERO,
            time_ms: 0,
            proposer: proposer.0,
            txs_root: Hash::ZERO,
            state_root: Hash::ZERO,
        },
        txs: Vec::new(),
    }
}

impl App {
    pub(crate) fn new(
        ledger: Arc<RwLock<Ledger>>,
        signer: Signer,
        address: ValidatorAddress,
        mempool: Arc<Mutex<Mempool>>,
        certificates: CertificateStore,
        events: broadcast::Sender<BlockEvent>,
        config: ProposalConfig,
    ) -> App {
        App {
            ledger,
            signer,
            address,
            mempool,
            certificates,
            events,
            config,
            snapshots: None,
            proposals: BTreeMap::new(),
            future: BTreeMap::new(),
            streams: BTreeMap::new(),
            last_block: Instant::now(),
        }
    }

    /// The application, taking state snapshots with `taker`.
    pub(crate) fn with_snapshots(self, taker: SnapshotTaker) -> App {
        App {
            snapshots: Some(taker),
            ..self
        }
    }

    fn next_height(&self) -> Height {
        Height(self.ledger.read().expect("ledger lock").head().height + 1)
    }

    fn validators(&self, height: Height) -> ValidatorSet {
        validator_set(&self.ledger.read().expect("ledger lock"), height)
    }

    /// Serves one engine until its channel closes. The application outlives the
    /// engine: a restarted engine is served by the same one.
    pub(crate) async fn run(&mut self, channels: &mut Channels<GpunetContext>) -> eyre::Result<()> {
        while let Some(msg) = channels.consensus.recv().await {
            match msg {
                AppMsg::ConsensusReady { reply } => {
                    let _ = reply.send(resume_point(&self.ledger.read().expect("ledger lock")));
                }
                AppMsg::StartedRound {
                    height,
                    round,
                    reply_value,
                    ..
                } => {
                    self.judge_future(height);
                    let known = self
                        .proposals
                        .get(&(height, round_key(round)))
                        .cloned()
                        .unwrap_or_default();
                    let _ = reply_value.send(known);
                }
                AppMsg::GetValue {
                    height,
                    round,
                    timeout,
                    reply,
                } => {
                    if let Some(value) = self.propose(height, round, timeout).await {
                        let _ = reply.send(LocallyProposedValue::new(height, round, value.clone()));
                        for part in self.stream(height, round, Round::Nil, &value) {
                            channels
                                .network
                                .send(NetworkMsg::PublishProposalPart(part))
                                .await?;
                        }
                    }
                }
                AppMsg::ExtendVote { reply, .. } => {
                    let _ = reply.send(None);
                }
                AppMsg::VerifyVoteExtension { reply, .. } => {
                    let _ = reply.send(Ok(()));
                }
                AppMsg::RestreamProposal {
                    height,
                    round,
                    valid_round,
                    value_id,
                    ..
                } => {
                    let at = if valid_round == Round::Nil {
                        round
                    } else {
                        valid_round
                    };
                    let value = self
                        .proposals
                        .get(&(height, round_key(at)))
                        .and_then(|vs| vs.iter().find(|v| v.value.id() == value_id))
                        .map(|v| v.value.clone());
                    if let Some(value) = value {
                        for part in self.stream(height, round, valid_round, &value) {
                            channels
                                .network
                                .send(NetworkMsg::PublishProposalPart(part))
                                .await?;
                        }
                    }
                }
                AppMsg::GetHistoryMinHeight { reply } => {
                    let first = self.certificates.first_height()?.unwrap_or(1);
                    let _ = reply.send(Height(first));
                }
                AppMsg::ReceivedProposalPart { from, part, reply } => {
                    let value = self
                        .receive_part(from, part)
                        .and_then(|received| self.judge(received));
                    let _ = reply.send(value);
                }
                AppMsg::GetValidatorSet { height, reply } => {
                    let set = self.validators(height);
                    let _ = reply.send((!set.is_empty()).then_some(set));
                }
                AppMsg::Decided {
                    certificate, reply, ..
                } => {
                    let height = certificate.height;
                    match self.commit(certificate) {
                        Ok(()) => {
                            let next = height.increment();
                            let _ = reply.send(Next::Start(next, self.validators(next)));
                        }
                        Err(e) => {
                            tracing::error!(%height, "could not commit the decided block: {e}");
                            let _ = reply.send(Next::Restart(height, self.validators(height)));
                        }
                    }
                }
                AppMsg::GetDecidedValue { height, reply } => {
                    let _ = reply.send(self.decided(height)?);
                }
                AppMsg::ProcessSyncedValue {
                    height,
                    round,
                    proposer,
                    value_bytes,
                    reply,
                } => {
                    let value = self.judge_synced(height, round, proposer, &value_bytes);
                    let _ = reply.send(Some(value));
                }
            }
        }
        Ok(())
    }

    /// Builds this validator's proposal for (height, round), or returns the one
    /// already built for it: a validator never proposes two values in one round.
    async fn propose(
        &mut self,
        height: Height,
        round: Round,
        timeout: Duration,
    ) -> Option<BlockValue> {
        if let Some(mine) = self
            .proposals
            .get(&(height, round_key(round)))
            .and_then(|vs| vs.iter().find(|v| v.proposer == self.address))
        {
            return Some(mine.value.clone());
        }
        // Wait briefly for something to include rather than fill the chain with
        // empty blocks, and once there is something, until the block has
        // gathered what comes meanwhile (`gather`), within the time consensus
        // gives us.
        let waited = Instant::now();
        let since_last = self.last_block.elapsed();
        let patience = (timeout / 2).min(self.config.heartbeat.saturating_sub(since_last));
        let gathering = patience.min(self.config.gather.saturating_sub(since_last));
        while waited.elapsed() < patience {
            let pending = self.mempool.lock().expect("mempool lock").len();
            if pending >= self.config.max_block_txs {
                break;
            }
            let due = || {
                self.config
                    .clock
                    .work_due(&self.ledger.read().expect("ledger lock"))
            };
            if waited.elapsed() >= gathering && (pending > 0 || due()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let candidates = self
            .mempool
            .lock()
            .expect("mempool lock")
            .candidates(self.config.max_block_txs);
        let built = {
            let mut l = self.ledger.write().expect("ledger lock");
            let time = self.config.clock.next_block_time_ms(&l);
            l.build_block(self.address.0, time, &candidates)
        };
        let built = match built {
            Ok(built) => built,
            Err(e) => {
                tracing::error!(%height, %round, "could not build a block: {e}");
                return None;
            }
        };
        {
            let mut pool = self.mempool.lock().expect("mempool lock");
            for (tx, result) in candidates.iter().zip(&built.results) {
                if let Err(e) = result {
                    pool.reject(&tx.hash(), e.clone());
                }
            }
        }
        let value = BlockValue::new(built.block);
        self.remember(ProposedValue {
            height,
            round,
            valid_round: Round::Nil,
            proposer: self.address,
            value: value.clone(),
            validity: Validity::Valid,
        });
        Some(value)
    }

    fn remember(&mut self, value: ProposedValue<GpunetContext>) {
        let known = self
            .proposals
            .entry((value.height, round_key(value.round)))
            .or_default();
        if !known
            .iter()
            .any(|v| v.value.id() == value.value.id() && v.proposer == value.proposer)
        {
            known.push(value);
        }
    }

    /// The parts of a proposal: who proposes it, the block's bytes, the proposer's signature.
    fn stream(
        &self,
        height: Height,
        round: Round,
        pol_round: Round,
        value: &BlockValue,
    ) -> Vec<StreamMessage<ProposalPart>> {
        let init = ProposalPart::Init {
            height,
            round,
            pol_round,
            proposer: self.address,
        };
        let signature = self.signer.sign_stream(&init, &value.id());
        let bytes = encode_block(value.block());
        let mut parts = vec![init];
        parts.extend(
            bytes
                .chunks(self.config.part_bytes)
                .map(|chunk| ProposalPart::Data(chunk.to_vec())),
        );
        parts.push(ProposalPart::Fin { signature });
        let stream_id = StreamId::new(
            borsh::to_vec(&(height.0, round_key(round)))
                .expect("encodes")
                .into(),
        );
        let last = parts.len() as u64;
        parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                StreamMessage::new(stream_id.clone(), i as u64, StreamContent::Data(part))
            })
            .chain([StreamMessage::new(
                stream_id.clone(),
                last,
                StreamContent::Fin,
            )])
            .collect()
    }

    /// Collects a part; returns the proposal once its stream is complete and signed.
    fn receive_part(
        &mut self,
        from: PeerId,
        message: StreamMessage<ProposalPart>,
    ) -> Option<ReceivedProposal> {
        let key = (from, message.stream_id.clone());
        let StreamContent::Data(part) = message.content else {
            return None;
        };
        if !self.streams.contains_key(&key)
            && self
                .streams
                .keys()
                .filter(|(peer, _)| *peer == from)
                .count()
                >= MAX_STREAMS_PER_PEER
        {
            // A peer flooding us with unfinished streams loses them all.
            self.streams.retain(|(peer, _), _| *peer != from);
        }
        let stream = self.streams.entry(key.clone()).or_default();
        match part {
            ProposalPart::Init { .. } if message.sequence == 0 => stream.init = Some(part),
            ProposalPart::Data(bytes) if message.sequence > 0 => {
                stream.bytes += bytes.len();
                stream.data.insert(message.sequence, bytes);
            }
            ProposalPart::Fin { signature } => stream.fin = Some((message.sequence, signature)),
            _ => {}
        }
        if stream.bytes > self.config.max_block_bytes {
            self.streams.remove(&key);
            return None;
        }
        let (Some(init), Some((fin, signature))) = (&stream.init, stream.fin) else {
            return None;
        };
        if stream.data.len() as u64 != fin - 1 {
            return None;
        }
        let init = init.clone();
        let stream = self.streams.remove(&key)?;
        let ProposalPart::Init {
            height,
            round,
            pol_round,
            proposer,
        } = init
        else {
            return None;
        };
        let bytes: Vec<u8> = stream.data.into_values().flatten().collect();
        let value = BlockValue::new(borsh::from_slice::<Block>(&bytes).ok()?);
        if !self
            .signer
            .verify_stream(&init, &value.id(), &signature, &proposer.0)
        {
            tracing::warn!(%height, %round, %proposer, "proposal with a bad signature");
            return None;
        }
        Some(ReceivedProposal {
            height,
            round,
            pol_round,
            proposer,
            value,
            arrival: Arrival::Live {
                at_ms: self.config.clock.now_ms(),
            },
        })
    }

    /// Judges a proposal for the height being decided and remembers it; one for a
    /// later height waits until this node gets there. A fresh live proposal
    /// whose time is untimely here is neither voted for nor refused: this node
    /// lets it go (its prevote is then nil), because Malachite 0.5 decides only
    /// values judged valid and keeps the first judgement of a value, even
    /// against a synced copy with a certificate. Refused, a proposal the others
    /// decided would hold this node at that height for good; let go, the
    /// node takes it by sync (a validator whose clock is wrong follows the
    /// chain instead of stopping). A re-proposal (with a polka round) is not
    /// timed again: validators holding over two thirds of the power already
    /// prevoted for it.
    fn judge(&mut self, p: ReceivedProposal) -> Option<ProposedValue<GpunetContext>> {
        let next = self.next_height();
        if p.height > next {
            self.future.entry(p.height).or_default().push(p);
            return None;
        }
        if p.height < next {
            return None;
        }
        if let (Arrival::Live { at_ms }, Round::Nil) = (p.arrival, p.pol_round) {
            let time = p.value.block().header.time_ms;
            if let Err(untimely) = timeliness(time, at_ms, p.round, &self.config) {
                tracing::warn!(height = %p.height, round = %p.round, proposer = %p.proposer, ?untimely, "not voting for a proposal whose time this node's clock finds untimely; it follows the others' decision by sync");
                return None;
            }
        }
        let validity = if self.is_valid(&p) {
            Validity::Valid
        } else {
            Validity::Invalid
        };
        let value = ProposedValue {
            height: p.height,
            round: p.round,
            valid_round: p.pol_round,
            proposer: p.proposer,
            value: p.value,
            validity,
        };
        self.remember(value.clone());
        Some(value)
    }

    /// Judges a block a peer sent with its commit certificate, for a node that
    /// syncs. Every answer is a value: Malachite 0.5 drops a sync request
    /// answered with none without asking another peer, and the node then
    /// waits for that height until its engine restarts (any peer could hold a
    /// syncing node back by sending bytes that do not decode). A value whose
    /// id is not the certificate's makes the engine ask another peer.
    fn judge_synced(
        &mut self,
        height: Height,
        round: Round,
        proposer: ValidatorAddress,
        bytes: &[u8],
    ) -> ProposedValue<GpunetContext> {
        let refused = |block: Block| ProposedValue {
            height,
            round,
            valid_round: Round::Nil,
            proposer,
            value: BlockValue::new(block),
            validity: Validity::Invalid,
        };
        let next = self.next_height();
        if height < next {
            // Decided here already (through consensus, while the sync request
            // was under way): this node's own block answers.
            let ours = self.ledger.read().expect("ledger lock").block(height.0);
            if let Ok(Some(block)) = ours {
                return ProposedValue {
                    validity: Validity::Valid,
                    ..refused(block)
                };
            }
        }
        let block = match borsh::from_slice::<Block>(bytes) {
            Ok(block) if height == next => block,
            Ok(_) | Err(_) => {
                tracing::warn!(%height, next = %next, "a synced block that does not decode or is not for the next height");
                return refused(unmatched_block(height, proposer));
            }
        };
        self.judge(ReceivedProposal {
            height,
            round,
            pol_round: Round::Nil,
            proposer,
            value: BlockValue::new(block),
            arrival: Arrival::Synced,
        })
        .unwrap_or_else(|| refused(unmatched_block(height, proposer)))
    }

    fn judge_future(&mut self, height: Height) {
        let waiting = self.future.remove(&height).unwrap_or_default();
        self.future.retain(|h, _| *h > height);
        for p in waiting {
            self.judge(p);
        }
    }

    fn is_valid(&self, p: &ReceivedProposal) -> bool {
        let block = p.value.block();
        let validators = self.validators(p.height);
        let expected = GpunetContext.select_proposer(&validators, p.height, p.round);
        if *expected.address() != p.proposer || block.header.proposer != p.proposer.0 {
            tracing::warn!(height = %p.height, round = %p.round, proposer = %p.proposer, "proposal from a validator whose turn it is not");
            return false;
        }
        match self.ledger.write().expect("ledger lock").check_block(block) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(height = %p.height, proposer = %p.proposer, "invalid proposal: {e}");
                false
            }
        }
    }

    /// Stores the certificate, applies the decided block and answers the
    /// submitters of its transactions.
    fn commit(&mut self, certificate: CommitCertificate<GpunetContext>) -> eyre::Result<()> {
        let height = certificate.height;
        let value = self
            .proposals
            .range((height, 0)..=(height, u32::MAX))
            .flat_map(|(_, vs)| vs)
            .find(|v| v.value.id() == certificate.value_id)
            .map(|v| v.value.clone())
            .ok_or_else(|| {
                eyre::eyre!("the decided block {} is unknown here", certificate.value_id)
            })?;
        self.certificates.put(&certificate)?;
        let block = value.block();
        let applied = self
            .ledger
            .write()
            .expect("ledger lock")
            .apply_block(block)?;
        self.last_block = Instant::now();
        publish_block_events(&self.events, &applied);
        let mut pool = self.mempool.lock().expect("mempool lock");
        for (tx, included) in block.txs.iter().zip(inclusions(&applied, &block.txs)) {
            pool.resolve(&tx.hash(), included.map_err(SubmitError::Rejected));
        }
        // Submitters here learn at once when their transaction can no longer be included.
        let mut ledger = self.ledger.write().expect("ledger lock");
        if let Some(snapshots) = &self.snapshots {
            snapshots.after_commit(&ledger, &certificate);
        }
        for tx in pool.awaited() {
            if let Err(e) = ledger.check_tx(&tx) {
                pool.reject(&tx.hash(), e);
            }
        }
        drop(ledger);
        drop(pool);
        self.proposals.retain(|(h, _), _| *h > height);
        Ok(())
    }

    fn decided(&self, height: Height) -> eyre::Result<Option<RawDecidedValue<GpunetContext>>> {
        let Some(certificate) = self.certificates.get(height.0)? else {
            return Ok(None);
        };
        let block = self.ledger.read().expect("ledger lock").block(height.0)?;
        Ok(block.map(|block| RawDecidedValue {
            value_bytes: encode_block(&block),
            certificate,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vote_guard::VoteGuard;
    use gpunet_ledger::Genesis;
    use gpunet_primitives::Keypair;
    use gpunet_types::Params;

    /// An application for a one-validator chain, its ledger at genesis.
    fn app(dir: &std::path::Path, config: ProposalConfig) -> (App, Keypair) {
        let key = Keypair::from_label("validator");
        let genesis = Genesis {
            chain_id: "sync-test".into(),
            genesis_time_ms: 1_000,
            accounts: Vec::new(),
            validators: vec![key.address()],
            params: Params::default(),
        };
        let ledger = Arc::new(RwLock::new(Ledger::open(None, &genesis).unwrap()));
        let guard = Arc::new(VoteGuard::open(dir).unwrap());
        let app = App::new(
            ledger,
            Signer::new(key.clone(), "sync-test", guard),
            ValidatorAddress(key.address()),
            Arc::new(Mutex::new(Mempool::new(16))),
            CertificateStore::open(&dir.join("certificates.redb")).unwrap(),
            broadcast::channel(16).0,
            config,
        );
        (app, key)
    }

    fn next_block(app: &App, key: &Keypair) -> Block {
        let mut ledger = app.ledger.write().unwrap();
        let time = Clock::system().next_block_time_ms(&ledger);
        ledger.build_block(key.address(), time, &[]).unwrap().block
    }

    /// Malachite 0.5 drops a sync request answered with no value and never asks
    /// again for that height: every answer must be a value, and one that is
    /// not the certified block must not pass for it.
    #[test]
    fn every_synced_block_gets_a_value_and_only_the_right_one_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let (mut app, key) = app(dir.path(), ProposalConfig::default());
        let proposer = ValidatorAddress(key.address());
        let block = next_block(&app, &key);
        let id = BlockValue::new(block.clone()).id();

        // Bytes that do not decode: a refused value no certificate names.
        let garbage = app.judge_synced(Height(1), Round::new(0), proposer, b"\xff\x00garbage");
        assert_eq!(garbage.validity, Validity::Invalid);
        assert_ne!(garbage.value.id(), id);
        // A block for another height than the next.
        let later = app.judge_synced(Height(2), Round::new(0), proposer, &encode_block(&block));
        assert_eq!(later.validity, Validity::Invalid);
        assert_ne!(later.value.id(), id);
        // The next block, whole.
        let next = app.judge_synced(Height(1), Round::new(0), proposer, &encode_block(&block));
        assert_eq!((next.validity, next.value.id()), (Validity::Valid, id));

        // Once decided here, a late answer for it is this node's own block.
        app.ledger.write().unwrap().apply_block(&block).unwrap();
        let late = app.judge_synced(Height(1), Round::new(0), proposer, b"anything");
        assert_eq!((late.validity, late.value.id()), (Validity::Valid, id));
    }

    #[test]
    fn a_fresh_proposal_is_timely_from_drift_and_delay_before_its_arrival_to_drift_after() {
        let config = ProposalConfig {
            max_clock_drift: Duration::from_secs(5),
            max_message_delay: Duration::from_secs(10),
            ..ProposalConfig::default()
        };
        let arrived = 100_000;
        let round0 = Round::new(0);
        for time in [85_000, 100_000, 105_000] {
            assert_eq!(timeliness(time, arrived, round0, &config), Ok(()), "{time}");
        }
        assert_eq!(
            timeliness(105_001, arrived, round0, &config),
            Err(Untimely::Early { ahead_ms: 1 })
        );
        assert_eq!(
            timeliness(84_000, arrived, round0, &config),
            Err(Untimely::Late { behind_ms: 1_000 })
        );
        // The delay grows by a tenth each round: round 2 allows 12 s.
        assert_eq!(timeliness(83_000, arrived, Round::new(2), &config), Ok(()));
        // Extreme times and rounds saturate instead of wrapping.
        assert!(timeliness(u64::MAX, u64::MAX, Round::new(u32::MAX - 1), &config).is_ok());
        assert_eq!(
            timeliness(0, 0, round0, &config),
            Ok(()),
            "a clock at zero finds nothing late"
        );
    }

    /// A validator whose clock is minutes behind must not refuse an honest
    /// proposal (Malachite would then never take it, not even by sync): it
    /// lets it go, and takes the same block once it comes with a certificate.
    #[test]
    fn a_proposal_untimely_here_is_let_go_live_and_taken_when_synced() {
        let dir = tempfile::tempdir().unwrap();
        let behind = ProposalConfig {
            clock: Clock::skewed(-3 * 60_000),
            ..ProposalConfig::default()
        };
        let (mut late, key) = app(dir.path(), behind);
        let proposer = ValidatorAddress(key.address());
        let block = next_block(&late, &key);
        let id = BlockValue::new(block.clone()).id();
        let live = ReceivedProposal {
            height: Height(1),
            round: Round::new(0),
            pol_round: Round::Nil,
            proposer,
            value: BlockValue::new(block.clone()),
            arrival: Arrival::Live {
                at_ms: late.config.clock.now_ms(),
            },
        };
        assert!(late.judge(live).is_none());
        assert!(late.proposals.is_empty(), "nothing was judged");

        let synced = late.judge_synced(Height(1), Round::new(0), proposer, &encode_block(&block));
        assert_eq!((synced.validity, synced.value.id()), (Validity::Valid, id));

        // A re-proposal of a value others prevoted for is not timed again.
        let dir = tempfile::tempdir().unwrap();
        let behind = ProposalConfig {
            clock: Clock::skewed(-3 * 60_000),
            ..ProposalConfig::default()
        };
        let (mut fresh, key) = app(dir.path(), behind);
        let block = next_block(&fresh, &key);
        let reproposed = ReceivedProposal {
            height: Height(1),
            round: Round::new(1),
            pol_round: Round::new(0),
            proposer: ValidatorAddress(key.address()),
            value: BlockValue::new(block),
            arrival: Arrival::Live {
                at_ms: fresh.config.clock.now_ms(),
            },
        };
        let judged = fresh.judge(reproposed).expect("judged");
        assert_eq!(judged.validity, Validity::Valid);
    }
}
