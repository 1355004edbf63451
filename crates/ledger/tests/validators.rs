//! Validator stake, voting power, set changes and double-sign punishment.

use gpunet_primitives::{DoubleSign, Hash, Keypair, SignedVote, TxBody, Vote, VoteKind};
use gpunet_types::{Event, Params};

#[allow(unused_macros)]
mod common;
use common::{genesis, Chain, CHAIN_ID};

fn params() -> Params {
    Params {
        unbonding_ms: 5_000,
        hardware_challenges: false,
        ..Params::default()
    }
}

fn chain() -> (Chain, Keypair) {
    let founder = Keypair::from_label("validator");
    let joiner = Keypair::from_label("joiner");
    let g = genesis(&founder, &[&founder, &joiner], params());
    (Chain::new(&g, founder), joiner)
}

fn vote(key: &Keypair, height: u64, block: Option<Hash>) -> SignedVote {
    let vote = Vote {
        kind: VoteKind::Precommit,
        height,
        round: 0,
        block,
        validator: key.address(),
    };
    SignedVote {
        signature: key.sign(&vote.sign_bytes(CHAIN_ID)),
        vote,
    }
}

fn evidence(key: &Keypair, height: u64) -> Box<DoubleSign> {
    Box::new(DoubleSign {
        first: vote(key, height, Some(Hash::digest(b"one"))),
        second: vote(key, height, Some(Hash::digest(b"two"))),
    })
}

#[test]
fn bonded_stake_buys_votes_from_the_next_height_and_unbonding_gives_them_back() {
    let (mut c, joiner) = chain();
    let founder = c.validator.address();
    let per_vote = params().stake_per_vote;
    assert_eq!(c.ledger.validator_set(1), vec![(founder, 1)]);
    c.send(
        &joiner,
        TxBody::BondValidator {
            amount: 3 * per_vote + 1,
        },
    )
    .unwrap();
    let h = c.ledger.head().height;
    assert_eq!(
        c.ledger.validator_set(h),
        vec![(founder, 1)],
        "not in the block that bonds"
    );
    let mut next = c.ledger.validator_set(h + 1);
    next.sort();
    let mut expected = vec![(founder, 1), (joiner.address(), 3)];
    expected.sort();
    assert_eq!(next, expected);

    c.send(
        &joiner,
        TxBody::UnbondValidator {
            amount: 3 * per_vote + 1,
        },
    )
    .unwrap();
    assert_eq!(
        c.ledger.validator_set(c.ledger.head().height + 1),
        vec![(founder, 1)]
    );
    let account = c.ledger.account(&joiner.address());
    assert_eq!(account.unbonding_total(), 3 * per_vote + 1);
    // The past stays answerable for peers that sync old blocks.
    assert_eq!(c.ledger.validator_set(h + 1), next);
}

#[test]
fn the_last_validator_cannot_leave() {
    let (mut c, _) = chain();
    let founder = c.validator.clone();
    let err = c
        .send(
            &founder,
            TxBody::UnbondValidator {
                amount: params().stake_per_vote,
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "last_validator");
    assert_eq!(c.ledger.validator_set(c.ledger.head().height + 1).len(), 1);
}

#[test]
fn double_signing_is_slashed_once_and_the_validator_leaves_the_set() {
    let (mut c, joiner) = chain();
    let per_vote = params().stake_per_vote;
    c.send(
        &joiner,
        TxBody::BondValidator {
            amount: 2 * per_vote,
        },
    )
    .unwrap();
    let height = c.ledger.head().height;
    let founder = c.validator.clone();

    let mut forged = evidence(&joiner, height);
    forged.second.vote.round = 1;
    let err = c
        .send(&founder, TxBody::ReportDoubleSign { evidence: forged })
        .unwrap_err();
    assert_eq!(err.code(), "bad_evidence");
    let stranger = Keypair::from_label("stranger");
    let err = c
        .send(
            &founder,
            TxBody::ReportDoubleSign {
                evidence: evidence(&stranger, height),
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "not_a_validator", "{err}");

    let burned = c.ledger.state().globals().burned;
    c.send(
        &founder,
        TxBody::ReportDoubleSign {
            evidence: evidence(&joiner, height),
        },
    )
    .unwrap();
    let slashed = 2 * per_vote / 10;
    assert!(c.events.iter().any(|e| matches!(e,
        Event::DoubleSignPunished { validator, slashed: s, reporter, .. }
            if *validator == joiner.address() && *s == slashed && *reporter == founder.address())));
    assert_eq!(c.ledger.state().globals().burned, burned + slashed);
    let account = c.ledger.account(&joiner.address());
    assert_eq!(
        (account.validator_bonded, account.unbonding_total()),
        (0, 2 * per_vote - slashed)
    );
    assert_eq!(
        c.ledger.validator_set(c.ledger.head().height + 1),
        vec![(founder.address(), 1)]
    );
    // Once punished, for good: no second slash, no way back in.
    let err = c
        .send(
            &founder,
            TxBody::ReportDoubleSign {
                evidence: evidence(&joiner, height),
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "tombstoned");
    let err = c
        .send(&joiner, TxBody::BondValidator { amount: per_vote })
        .unwrap_err();
    assert_eq!(err.code(), "tombstoned");
    // Double-signing the only validator out would halt the chain: refused.
    let err = c
        .send(
            &joiner,
            TxBody::ReportDoubleSign {
                evidence: evidence(&founder, height),
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "last_validator");
}
