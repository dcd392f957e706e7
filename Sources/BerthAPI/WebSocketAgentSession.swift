import BerthAgentChannel
import BerthControlPlane
import BerthModel
import Foundation
import HummingbirdWebSocket
import Logging
import NIOWebSocket
import Synchronization

/// One agent's open payload channel, as the control plane holds it: payloads go out as ACS frames. What
/// keeps it alive (heartbeats, manifests) is decided by the ``ChannelKeeper`` from its ``ChannelLiveness``.
final class WebSocketAgentSession: AgentSession {
    let peer: AgentChannelEndpoint.Peer
    private let outbound: WebSocketOutboundWriter
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var open = true
        var liveness: ChannelLiveness
        var sequence = 0
        var latestManifestID: String?
        /// Milliseconds; each manifest's is greater than the last one's, so the agent can tell the newest.
        var manifestTimeline: Int64 = 0
        /// The serving task waiting for the session to close (``untilClosed()``), and whether it stopped
        /// waiting because it was cancelled.
        var closeWaiter: CheckedContinuation<Void, Never>?
        var closeWaitCancelled = false
    }

    init(
        peer: AgentChannelEndpoint.Peer,
        outbound: WebSocketOutboundWriter,
        openedAt: ContinuousClock.Instant,
        manifestInterval: Duration,
        logger: Logger
    ) {
        self.peer = peer
        self.outbound = outbound
        self.logger = logger
        self.state = Mutex(State(liveness: ChannelLiveness(openedAt: openedAt, manifestInterval: manifestInterval)))
    }

    func deliver(_ message: PayloadMessage) async -> Bool {
        guard
            let sequence = state.withLock({ state -> Int? in
                guard state.open else { return nil }
                state.sequence += 1
                return state.sequence
            })
        else { return false }
        let frame = ACSPayloadMessage(
            message,
            clusterArn: peer.clusterArn,
            containerInstanceArn: peer.instanceArn,
            seqNum: sequence,
            generatedAt: ACSMessage.millisecondsSinceEpoch()
        )
        return await send(.payload(frame))
    }

    @discardableResult
    func send(_ message: ACSMessage) async -> Bool {
        guard state.withLock({ $0.open }) else { return false }
        do {
            try await outbound.writeTextMessage(message.frame())
            state.withLock { $0.liveness.lastSent = .now }
            return true
        } catch {
            logger.info("Cannot write to the agent's channel", metadata: ["error": "\(error)"])
            close(reason: "write failed")
            return false
        }
    }

    /// What the channel is owed at `now`, marked as under way (see ``ChannelLiveness/take(at:timing:)``).
    func takeDuties(at now: ContinuousClock.Instant, timing: AgentChannelEndpoint.Timing) -> ChannelLiveness.Duties {
        state.withLock { state in
            guard state.open else { return ChannelLiveness.Duties() }
            return state.liveness.take(at: now, timing: timing)
        }
    }

    /// Sends the heartbeat ``takeDuties(at:timing:)`` asked for.
    func sendHeartbeat() async {
        await send(.heartbeat(ACSHeartbeatMessage(messageId: UUID().uuidString.lowercased(), healthy: true)))
        state.withLock { $0.liveness.heartbeatWriteStartedAt = nil }
    }

    func heartbeatAnswered() { state.withLock { $0.liveness.unansweredHeartbeats = 0 } }

    /// The manifest ``takeDuties(at:timing:)`` asked for went out (or could not be made): the next is due
    /// at `next`.
    func manifestDone(next: ContinuousClock.Instant) {
        state.withLock {
            $0.liveness.manifestInFlight = false
            $0.liveness.nextManifest = next
        }
    }

    /// Sends a TaskManifestMessage of `entries`; stop verifications answer the latest one only.
    func sendManifest(_ entries: [ManifestEntry]) async {
        let now = ACSMessage.millisecondsSinceEpoch()
        let (messageID, timeline) = state.withLock { state -> (String, Int64) in
            state.manifestTimeline = max(now, state.manifestTimeline + 1)
            let messageID = UUID().uuidString.lowercased()
            state.latestManifestID = messageID
            return (messageID, state.manifestTimeline)
        }
        let manifest = ACSTaskManifestMessage(
            messageId: messageID,
            clusterArn: peer.clusterArn,
            containerInstanceArn: peer.instanceArn,
            tasks: entries.map {
                ACSTaskIdentifier(
                    taskArn: $0.taskArn,
                    taskClusterArn: $0.clusterArn,
                    desiredStatus: $0.desiredStatus.rawValue
                )
            },
            generatedAt: now,
            timeline: timeline
        )
        await send(.taskManifest(manifest))
    }

    func latestManifestID() -> String? { state.withLock { $0.latestManifestID } }

    /// Ends the session from the control plane's side: the agent is told why, the channel closes, and the
    /// task serving it stops reading (``untilClosed()`` returns).
    func close(reason: String) {
        let (wasOpen, waiter) = state.withLock { state in
            defer {
                state.open = false
                state.closeWaiter = nil
            }
            return (state.open, state.closeWaiter)
        }
        waiter?.resume()
        guard wasOpen else { return }
        let outbound = self.outbound
        Task {
            try? await outbound.writeTextMessage(ACSMessage.close(ACSCloseMessage(message: reason)).frame())
            try? await outbound.close(.normalClosure, reason: nil)
        }
    }

    /// Returns once the session is closed, or the calling task is cancelled.
    func untilClosed() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    guard state.open, !state.closeWaitCancelled else { return true }
                    state.closeWaiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer {
                    state.closeWaitCancelled = true
                    state.closeWaiter = nil
                }
                return state.closeWaiter
            }
            waiter?.resume()
        }
    }
}
