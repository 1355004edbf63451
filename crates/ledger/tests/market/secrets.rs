//! Secrets: only the order's client seals them, to a running lease, once
//! per lease; a lease matched anew needs them sealed anew. The ledger keeps
//! the box and cannot read it.

use crate::net::*;
use gpunet_ledger::TxError;
use gpunet_primitives::{Keypair, SealedSecrets, SecretEnv, TxBody, MAX_SEALED_SECRETS_BYTES};
use gpunet_types::{Event, OrderStatus};

fn with_secret() -> gpunet_primitives::JobSpec {
    let mut spec = spec(false, 0);
    spec.secrets = vec!["API_TOKEN".into()];
    spec
}

fn sealed_to(net: &Net, order: u64) -> SealedSecrets {
    let env = SecretEnv {
        order,
        vars: vec![("API_TOKEN".into(), "s3cr3t".into())],
    };
    env.seal(&net.provider_of(order).address()).unwrap()
}

fn seal(body_order: u64, sealed: SealedSecrets) -> TxBody {
    TxBody::SealSecrets {
        order: body_order,
        sealed,
    }
}

#[test]
fn the_client_seals_secrets_once_to_the_running_lease_and_its_provider_opens_them() {
    let mut net = Net::new(2);
    let job = net.submit(with_secret());
    assert_eq!(net.status(job), OrderStatus::Running);
    let sealed = sealed_to(&net, job);
    let client = net.client.clone();

    let lessee = net.provider_of(job);
    assert!(matches!(
        net.send(&lessee, seal(job, sealed.clone())),
        Err(TxError::NotYourOrder(_))
    ));
    let stranger = Keypair::from_label("stranger");
    assert!(net.send(&stranger, seal(job, sealed.clone())).is_err());
    let oversized = SealedSecrets::from_bytes(vec![7; MAX_SEALED_SECRETS_BYTES + 1]);
    assert!(matches!(
        net.send(&client, seal(job, oversized)),
        Err(TxError::TooLong { .. })
    ));

    net.send(&client, seal(job, sealed.clone())).unwrap();
    let order = net.ledger.order(job).unwrap().clone();
    let kept = order.lease().unwrap().sealed_secrets.clone().unwrap();
    assert_eq!(kept, sealed);
    let opened = lessee.open_secrets(&kept).unwrap();
    assert_eq!(opened.vars, vec![("API_TOKEN".into(), "s3cr3t".into())]);
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::SecretsSealed { order, provider, .. }
            if *order == job && *provider == lessee.address()
    )));
    assert!(matches!(
        net.send(&client, seal(job, sealed)),
        Err(TxError::SecretsAlreadySealed(_))
    ));
}

#[test]
fn secrets_are_sealed_only_to_a_live_lease_of_a_spec_that_names_them() {
    let mut net = Net::new(1);
    let client = net.client.clone();
    let plain = net.submit(spec(false, 0));
    let sealed = sealed_to(&net, plain);
    assert!(matches!(
        net.send(&client, seal(plain, sealed.clone())),
        Err(TxError::NoSecrets(_))
    ));
    // The one machine is busy: this one waits, with no lease to seal to.
    let mut big = with_secret();
    big.resources.cpu_cores = 4;
    let waiting = net.submit(big);
    assert_eq!(net.status(waiting), OrderStatus::Pending);
    assert!(matches!(
        net.send(&client, seal(waiting, sealed.clone())),
        Err(TxError::WrongStatus { .. })
    ));
    assert!(matches!(
        net.send(&client, seal(999, sealed)),
        Err(TxError::UnknownOrder(_))
    ));
}

#[test]
fn a_declined_lease_takes_its_sealed_secrets_with_it() {
    let mut net = Net::new(2);
    let client = net.client.clone();
    let job = net.submit(with_secret());
    let first = net.machine_of(job);
    let sealed = sealed_to(&net, job);
    net.send(&client, seal(job, sealed)).unwrap();
    net.decline(job, "its secrets do not open here").unwrap();
    let order = net.ledger.order(job).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Running);
    assert_ne!(net.machine_of(job), first);
    assert_eq!(
        order.lease().unwrap().sealed_secrets,
        None,
        "the new lease waits for secrets sealed to its own provider"
    );
    let sealed = sealed_to(&net, job);
    net.send(&client, seal(job, sealed)).unwrap();
}

#[test]
fn a_spec_names_its_secrets_as_variables_sorted_and_apart_from_env() {
    let mut net = Net::new(1);
    let client = net.client.clone();
    let mut bad_specs = Vec::new();
    for secrets in [
        vec!["B", "A"],
        vec!["A", "A"],
        vec!["1A"],
        vec!["A-B"],
        vec![""],
        vec!["GREETING"],
    ] {
        let mut s = spec(false, 0);
        s.env = vec![("GREETING".into(), "hi".into())];
        s.secrets = secrets.into_iter().map(String::from).collect();
        bad_specs.push(s);
    }
    let mut many = spec(false, 0);
    many.secrets = (0..33).map(|i| format!("S{i:02}")).collect();
    bad_specs.push(many);
    for s in bad_specs {
        let deposit = 3 * gpunet_types::max_payment(PRICE, s.timeout_secs).unwrap();
        let refused = net.send(
            &client,
            TxBody::SubmitOrder {
                spec: s.clone(),
                max_price_per_hour: PRICE,
                deposit,
            },
        );
        assert!(
            matches!(refused, Err(TxError::ImpossibleSpec(_))),
            "{:?}: {refused:?}",
            s.secrets
        );
    }
}
