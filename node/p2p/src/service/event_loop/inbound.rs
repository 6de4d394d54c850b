//! Requests, Hellos and data streams from peers, judged by [`crate::service::admission`].

#[allow(
    clippy::wildcard_imports,
    reason = "the parent's imports serve every handler file alike"
)]
use super::*;

impl EventLoop {
    pub(super) fn on_wire_event(
        &mut self,
        event: request_response::Event<Result<Message, Error>, Message>,
    ) {
        use request_response::{Event as E, Message as M};
        match event {
            E::Message { peer, message: M::Request { request, channel, .. }, .. } => {
                self.on_request(peer, request, channel);
            }
            E::Message { peer, message: M::Response { request_id, response }, .. } => {
                self.on_response(peer, request_id, response);
            }
            E::OutboundFailure { peer, request_id, error, .. } => {
                if let request_response::OutboundFailure::Io(e) = &error
                    && let Some(e) = decode_failure(e)
                {
                    let e = e.clone();
                    self.penalise_for(peer, &e);
                }
                let reason = error.to_string();
                match self.pending.remove(&request_id) {
                    Some(Pending::Hello { peer }) => {
                        self.fail_queued(
                            peer,
                            &Error::Request { reason: format!("hello: {reason}") },
                        );
                    }
                    Some(Pending::App { reply }) => {
                        let _ = reply.send(Err(Error::Request { reason }));
                    }
                    None => {}
                }
            }
            E::InboundFailure { peer, error: request_response::InboundFailure::Io(e), .. } => {
                if let Some(e) = decode_failure(&e) {
                    let e = e.clone();
                    debug!(target: "quorate::p2p", %peer, "undecodable request: {e}");
                    self.penalise_for(peer, &e);
                }
            }
            _ => {}
        }
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        request: Result<Message, Error>,
        channel: request_response::ResponseChannel<Message>,
    ) {
        let identity = self.sessions.identity(&peer);
        let verdict = admission::judge_request(
            &mut self.guard,
            peer,
            identity,
            request.as_ref(),
            Instant::now(),
        );
        match (verdict, request) {
            // Dropping the channel answers nothing: a flood gets no work out of us.
            (Request::Flood, _) => self.penalise(peer, Offence::Flood),
            (Request::Malformed, Err(error)) => {
                debug!(target: "quorate::p2p", %peer, "malformed request: {error}");
                self.penalise_for(peer, &error);
            }
            (Request::Hello, Ok(Message::Hello(proof))) => self.on_hello(peer, &proof, channel),
            (Request::Refuse(reason, offence), request) => {
                if let Ok(request) = &request {
                    debug!(target: "quorate::p2p", %peer, kind = request.kind().name(), "request refused: {reason}");
                }
                self.refuse(channel, &reason);
                self.penalise(peer, offence);
            }
            (Request::Deliver(identity), Ok(message)) => {
                let remote_ip = self.sessions.remote_ip(&peer);
                self.emit(Event::Request {
                    peer,
                    identity,
                    remote_ip,
                    message,
                    responder: Responder(channel),
                });
            }
            // The verdict always matches the request it judged.
            (Request::Malformed | Request::Hello | Request::Deliver(_), _) => {}
        }
    }

    /// Admits an inbound data stream as [`Self::on_request`] admits a request, and hands it to a
    /// serving task.
    pub(super) fn on_data_stream(&mut self, peer: PeerId, stream: libp2p::Stream) {
        let deadline = self.server.deadline;
        let address = match self.admit_data(peer) {
            Ok(address) => address,
            Err(Some(reason)) => {
                tokio::spawn(data::refuse(stream, reason, deadline));
                return;
            }
            Err(None) => return, // dropped: the stream is reset
        };
        match self.data_slots.take(peer) {
            Ok(slot) => {
                tokio::spawn(self.server.clone().serve(peer, address, stream, slot));
            }
            Err(reason) => {
                tokio::spawn(data::refuse(stream, reason, deadline));
            }
        }
    }

    pub(super) fn on_serving(&mut self, message: ToLoop) {
        match message {
            ToLoop::Offence(peer, offence) => self.penalise(peer, offence),
            ToLoop::AdmitIp(ip, reply) => {
                let _ = reply.send(self.sessions.proven_at(ip));
            }
            ToLoop::AdmitPeer(peer, reply) => {
                let _ = reply.send(self.admit_data(peer).ok());
            }
        }
    }

    /// Whether `peer` may be served data now (by stream or direct connection), and the address
    /// it proved (which blobs it may fetch), scoring a refusal; `Err(Some(reason))` is worth
    /// telling the peer.
    fn admit_data(&mut self, peer: PeerId) -> Result<Address, Option<&'static str>> {
        let identity = self.sessions.identity(&peer);
        let verdict: Data = admission::judge_data(&mut self.guard, peer, identity, Instant::now());
        if let Some(offence) = verdict.offence() {
            self.penalise(peer, offence);
        }
        verdict.reason()
    }

    fn refuse(&mut self, channel: request_response::ResponseChannel<Message>, reason: &str) {
        let _ = self
            .swarm
            .behaviour_mut()
            .wire
            .send_response(channel, Message::Refused { reason: reason.into() });
    }

    fn verify_peer(&self, peer: PeerId, proof: &IdentityProof) -> Result<VerifiedPeer, Error> {
        let verified = proof.verify(&peer, unix_now(), &self.policy)?;
        if let Purpose::Scheduler { pool } = verified.purpose
            && let Some(owner) = self.pool_owners.get(&pool)
        {
            verified.check_owner(*owner)?;
        }
        Ok(verified)
    }

    fn on_hello(
        &mut self,
        peer: PeerId,
        proof: &IdentityProof,
        channel: request_response::ResponseChannel<Message>,
    ) {
        match self.verify_peer(peer, proof) {
            Ok(identity) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .wire
                    .send_response(channel, Message::HelloAck(self.proof.clone()));
                self.peer_verified(peer, identity);
            }
            Err(error) => {
                let reason = error.to_string();
                self.refuse(channel, &reason);
                self.peer_refused(peer, error);
            }
        }
    }

    fn on_response(
        &mut self,
        peer: PeerId,
        request_id: request_response::OutboundRequestId,
        response: Message,
    ) {
        match self.pending.remove(&request_id) {
            Some(Pending::Hello { .. }) => match response {
                Message::HelloAck(proof) => match self.verify_peer(peer, &proof) {
                    Ok(identity) => {
                        self.peer_verified(peer, identity);
                        for waiter in self.sessions.handle_acked(peer) {
                            self.release(peer, waiter);
                        }
                    }
                    Err(error) => {
                        self.fail_queued(peer, &error);
                        self.peer_refused(peer, error);
                    }
                },
                Message::Refused { reason } => {
                    let error = Error::Refused { reason };
                    self.fail_queued(peer, &error);
                    self.emit(Event::PeerRefused { peer, error });
                    self.disconnect_soon(peer);
                }
                _ => {
                    self.fail_queued(
                        peer,
                        &Error::ProtocolViolation { reason: "bad hello answer" },
                    );
                    self.penalise(peer, Offence::ProtocolViolation);
                }
            },
            Some(Pending::App { reply }) => {
                if response.kind().is_response() {
                    let _ = reply.send(Ok(response));
                } else {
                    let _ = reply.send(Err(Error::ProtocolViolation {
                        reason: "answer is not a response kind",
                    }));
                    self.penalise(peer, Offence::ProtocolViolation);
                }
            }
            None => {}
        }
    }

    fn peer_verified(&mut self, peer: PeerId, identity: VerifiedPeer) {
        if self.sessions.handle_verified(peer, identity) {
            debug!(target: "quorate::p2p", %peer, address = %identity.address, purpose = %identity.purpose, "peer verified");
            self.emit(Event::PeerVerified { peer, identity });
        }
        if let Purpose::Scheduler { pool } = identity.purpose
            && self.discovery.wants(pool, identity.address)
        {
            self.scheduler_proven(pool, peer);
        }
    }

    pub(super) fn peer_refused(&mut self, peer: PeerId, error: Error) {
        warn!(target: "quorate::p2p", %peer, "identity refused: {error}");
        self.sessions.handle_refused(peer);
        let offence = Offence::of(&error);
        self.emit(Event::PeerRefused { peer, error });
        // The refusal's reason goes out first; the disconnect (and a forger's ban) follows.
        if self.disconnect_at.len() < self.config.max_connections as usize {
            self.disconnect_at.push((peer, offence, Instant::now() + REFUSE_LINGER));
        } else if let Some(offence) = offence {
            self.penalise(peer, offence);
        }
    }

    fn disconnect_soon(&mut self, peer: PeerId) {
        if self.disconnect_at.len() < self.config.max_connections as usize {
            self.disconnect_at.push((peer, None, Instant::now() + REFUSE_LINGER));
        }
    }
}
