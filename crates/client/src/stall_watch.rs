//! Telling a node that stopped following the chain from a quiet chain.
//!
//! A provider agent learns of its leases, and a client of its job's
//! progress, from one node's event stream. A node whose consensus stopped
//! (its disk full, its stores stuck, cut off from the others) goes on
//! answering from a ledger that no longer moves: its stream stays open and
//! silent, and the agent never sees another lease while the chain leases it
//! work (which then times out, and the provider is slashed). Silence alone
//! says nothing (a provider without work hears nothing), but the chain never
//! stands still: blocks come at least once per heartbeat. So every
//! [`STALL_CHECK`] a follower asks every known node its height
//! ([`crate::NodeClient::heights`]); a stream's node that has not moved since
//! the last check while another node is ahead of it has stalled, and the
//! follower moves to the node furthest ahead.

use gpunet_types::NodeAddress;
use std::time::Duration;

/// How often a follower checks that its stream's node follows the chain: many
/// heartbeats (one second on a validator), so a node merely slow to commit a
/// block is not left.
pub const STALL_CHECK: Duration = Duration::from_secs(10);

/// The ticks a follower checks on: every [`STALL_CHECK`], the first one
/// period from now (a check needs a height seen before it), a tick missed
/// while the follower was busy coming late rather than in a burst.
pub fn checks() -> tokio::time::Interval {
    let first = tokio::time::Instant::now() + STALL_CHECK;
    let mut checks = tokio::time::interval_at(first, STALL_CHECK);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    checks
}

/// Where the node a follower streams from was seen at the last check (see
/// the module's doc).
#[derive(Debug, Default)]
pub struct StallWatch {
    /// That node, and its height when it last answered.
    seen: Option<(NodeAddress, u64)>,
}

/// The stream's node has stalled: what it is at, and whom to follow.
#[derive(Debug, PartialEq, Eq)]
pub struct Stalled {
    /// The height the stream's node stayed at.
    pub at: u64,
    /// The node furthest ahead.
    pub ahead: NodeAddress,
    /// Its height.
    pub ahead_at: u64,
}

impl StallWatch {
    /// Given every known node's height now (those that answered), whether
    /// `node`, the one the follower streams from, has stalled. A node that
    /// does not answer counts as not having moved; a node not watched at the
    /// last check (the first, or the follower moved since) is only noted.
    pub fn check(&mut self, node: &NodeAddress, heights: &[(NodeAddress, u64)]) -> Option<Stalled> {
        let now = heights
            .iter()
            .find(|(known, _)| known == node)
            .map(|(_, height)| *height);
        let before = self
            .seen
            .take()
            .filter(|(seen, _)| seen == node)
            .map(|(_, height)| height);
        self.seen = now.or(before).map(|height| (node.clone(), height));
        let at = before?;
        if now.is_some_and(|height| height > at) {
            return None;
        }
        let (ahead, ahead_at) = heights
            .iter()
            .filter(|(known, _)| known != node)
            .max_by_key(|(_, height)| *height)?;
        (*ahead_at > at).then(|| Stalled {
            at,
            ahead: ahead.clone(),
            ahead_at: *ahead_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(port: u16) -> NodeAddress {
        let key = gpunet_primitives::Keypair::from_label("api").address();
        NodeAddress::new(&format!("https://127.0.0.1:{port}"), key)
    }

    #[test]
    fn a_node_that_moves_is_followed_however_far_behind() {
        let mut watch = StallWatch::default();
        assert_eq!(watch.check(&node(1), &[(node(1), 10), (node(2), 30)]), None);
        assert_eq!(watch.check(&node(1), &[(node(1), 11), (node(2), 40)]), None);
    }

    #[test]
    fn a_node_that_stays_while_another_moves_on_has_stalled() {
        let mut watch = StallWatch::default();
        assert_eq!(watch.check(&node(1), &[(node(1), 10), (node(2), 10)]), None);
        let heights = [(node(1), 10), (node(2), 12), (node(3), 14)];
        assert_eq!(
            watch.check(&node(1), &heights),
            Some(Stalled {
                at: 10,
                ahead: node(3),
                ahead_at: 14
            })
        );
    }

    #[test]
    fn a_chain_that_stands_still_everywhere_is_not_a_stall() {
        let mut watch = StallWatch::default();
        for _ in 0..3 {
            assert_eq!(watch.check(&node(1), &[(node(1), 10), (node(2), 10)]), None);
        }
        assert_eq!(watch.check(&node(1), &[(node(1), 10)]), None, "alone");
    }

    #[test]
    fn a_node_that_stops_answering_counts_as_not_moving() {
        let mut watch = StallWatch::default();
        assert_eq!(watch.check(&node(1), &[(node(2), 10)]), None, "never seen");
        assert_eq!(watch.check(&node(1), &[(node(1), 10), (node(2), 10)]), None);
        let stalled = watch.check(&node(1), &[(node(2), 11)]).expect("stalled");
        assert_eq!((stalled.at, stalled.ahead_at), (10, 11));
    }

    #[test]
    fn a_follower_that_moved_to_another_node_watches_that_one_afresh() {
        let mut watch = StallWatch::default();
        assert_eq!(watch.check(&node(1), &[(node(1), 10), (node(2), 10)]), None);
        let heights = [(node(1), 10), (node(2), 12)];
        assert_eq!(watch.check(&node(2), &heights), None, "first seen");
        assert_eq!(watch.check(&node(2), &[(node(1), 15), (node(2), 13)]), None);
        let stalled = watch.check(&node(2), &[(node(1), 18), (node(2), 13)]);
        assert_eq!(stalled.map(|s| s.ahead), Some(node(1)));
    }
}
