//! Rentals: a lease with a time budget instead of a command's result.
//!
//! A rental is an order (`OrderKind::Rental`) matched like a job; once leased, its
//! escrow streams to the provider every `rental_billing_ms` of block time
//! (the burn share taken each time), renewals extend it with more escrow, the
//! renter may end it early (the unused escrow is refunded), and when its time
//! runs out it closes by itself: no free compute, no stranded lease.
//!
//! A renter who cannot reach the machine reports it; the provider must answer
//! a liveness probe within `probe_answer_ms`, and the time from the report on
//! is billed only once it does. Unanswered, the machine is held down from the
//! report on: not billed (the renter gets that time back at the end),
//! delisted, and its owner slashed `slash_down_per_hour` per started hour
//! down, settled when it answers again or the rental ends. A rental that ends
//! with a probe still open is billed to its end: the provider was not shown
//! down, and a renter cannot skip paying its last minutes by reporting them.

use super::orders::{payment, LeaseEnd};
use super::Exec;
use crate::error::{CheckedAmount, Covers, TxError};
use gpunet_types::{max_payment, Event, Lease, OrderStatus, Probe, Rental, Settlement};

use crate::order::Order;
use crate::SpecError;
use gpunet_primitives::{Address, Amount, ContainerStop, OrderId};

/// Longest `host:port` a provider may announce.
const MAX_ENDPOINT_LEN: usize = 255;

impl Exec<'_> {
    fn running_rental(&self, client: Address, id: OrderId) -> Result<Order, TxError> {
        let mut order = self.clients_order(client, id)?;
        order.active_rental()?;
        Ok(order)
    }

    /// Starts the clock of a rental being leased now on `lease`. The caller
    /// stores it.
    pub(crate) fn start_rental(&mut self, order: &mut Order, lease: Lease) -> Result<(), TxError> {
        let ends_ms = self
            .now_ms
            .saturating_add(order.spec.timeout_secs.saturating_mul(1000));
        let next_bill_ms = self
            .now_ms
            .saturating_add(self.state.params.rental_billing_ms)
            .min(ends_ms);
        order.rent_out(
            lease,
            Rental {
                ends_ms,
                paid_until_ms: self.now_ms,
                next_bill_ms,
                ..Rental::default()
            },
        )?;
        self.state
            .rental_billing
            .insert((next_bill_ms, order.id), ());
        Ok(())
    }

    /// Streams what the rental owes up to `upto` (capped at its end) from
    /// escrow to the provider, burning the protocol's share.
    fn bill(&mut self, order: &mut Order, upto: u64) -> Result<(), TxError> {
        let escrow = order.escrow;
        let (lease, rental) = order.active_rental()?;
        let (provider, start_ms, price) = (lease.provider, lease.start_ms, lease.price_per_hour);
        // Time held down is not billed, nor time under a probe until answered.
        let upto = upto
            .min(rental.ends_ms)
            .min(rental.down_since_ms.unwrap_or(u64::MAX))
            .min(rental.probe.map_or(u64::MAX, |p| p.reported_ms));
        if upto <= rental.paid_until_ms {
            return Ok(());
        }
        // Owed from the start, minus what was streamed: no rounding drift.
        let billable = (upto - start_ms).saturating_sub(rental.down_ms);
        let owed = payment(price, billable)?;
        let due = owed
            .saturating_sub(rental.paid.add_or(rental.burned)?)
            .min(escrow);
        let burned = due.mul_or(self.state.params.burn_bps as u128)? / 10_000;
        rental.paid = rental.paid.add_or(due - burned)?;
        rental.burned = rental.burned.add_or(burned)?;
        rental.paid_until_ms = upto;
        order.escrow -= due;
        self.credit(provider, due - burned)?;
        self.burn(burned)
    }

    /// Ends a hold-down: the downtime is added up and the owner slashed per
    /// started hour of it.
    fn end_downtime(&mut self, order: &mut Order) -> Result<(), TxError> {
        let (lease, rental) = order.active_rental()?;
        let provider = lease.provider;
        let Some(since) = rental.down_since_ms.take() else {
            return Ok(());
        };
        let down = self.now_ms.saturating_sub(since);
        rental.down_ms += down;
        let hours = u128::from(down.div_ceil(3_600_000).max(1));
        let slashed = self.slash(
            provider,
            self.state.params.slash_down_per_hour.mul_or(hours)?,
            "rented machine down",
        )?;
        rental.slashed = rental.slashed.add_or(slashed)?;
        self.emit(Event::MachineBackUp {
            order: order.id,
            client: order.client,
            provider,
            down_ms: down,
            slashed,
        });
        Ok(())
    }

    /// Closes `order`'s open liveness probe, if it has one, with its
    /// deadline's index entry; says whether it had one.
    fn close_probe(&mut self, order: &mut Order) -> bool {
        let Some(probe) = order.active_rental().ok().and_then(|(_, r)| r.probe.take()) else {
            return false;
        };
        self.state
            .probe_deadlines
            .remove(&(probe.deadline_ms, order.id));
        true
    }

    /// Bills what is left up to now, frees the machine and refunds what
    /// escrow is left.
    fn close_rental(&mut self, mut order: Order) -> Result<(), TxError> {
        self.close_probe(&mut order);
        self.bill(&mut order, self.now_ms)?;
        self.end_downtime(&mut order)?;
        self.end_lease(&order, LeaseEnd::Completed);
        let (lease, rental) = order.active_rental()?;
        let (provider, rental) = (lease.provider, rental.clone());
        let refunded = order.escrow;
        order.close(
            OrderStatus::Settled,
            Settlement {
                paid_to_provider: rental.paid,
                burned: rental.burned,
                refunded,
                slashed: rental.slashed,
                settled_ms: self.now_ms,
            },
        )?;
        self.credit(order.client, refunded)?;
        order.escrow = 0;
        self.emit(Event::RentalEnded {
            order: order.id,
            client: order.client,
            provider,
            paid: rental.paid,
            burned: rental.burned,
            refunded,
        });
        self.state.orders.insert(order.id, order);
        Ok(())
    }

    /// Bills the rentals that are due, and closes those whose time ran out.
    pub(crate) fn bill_rentals(&mut self) -> Result<(), TxError> {
        let due = self.state.rental_billing.due(self.now_ms);
        for key in due {
            self.state.rental_billing.remove(&key);
            let mut order = self.order(key.1)?;
            self.bill(&mut order, self.now_ms)?;
            let (_, rental) = order.active_rental()?;
            if self.now_ms >= rental.ends_ms {
                self.close_rental(order)?;
            } else {
                rental.next_bill_ms = self
                    .now_ms
                    .saturating_add(self.state.params.rental_billing_ms)
                    .min(rental.ends_ms);
                self.state
                    .rental_billing
                    .insert((rental.next_bill_ms, order.id), ());
                self.state.orders.insert(order.id, order);
            }
        }
        Ok(())
    }

    pub(crate) fn renew_rental(
        &mut self,
        client: Address,
        id: OrderId,
        extra_secs: u64,
        deposit: Amount,
    ) -> Result<(), TxError> {
        let mut order = self.running_rental(client, id)?;
        let (lease, rental) = order.active_rental()?;
        let lease = lease.clone();
        let max_ms = self.state.params.max_job_timeout_secs.saturating_mul(1000);
        let ends_ms = rental
            .ends_ms
            .saturating_add(extra_secs.saturating_mul(1000));
        if extra_secs == 0 || ends_ms - lease.start_ms > max_ms {
            return Err(TxError::ImpossibleSpec(SpecError::OutOfRange {
                field: "rental length in seconds",
                got: (ends_ms - lease.start_ms) / 1000,
                min: 1,
                max: self.state.params.max_job_timeout_secs,
            }));
        }
        let need = max_payment(lease.price_per_hour, extra_secs)?;
        if deposit < need {
            return Err(TxError::DepositTooSmall {
                deposit,
                need,
                covers: Covers::Renewal { secs: extra_secs },
            });
        }
        self.debit(client, deposit)?;
        rental.ends_ms = ends_ms;
        order.escrow = order.escrow.add_or(deposit)?;
        self.emit(Event::RentalRenewed {
            order: id,
            client,
            provider: lease.provider,
            ends_ms,
        });
        self.state.orders.insert(id, order);
        Ok(())
    }

    /// Records where the renter reaches the rental's ports (`spec.ports`).
    pub(crate) fn announce_endpoints(
        &mut self,
        provider: Address,
        id: OrderId,
        endpoints: &[String],
    ) -> Result<(), TxError> {
        let (mut order, _) = self.running_lease(provider, id)?;
        if endpoints.len() != order.spec.ports.len() {
            return Err(TxError::EndpointCount {
                order: id,
                ports: order.spec.ports.len(),
                endpoints: endpoints.len(),
            });
        }
        if endpoints
            .iter()
            .any(|e| e.is_empty() || e.len() > MAX_ENDPOINT_LEN)
        {
            return Err(TxError::BadEndpoint {
                max: MAX_ENDPOINT_LEN,
            });
        }
        let (_, rental) = order.active_rental()?;
        rental.endpoints = endpoints.to_vec();
        self.emit(Event::EndpointsAnnounced {
            order: id,
            client: order.client,
            provider,
        });
        self.state.orders.insert(id, order);
        Ok(())
    }

    /// Ends a rental now: a running one is billed to now and its unused
    /// escrow refunded; one still waiting for a machine is cancelled, its
    /// whole deposit refunded (no machine may ever take it).
    pub(crate) fn end_rental(&mut self, client: Address, id: OrderId) -> Result<(), TxError> {
        let pending = self.clients_order(client, id)?;
        if pending.is_rental() && pending.status() == OrderStatus::Pending {
            return self.cancel_order(client, id);
        }
        let order = self.running_rental(client, id)?;
        self.close_rental_early(order)
    }

    /// Closes a running rental before its time: drops its next bill from the
    /// billing queue, then bills it to now and closes it.
    fn close_rental_early(&mut self, mut order: Order) -> Result<(), TxError> {
        let next = order.active_rental()?.1.next_bill_ms;
        self.state.rental_billing.remove(&(next, order.id));
        self.close_rental(order)
    }

    /// The provider says the rental's container stopped by itself: nothing
    /// runs for the renter any more, so the rental ends now, billed to now.
    pub(crate) fn rental_stopped(
        &mut self,
        provider: Address,
        id: OrderId,
        how: ContainerStop,
    ) -> Result<(), TxError> {
        let (mut order, _) = self.running_lease(provider, id)?;
        let (_, rental) = order.active_rental()?;
        rental.stopped = Some(how);
        self.close_rental_early(order)
    }

    pub(crate) fn report_offline(&mut self, client: Address, id: OrderId) -> Result<(), TxError> {
        let mut order = self.running_rental(client, id)?;
        let (lease, rental) = order.active_rental()?;
        let provider = lease.provider;
        if rental.awaits_answer() {
            return Err(TxError::AlreadyProbed(id));
        }
        let deadline_ms = self
            .now_ms
            .saturating_add(self.state.params.probe_answer_ms);
        rental.probe = Some(Probe {
            reported_ms: self.now_ms,
            deadline_ms,
        });
        self.state.probe_deadlines.insert((deadline_ms, id), ());
        self.emit(Event::LivenessProbe {
            order: id,
            client,
            provider,
            deadline_ms,
        });
        self.state.orders.insert(id, order);
        Ok(())
    }

    pub(crate) fn answer_probe(&mut self, provider: Address, id: OrderId) -> Result<(), TxError> {
        let mut order = self.order(id)?;
        if order.lease().is_none_or(|l| l.provider != provider) {
            return Err(TxError::NotYourLease(id));
        }
        let (lease, rental) = order.active_rental()?;
        let (machine_id, down) = (lease.machine, rental.down_since_ms.is_some());
        // An open probe is answered in time; otherwise the machine comes back up.
        if !self.close_probe(&mut order) {
            if !down {
                return Err(TxError::NoProbe(id));
            }
            self.end_downtime(&mut order)?;
            if let Some(mut machine) = self.state.machines.get(&machine_id).cloned() {
                machine.online = true;
                self.state.put_machine(machine);
            }
        }
        self.state.orders.insert(id, order);
        Ok(())
    }

    /// Holds down the machines of rentals whose probe went unanswered.
    pub(crate) fn expire_probes(&mut self) -> Result<(), TxError> {
        let due = self.state.probe_deadlines.due(self.now_ms);
        for key in due {
            self.state.probe_deadlines.remove(&key);
            let mut order = self.order(key.1)?;
            let (lease, rental) = order.active_rental()?;
            let lease = lease.clone();
            // Down since the report: billing stopped there already. The
            // index names only open probes; one that is not is skipped.
            let Some(probe) = rental.probe.take() else {
                continue;
            };
            rental.down_since_ms = Some(probe.reported_ms);
            if let Some(mut machine) = self.state.machines.get(&lease.machine).cloned() {
                machine.online = false;
                self.state.put_machine(machine);
            }
            self.emit(Event::MachineDown {
                order: order.id,
                client: order.client,
                provider: lease.provider,
            });
            self.state.orders.insert(order.id, order);
        }
        Ok(())
    }
}
