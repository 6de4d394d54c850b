//! Gossip, the DHT and scheduler discovery: what is published and found, and who gets dialed.

#[allow(
    clippy::wildcard_imports,
    reason = "the parent's imports serve every handler file alike"
)]
use super::*;

impl EventLoop {
    pub(super) fn publish(&mut self, message: &Message) -> Result<(), Error> {
        let topic = match message.kind() {
            Kind::PoolAnnouncement => ANNOUNCEMENTS_TOPIC,
            Kind::SignedOrder => ORDERS_TOPIC,
            _ => {
                return Err(Error::ProtocolViolation {
                    reason: "only announcements and orders are gossiped",
                });
            }
        };
        let bytes = message.encode_frame()?;
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(gossipsub::IdentTopic::new(topic), bytes)
            .map(|_| ())
            .map_err(|e| Error::Request { reason: format!("publish: {e}") })
    }

    pub(super) fn find_scheduler(
        &mut self,
        pool: PoolId,
        owner: Address,
        reply: oneshot::Sender<PeerId>,
    ) {
        self.pool_owners.insert(pool, owner);
        if !self.discovery.handle_find(pool, owner, reply, Instant::now()) {
            return;
        }
        // A connected peer may already be that scheduler.
        match self.sessions.proven_scheduler(pool, owner) {
            Some(peer) => self.scheduler_proven(pool, peer),
            None => self.attempt(pool),
        }
    }

    /// One discovery attempt: a provider lookup, and dials to candidates already known.
    pub(super) fn attempt(&mut self, pool: PoolId) {
        let now = Instant::now();
        let guard = &self.guard;
        let Some(candidates) = self.discovery.attempt(pool, now, |peer| guard.is_banned(peer, now))
        else {
            return;
        };
        let query = self.swarm.behaviour_mut().kad.get_providers(pool_key(pool));
        self.provider_queries.insert(query, pool);
        for peer in candidates {
            self.dial_peer(peer);
        }
    }

    pub(super) fn scheduler_proven(&mut self, pool: PoolId, peer: PeerId) {
        if self.discovery.handle_proven(pool, peer) {
            info!(target: "quorate::p2p", %pool, %peer, "scheduler connected");
            self.emit(Event::SchedulerConnected { pool, peer });
        }
    }

    pub(super) fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Wire(event) => self.on_wire_event(event),
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let acceptance = self.on_gossip(propagation_source, &message);
                self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                let serves_kad = info.protocols.contains(&kad::PROTOCOL_NAME);
                for addr in info.listen_addrs.into_iter().take(MAX_ADDRS_PER_PEER) {
                    if serves_kad {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr.clone());
                    }
                    self.remember_addr(peer_id, addr);
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            }) => {
                self.on_kad_result(id, result, step.last);
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                    self.remember_addr(peer, addr);
                    if !self.swarm.is_connected(&peer) {
                        self.dial_peer(peer);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_kad_result(&mut self, id: kad::QueryId, result: kad::QueryResult, last: bool) {
        match result {
            kad::QueryResult::StartProviding(result) => {
                if let Some(reply) = self.providing.remove(&id) {
                    // With no other DHT server reachable the record is still held locally and
                    // served to whoever asks this node: not an error.
                    let result = match result {
                        Ok(_) | Err(kad::AddProviderError::Timeout { .. }) => Ok(()),
                    };
                    let _ = reply.send(result);
                }
            }
            kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
                providers,
                ..
            })) => {
                let Some(pool) = self.provider_queries.get(&id).copied() else { return };
                let local = *self.swarm.local_peer_id();
                for peer in providers {
                    if peer == local || self.guard.is_banned(&peer, Instant::now()) {
                        continue;
                    }
                    self.discovery.handle_provider(pool, peer);
                    // Dial while the query still holds the provider's addresses.
                    if !self.swarm.is_connected(&peer) {
                        self.dial_peer(peer);
                    }
                }
            }
            _ => {}
        }
        if last {
            self.provider_queries.remove(&id);
        }
    }

    fn on_gossip(
        &mut self,
        from: PeerId,
        message: &gossipsub::Message,
    ) -> gossipsub::MessageAcceptance {
        use gossipsub::MessageAcceptance::{Accept, Ignore, Reject};
        let decoded = match Message::decode_frame(&message.data) {
            Ok(decoded) => decoded,
            Err(e) => {
                self.penalise_for(from, &e);
                return Reject;
            }
        };
        let Some(source) = message.source else { return Reject };
        match decoded {
            Message::PoolAnnouncement(announcement)
                if message.topic == gossipsub::IdentTopic::new(ANNOUNCEMENTS_TOPIC).hash() =>
            {
                let pool = announcement.pool;
                let owner = self.pool_owners.get(&pool).copied();
                let verified = announcement.scheduler.verify_as(
                    &source,
                    unix_now(),
                    &self.policy,
                    Purpose::Scheduler { pool },
                    owner,
                );
                match verified {
                    Ok(_) => {
                        for addr in announcement.addrs.iter().take(MAX_ADDRS_PER_PEER) {
                            self.remember_addr(source, addr.clone());
                        }
                        if self.discovery.handle_announced(pool, source, owner)
                            && !self.swarm.is_connected(&source)
                        {
                            self.dial_peer(source);
                        }
                        self.emit(Event::Announcement {
                            source,
                            announcement,
                            owner_confirmed: owner.is_some(),
                        });
                        Accept
                    }
                    Err(e) => {
                        debug!(target: "quorate::p2p", %source, "announcement refused: {e}");
                        if Offence::of(&e).is_some() && source == from {
                            self.penalise_for(from, &e);
                        }
                        if e.is_bad_peer() { Reject } else { Ignore }
                    }
                }
            }
            Message::SignedOrder(order)
                if message.topic == gossipsub::IdentTopic::new(ORDERS_TOPIC).hash() =>
            {
                self.emit(Event::Order { source, order });
                Accept
            }
            _ => {
                self.penalise(from, Offence::ProtocolViolation);
                Reject
            }
        }
    }
}
