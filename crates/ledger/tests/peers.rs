//! Where accounts' data-plane peers are reached (`TxBody::AnnouncePeer`):
//! announced, replaced and withdrawn by their account alone, each address
//! in one spelling, nonsense refused with nothing changed.

use gpunet_ledger::TxError;
use gpunet_primitives::{Keypair, TxBody};
use gpunet_types::Params;
use std::net::SocketAddr;

#[allow(unused_macros)]
mod common;
use common::{genesis, Chain};

fn announce(direct: &[&str], relay: Option<&str>) -> TxBody {
    TxBody::AnnouncePeer {
        direct: direct.iter().map(|a| a.to_string()).collect(),
        relay: relay.map(str::to_string),
    }
}

fn socket(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn a_peer_is_announced_replaced_and_withdrawn_by_its_account() {
    let validator = Keypair::from_label("validator");
    let provider = Keypair::from_label("provider");
    let other = Keypair::from_label("other");
    let mut chain = Chain::new(
        &genesis(&validator, &[&provider, &other], Params::default()),
        validator,
    );
    assert_eq!(chain.ledger.peer(&provider.address()), None);

    let before = chain.ledger.state_root();
    // IPv6 written long is kept as it is written short: one spelling each.
    chain
        .send(
            &provider,
            announce(
                &["203.0.113.7:4433", "[0:0:0:0:0:0:0:1]:4433"],
                Some("https://relay.example.org/"),
            ),
        )
        .unwrap();
    assert_ne!(chain.ledger.state_root(), before, "the record is state");
    let peer = chain.ledger.peer(&provider.address()).unwrap();
    assert_eq!(peer.account, provider.address());
    assert_eq!(
        peer.direct,
        vec![socket("203.0.113.7:4433"), socket("[::1]:4433")]
    );
    assert_eq!(peer.relay.as_deref(), Some("https://relay.example.org/"));
    // Another account's announcement is its own.
    assert_eq!(chain.ledger.peer(&other.address()), None);

    // A new announcement replaces the old one whole.
    chain
        .send(&provider, announce(&[], Some("http://10.0.0.1:3340/")))
        .unwrap();
    let peer = chain.ledger.peer(&provider.address()).unwrap();
    assert!(peer.direct.is_empty());
    assert_eq!(peer.relay.as_deref(), Some("http://10.0.0.1:3340/"));

    // Nothing withdraws it.
    chain.send(&provider, announce(&[], None)).unwrap();
    assert_eq!(chain.ledger.peer(&provider.address()), None);
}

#[test]
fn a_peer_announcement_that_is_no_address_is_refused_and_changes_nothing() {
    let validator = Keypair::from_label("validator");
    let provider = Keypair::from_label("provider");
    let mut chain = Chain::new(
        &genesis(&validator, &[&provider], Params::default()),
        validator,
    );
    chain
        .send(&provider, announce(&["198.51.100.1:7000"], None))
        .unwrap();
    let kept = chain.ledger.peer(&provider.address());

    let nine: Vec<String> = (0..9).map(|i| format!("198.51.100.{i}:7000")).collect();
    let nine: Vec<&str> = nine.iter().map(String::as_str).collect();
    let long = format!("https://{}/", "a".repeat(200));
    let refusals = [
        (announce(&nine, None), "too_many_peer_addresses"),
        (announce(&["localhost:7000"], None), "bad_peer_address"),
        (announce(&["198.51.100.1"], None), "bad_peer_address"),
        (announce(&["198.51.100.1:0"], None), "bad_peer_address"),
        (announce(&["198.51.100.1:70000"], None), "bad_peer_address"),
        (
            announce(&[], Some("ftp://relay.example.org/")),
            "bad_relay_url",
        ),
        (
            announce(&[], Some("https://relay example/")),
            "bad_relay_url",
        ),
        (announce(&[], Some("https://relay\u{0}/")), "bad_relay_url"),
        (announce(&[], Some(&long)), "bad_relay_url"),
    ];
    for (body, code) in refusals {
        let refused = chain.send(&provider, body.clone());
        let error: TxError = refused.expect_err(&format!("{body:?} is refused"));
        assert_eq!(error.code().to_string(), code, "{body:?}: {error}");
        assert_eq!(chain.ledger.peer(&provider.address()), kept, "{body:?}");
    }
}
