//! Rentals: a lease with a time budget instead of a command's result.
//!
//! A rental is an order (`Order::rental`) matched like a job; once leased, its
//! escrow streams to the provider every `rental_billing_ms` of block time
//! (the burn share taken each time), renewals extend it with more escrow, the
//! renter may end it early (the unused escrow is refunded), and when its time
//! runs out it closes by itself: no free compute, no stranded lease.

use super::orders::{max_payment, payment};
use super::Exec;
use crate::error::{CheckedAmount, TxError};
use crate::events::Event;
use crate::state::{Order, OrderStatus, Rental, Settlement};
use gpunet_primitives::{Address, Amount, OrderId};

impl Exec<'_> {
    fn running_rental(&self, client: Address, id: OrderId) -> Result<Order, TxError> {
        let order = self.order(id)?;
        if order.client != client {
            return Err(TxError::NotAuthorized(format!(
                "order {id} belongs to another account"
            )));
        }
        if order.rental.is_none() {
            return Err(TxError::InvalidState(format!("order {id} is not a rental")));
        }
        if order.status != OrderStatus::Running {
            return Err(TxError::InvalidState(format!(
                "rental {id} is {:?}, not running",
                order.status
            )));
        }
        Ok(order)
    }

    /// Starts the clock of a rental being leased now. The caller stores it.
    pub(crate) fn start_rental(&mut self, order: &mut Order) {
        let ends_ms = self
            .now_ms
            .saturating_add(order.spec.timeout_secs.saturating_mul(1000));
        let next_bill_ms = self
            .now_ms
            .saturating_add(self.state.params.rental_billing_ms)
            .min(ends_ms);
        order.rental = Some(Rental {
            ends_ms,
            paid_until_ms: self.now_ms,
            next_bill_ms,
            paid: 0,
            burned: 0,
        });
        self.state
            .rental_billing
            .insert((next_bill_ms, order.id), ());
    }

    /// Streams what the rental owes up to `upto` (capped at its end) from
    /// escrow to the provider, burning the protocol's share.
    fn bill(&mut self, order: &mut Order, upto: u64) -> Result<(), TxError> {
        let lease = order.lease.clone().expect("running rentals have a lease");
        let rental = order.rental.as_mut().expect("a rental");
        let upto = upto.min(rental.ends_ms);
        if upto <= rental.paid_until_ms {
            return Ok(());
        }
        // Owed from the start, minus what was streamed: no rounding drift.
        let owed = payment(lease.price_per_hour, upto - lease.start_ms)?;
        let due = owed
            .saturating_sub(rental.paid.add_or(rental.burned)?)
            .min(order.escrow);
        let burned = due.mul_or(self.state.params.burn_bps as u128)? / 10_000;
        rental.paid = rental.paid.add_or(due - burned)?;
        rental.burned = rental.burned.add_or(burned)?;
        rental.paid_until_ms = upto;
        order.escrow -= due;
        self.credit(lease.provider, due - burned)?;
        self.burn(burned)
    }

    /// Frees the machine and refunds what escrow is left.
    fn close_rental(&mut self, mut order: Order) -> Result<(), TxError> {
        self.end_lease(&order, true);
        let rental = order.rental.clone().expect("a rental");
        let provider = order.lease.as_ref().expect("leased").provider;
        let refunded = order.escrow;
        self.credit(order.client, refunded)?;
        order.escrow = 0;
        order.status = OrderStatus::Settled;
        order.settlement = Some(Settlement {
            paid_to_provider: rental.paid,
            burned: rental.burned,
            refunded,
            slashed: 0,
            settled_ms: self.now_ms,
        });
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
        let due: Vec<(u64, OrderId)> = self
            .state
            .rental_billing
            .range(..=(self.now_ms, OrderId::MAX))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.state.rental_billing.remove(&key);
            let mut order = self.order(key.1)?;
            self.bill(&mut order, self.now_ms)?;
            let rental = order.rental.as_mut().expect("a rental");
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
        let lease = order.lease.clone().expect("running rentals have a lease");
        let rental = order.rental.as_mut().expect("a rental");
        let max_ms = self.state.params.max_job_timeout_secs.saturating_mul(1000);
        let ends_ms = rental
            .ends_ms
            .saturating_add(extra_secs.saturating_mul(1000));
        if extra_secs == 0 || ends_ms - lease.start_ms > max_ms {
            return Err(TxError::ImpossibleSpec(format!(
                "a rental lasts at most {} seconds in all",
                self.state.params.max_job_timeout_secs
            )));
        }
        let need = max_payment(lease.price_per_hour, extra_secs)?;
        if deposit < need {
            return Err(TxError::Invalid(format!(
                "deposit {deposit} does not cover {extra_secs} more seconds at the lease price ({need})"
            )));
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

    pub(crate) fn end_rental(&mut self, client: Address, id: OrderId) -> Result<(), TxError> {
        let mut order = self.running_rental(client, id)?;
        let next = order.rental.as_ref().expect("a rental").next_bill_ms;
        self.state.rental_billing.remove(&(next, id));
        self.bill(&mut order, self.now_ms)?;
        self.close_rental(order)
    }
}
