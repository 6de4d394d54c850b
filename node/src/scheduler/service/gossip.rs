//! What the pool tells everyone: its announcement and its signed orders, renewed before they
//! expire.

#[allow(clippy::wildcard_imports, reason = "one loop's methods, split by concern")]
use super::*;

impl Service {
    pub(super) async fn announce(&mut self) -> anyhow::Result<()> {
        self.sequence = self.sequence.saturating_add(1);
        let peer = self.p2p.peer_id();
        let proof = identity(&self.owner, &peer, self.pool.pool, self.chain_id)?;
        let announcement = PoolAnnouncement {
            pool: self.pool.pool,
            scheduler: proof,
            public: !self.config.scheduler.private,
            wanted_workers: 0,
            sequence: self.sequence,
            addrs: self.addrs.clone(),
            metadata: String::new(),
        };
        self.p2p.publish(Wire::PoolAnnouncement(announcement)).await.ok();
        // A paused pool publishes no order: no client buys what it would not take.
        for (signature, order) in self.orders.values().filter(|_| !self.paused) {
            let mut sig = [0u8; 65];
            if signature.len() == 65 {
                sig.copy_from_slice(signature);
            }
            let signed = wire::SignedOrder {
                pool: self.pool.pool,
                order: order.abi_encode(),
                signature: sig,
            };
            self.p2p.publish(Wire::SignedOrder(signed)).await.ok();
        }
        Ok(())
    }

    /// Signs a fresh order valid for [`PROOF_VALIDITY`], and forgets expired ones.
    pub(super) async fn renew_orders(&mut self) -> anyhow::Result<()> {
        let now = unix_now();
        // The identity proof lives as long as an order: renewed with it, at half its life.
        let peer = self.p2p.peer_id();
        self.p2p.set_identity(identity(&self.owner, &peer, self.pool.pool, self.chain_id)?).await?;
        self.orders.retain(|_, (_, order)| order.expiry > now);
        let price = parse_amount(&self.config.scheduler.price)
            .and_then(|a| a.in_currency(Currency::Qcr))
            .map_err(|e| anyhow::anyhow!("scheduler.price: {e}"))?;
        let salt =
            B256::from(U256::from(now) ^ U256::from_be_bytes(self.owner.address().into_word().0));
        let order = pool::order(
            &self.config.scheduler,
            self.pool.pool,
            price,
            now.saturating_add(PROOF_VALIDITY.as_secs()),
            salt,
        );
        let signed = pool::sign(self.owner.as_ref(), self.chain_id, self.pool.hub, order)?;
        tracing::info!(target: "quorate::scheduler", order = %signed.hash, "order signed");
        self.orders.insert(signed.hash, (signed.signature, signed.order));
        self.announce().await
    }
}
