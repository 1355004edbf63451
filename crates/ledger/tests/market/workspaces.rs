//! Saved workspaces: a rental ended with `save` stops billing, waits for its
//! provider's report (or its deadline), and a later order of the same client
//! starts with what it saved.

use crate::net::*;
use gpunet_ledger::TxError;
use gpunet_primitives::{Hash, JobSpec, OutputHolder, TxBody, WorkspaceRef, WorkspaceSave, UNIT};
use gpunet_types::{Event, OrderStatus, WorkspaceState};

fn saved(root: &[u8]) -> WorkspaceSave {
    WorkspaceSave::Saved {
        root: Hash::digest(root),
        bytes: 42,
        held_by: OutputHolder::Provider,
    }
}

fn end_saving(net: &mut Net, id: u64) -> Result<(), TxError> {
    let client = net.client.clone();
    net.send(
        &client,
        TxBody::EndRental {
            order: id,
            save: true,
        },
    )
}

#[test]
fn a_rental_ended_with_save_is_billed_to_then_and_closes_when_its_workspace_is_reported() {
    let mut net = Net::new(1);
    let hour = gpunet_types::max_payment(PRICE, 3_600).unwrap();
    let id = rent(&mut net, 3_600, hour).unwrap();
    net.block(10 * MINUTE, &[]);
    end_saving(&mut net, id).unwrap();
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Saving);
    let start = order.lease().unwrap().start_ms;
    let rental = order.rental().unwrap().clone();
    let billed_to = rental.paid_until_ms;
    let deadline_ms = billed_to + params().workspace_save_ms;
    assert_eq!(
        order.workspace(),
        Some(WorkspaceState::Saving { deadline_ms }),
        "its deadline counts from the end"
    );
    let provider = lessee(&net, id);
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::WorkspaceSaveAsked { order, provider: p, deadline_ms: d, .. }
            if *order == id && *p == provider && *d == deadline_ms
    )));
    // Saving is not billed, however long it takes; the machine stays leased.
    net.block(20 * MINUTE, &[]);
    let during = net.ledger.order(id).unwrap().rental().unwrap().clone();
    assert_eq!((during.paid, during.burned), (rental.paid, rental.burned));
    assert_eq!(net.ledger.machines().next().unwrap().active_leases, 1);
    // The renter cannot renew it, nor end it again; nobody but its provider
    // reports the workspace.
    let client = net.client.clone();
    let renew = TxBody::RenewRental {
        order: id,
        extra_secs: 60,
        deposit: hour,
    };
    assert!(matches!(
        net.send(&client, renew),
        Err(TxError::WrongStatus {
            status: OrderStatus::Saving,
            ..
        })
    ));
    assert!(end_saving(&mut net, id).is_err());
    let report = TxBody::ReportWorkspace {
        order: id,
        save: saved(b"work"),
    };
    assert_eq!(
        net.send(&client, report.clone()),
        Err(TxError::NotYourLease(id))
    );

    let provider_key = net.provider_of(id);
    net.send(&provider_key, report.clone()).unwrap();
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    assert_eq!(
        order.view().workspace,
        Some(WorkspaceState::Saved {
            root: Hash::digest(b"work"),
            bytes: 42,
            held_by: OutputHolder::Provider,
        })
    );
    assert_eq!(
        order.view().result_files(),
        Some((Hash::digest(b"work"), OutputHolder::Provider)),
        "what `job get` fetches"
    );
    let s = order.settlement().unwrap();
    assert_eq!(
        s.paid_to_provider + s.burned,
        PRICE * u128::from(billed_to - start) / 3_600_000,
        "billed to the end, not the report"
    );
    assert_eq!(s.paid_to_provider + s.burned + s.refunded, hour);
    assert_eq!(net.ledger.machines().next().unwrap().active_leases, 0);
    // Reported once.
    assert!(net.send(&provider_key, report).is_err());
}

#[test]
fn a_save_its_provider_never_reports_closes_the_rental_at_its_deadline() {
    let mut net = Net::new(1);
    let hour = gpunet_types::max_payment(PRICE, 3_600).unwrap();
    let id = rent(&mut net, 3_600, hour).unwrap();
    end_saving(&mut net, id).unwrap();
    net.block(params().workspace_save_ms - 1_000, &[]);
    assert_eq!(net.status(id), OrderStatus::Saving);
    net.block(2_000, &[]);
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    assert_eq!(order.workspace(), Some(WorkspaceState::NotReported));
    assert_eq!(order.result(), None);
    // A late report changes nothing.
    let provider = net.provider_of(id);
    let late = TxBody::ReportWorkspace {
        order: id,
        save: saved(b"late"),
    };
    assert!(net.send(&provider, late).is_err());
    // A provider that cannot save says why, and the rental closes then.
    let id = rent(&mut net, 3_600, hour).unwrap();
    end_saving(&mut net, id).unwrap();
    let provider = net.provider_of(id);
    let failed = |reason: String| TxBody::ReportWorkspace {
        order: id,
        save: WorkspaceSave::Failed { reason },
    };
    assert!(matches!(
        net.send(&provider, failed("x".repeat(2_000))),
        Err(TxError::TooLong { .. })
    ));
    net.send(&provider, failed("disk full".into())).unwrap();
    assert_eq!(
        net.ledger.order(id).unwrap().workspace(),
        Some(WorkspaceState::Failed {
            reason: "disk full".into()
        })
    );
}

#[test]
fn only_its_client_starts_an_order_with_a_saved_workspace_and_only_by_its_root() {
    let mut net = Net::new(2);
    let hour = gpunet_types::max_payment(PRICE, 3_600).unwrap();
    let id = rent(&mut net, 3_600, hour).unwrap();
    // Not saved yet: nothing to start with.
    let with = |workspace: WorkspaceRef| JobSpec {
        workspace: Some(workspace),
        ..spec(false, 0)
    };
    let root = Hash::digest(b"work");
    let client = net.client.clone();
    let named = WorkspaceRef { order: id, root };
    assert_eq!(
        net.submit_as(&client, with(named)),
        Err(TxError::NoSavedWorkspace { order: id, root })
    );
    end_saving(&mut net, id).unwrap();
    let provider = net.provider_of(id);
    let report = TxBody::ReportWorkspace {
        order: id,
        save: saved(b"work"),
    };
    net.send(&provider, report).unwrap();

    // Another root of the same rental, or another client's order, is refused.
    let wrong = WorkspaceRef {
        order: id,
        root: Hash::digest(b"guess"),
    };
    assert!(matches!(
        net.submit_as(&client, with(wrong)),
        Err(TxError::NoSavedWorkspace { .. })
    ));
    let stranger = net.providers[1].clone();
    assert_eq!(
        net.submit_as(&stranger, with(named)),
        Err(TxError::NotYourOrder(id))
    );
    // Its client starts a job with it, and the job names it.
    net.submit_as(&client, with(named)).unwrap();
    let job = net.ledger.state().globals().next_order_id - 1;
    assert_eq!(net.ledger.order(job).unwrap().spec.workspace, Some(named));
}

/// A rental of `secs` whose spec says `save_on_end`, paid for in full.
fn rent_saving_on_end(net: &mut Net, secs: u64) -> u64 {
    let client = net.client.clone();
    let spec = JobSpec {
        save_on_end: true,
        timeout_secs: secs,
        ..spec(false, 0)
    };
    net.send(
        &client,
        TxBody::Rent {
            spec,
            max_price_per_hour: PRICE,
            deposit: gpunet_types::max_payment(PRICE, secs).unwrap(),
        },
    )
    .unwrap();
    net.ledger.state().globals().next_order_id - 1
}

#[test]
fn a_rental_that_saves_on_end_is_saved_when_its_time_runs_out_or_its_container_stops() {
    let mut net = Net::new(2);
    // Its time runs out: billed to its end, its machine kept while saving.
    let id = rent_saving_on_end(&mut net, 1_800);
    let ends_ms = net.ledger.order(id).unwrap().rental().unwrap().ends_ms;
    net.block(31 * MINUTE, &[]);
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Saving);
    assert_eq!(order.rental().unwrap().paid_until_ms, ends_ms);
    let provider = lessee(&net, id);
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::WorkspaceSaveAsked { order, provider: p, .. } if *order == id && *p == provider
    )));
    net.block(10 * MINUTE, &[]);
    let during = net.ledger.order(id).unwrap().rental().unwrap().clone();
    assert_eq!(
        during.paid,
        order.rental().unwrap().paid,
        "saving is not billed"
    );
    let provider_key = net.provider_of(id);
    let report = TxBody::ReportWorkspace {
        order: id,
        save: saved(b"ran out"),
    };
    net.send(&provider_key, report).unwrap();
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    assert_eq!(
        order.view().result_files(),
        Some((Hash::digest(b"ran out"), OutputHolder::Provider))
    );
    let s = order.settlement().unwrap();
    assert_eq!(s.paid_to_provider + s.burned, PRICE / 2, "its half hour");
    assert_eq!(s.refunded, 0);

    // Its container stops for good: billed to then, saved the same way.
    let id = rent_saving_on_end(&mut net, 3_600);
    net.block(20 * MINUTE, &[]);
    let provider_key = net.provider_of(id);
    let stopped = TxBody::RentalStopped {
        order: id,
        how: gpunet_primitives::ContainerStop::Exited { exit_code: 0 },
    };
    net.send(&provider_key, stopped).unwrap();
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Saving);
    net.block(params().workspace_save_ms + 1_000, &[]);
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    assert_eq!(order.workspace(), Some(WorkspaceState::NotReported));
    let s = order.settlement().unwrap();
    // Billed its 20 minutes, not the saving; its last 40 minutes back.
    assert!(s.refunded > PRICE / 2, "{s:?}");
    assert_eq!(s.paid_to_provider + s.burned + s.refunded, PRICE);

    // Without it, a rental whose time runs out closes at once, unsaved.
    let id = rent(&mut net, 600, PRICE).unwrap();
    net.block(11 * MINUTE, &[]);
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    assert_eq!(order.workspace(), None);

    // A job has outputs, not a workspace to save.
    let job = JobSpec {
        save_on_end: true,
        ..spec(false, 0)
    };
    let client = net.client.clone();
    let submitted = net.send(
        &client,
        TxBody::SubmitOrder {
            spec: job,
            max_price_per_hour: PRICE,
            deposit: 100 * UNIT,
        },
    );
    assert_eq!(
        submitted,
        Err(TxError::ImpossibleSpec(gpunet_ledger::SpecError::SavedJob))
    );
}
