//! Chained jobs whose input is a file of an earlier job's result that its
//! provider keeps (`InputSource::KeptResult`): only the client's own jobs,
//! only results a provider keeps.

use crate::net::*;
use gpunet_ledger::TxError;
use gpunet_primitives::{
    Hash, InputRef, InputSource, JobOutcome, JobSpec, OrderId, OutputHolder, TxBody, UNIT,
};

/// Reports `order` completed, its files kept by `held_by`.
fn complete(net: &mut Net, order: OrderId, held_by: OutputHolder) {
    let provider = net.provider_of(order);
    net.send(
        &provider,
        TxBody::ReportResult {
            order,
            outcome: JobOutcome::Completed {
                exit_code: 0,
                output_root: Hash::digest(b"result"),
                output_bytes: 1,
                duration_ms: 1_000,
                stopped: None,
                held_by,
            },
        },
    )
    .unwrap();
}

/// A job reading `model.bin` of `order`'s result.
fn reading(order: OrderId) -> JobSpec {
    JobSpec {
        inputs: vec![InputRef {
            path: "model.bin".into(),
            hash: Hash::digest(b"model"),
            size: 5,
            source: InputSource::KeptResult { order },
        }],
        ..spec(false, 0)
    }
}

#[test]
fn only_its_client_chains_a_result_its_provider_keeps() {
    let mut net = Net::new(3);
    let client = net.client.clone();
    let kept = net.submit(spec(false, 0));
    let on_nodes = net.submit(spec(false, 0));
    let running = net.submit(spec(false, 0));
    complete(&mut net, kept, OutputHolder::Provider);
    complete(&mut net, on_nodes, OutputHolder::Nodes);

    // A result on the nodes is read there, with a proof of holding; one not
    // reported yet has no file to name.
    for unkept in [on_nodes, running] {
        assert_eq!(
            net.submit_as(&client, reading(unkept)),
            Err(TxError::NoKeptResult {
                path: "model.bin".into(),
                order: unkept
            })
        );
    }
    let array = TxBody::SubmitArray {
        spec: reading(on_nodes),
        max_price_per_hour: PRICE,
        deposit_each: 100 * UNIT,
        size: 2,
    };
    assert!(matches!(
        net.send(&client, array),
        Err(TxError::NoKeptResult { .. })
    ));
    // Someone else's result is not for another account's jobs to name.
    let stranger = net.providers[2].clone();
    assert_eq!(
        net.submit_as(&stranger, reading(kept)),
        Err(TxError::NotYourOrder(kept))
    );

    net.submit_as(&client, reading(kept)).unwrap();
    let job = net.ledger.state().globals().next_order_id - 1;
    assert_eq!(
        net.ledger.order(job).unwrap().spec.inputs,
        reading(kept).inputs
    );
}
