import BerthAgentChannel
import BerthControlPlane
import BerthModel
import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// One agent's open payload channel, as the control plane holds it: payloads go out as ACS frames. What
/// keeps it alive (heartbeats, manifests) is decided by the ``ChannelKeeper`` from its ``ChannelLiveness``.
final class WebSocketAgentSession: AgentSession {
    let peer: AgentChannelEndpoint.Peer
    private let channel: any Channel
    let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var open = true
        var liveness: ChannelLiveness
        var sequence = 0
        var latestManifestID: String?
        /// Milliseconds; each manifest's is greater than the last one's, so the agent can tell the newest.
        var manifestTimeline: Int64 = 0
        /// Called once, when the session closes (``onClose(_:)``).
        var closed: (@Sendable () -> Void)?
        /// Whether a WebSocket close frame went out: the agent's close frame then answers it.
        var closeFrameSent = false
    }

    init(
        peer: AgentChannelEndpoint.Peer,
        channel: any Channel,
        openedAt: ContinuousClock.Instant,
        manifestInterval: Duration,
        logger: Logger
    ) {
        self.peer = peer
        self.channel = channel
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
            try await channel.writeAndFlush(Self.textFrame(message.frame(), allocator: channel.allocator)).get()
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

    /// Calls `closed` once the session closes (at once if it has): the connection then lets go of it.
    func onClose(_ closed: @escaping @Sendable () -> Void) {
        let closedAlready = state.withLock { state -> Bool in
            guard state.open else { return true }
            state.closed = closed
            return false
        }
        if closedAlready { closed() }
    }

    /// Ends the session from the control plane's side: the agent is told why and the channel closes. The
    /// agent's answer to the close frame ends the connection; one that never comes (a dead path) is not
    /// waited for longer than ``closeHandshakeLimit``.
    func close(reason: String) {
        end(
            saying: .close(ACSCloseMessage(message: reason)),
            closeFrame: { $0.closeFrame(.normalClosure) }
        )
    }

    /// Refuses the agent its channel: `message` tells it why, and a close frame of `code` ends the channel.
    func refuse(_ message: ACSMessage, code: WebSocketErrorCode, reason: String) {
        end(
            saying: message,
            closeFrame: { session in
                var frame = session.closeFrame(code)
                frame.data.writeString(reason)
                return frame
            }
        )
    }

    /// Marks the session closed, tells the agent `message` and closes the channel.
    private func end(saying message: ACSMessage, closeFrame: (WebSocketAgentSession) -> WebSocketFrame) {
        guard markClosed() else { return }
        let channel = self.channel
        channel.write(Self.textFrame(message.frame(), allocator: channel.allocator), promise: nil)
        channel.writeAndFlush(closeFrame(self), promise: nil)
        channel.eventLoop.scheduleTask(in: Self.closeHandshakeLimit) { channel.close(promise: nil) }
    }

    /// How long a closed session's connection waits for the agent's close frame.
    static let closeHandshakeLimit = TimeAmount.seconds(5)

    /// A close frame of `code`, marked as sent: whether the agent's close frame answers one of ours.
    func closeFrame(_ code: WebSocketErrorCode) -> WebSocketFrame {
        state.withLock { $0.closeFrameSent = true }
        var data = channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
    }

    /// Whether a close frame of ours went out, so a close frame from the agent is its answer.
    var closeFrameSent: Bool { state.withLock { $0.closeFrameSent } }

    /// Closes the session once the agent has, or the connection is gone: nothing more goes out.
    func connectionEnded() { markClosed() }

    /// Marks the session closed and calls its close hook, the first time only; whether it was open.
    @discardableResult
    private func markClosed() -> Bool {
        let (wasOpen, closed) = state.withLock { state in
            defer {
                state.open = false
                state.closed = nil
            }
            return (state.open, state.closed)
        }
        closed?()
        return wasOpen
    }

    static func textFrame(_ text: String, allocator: ByteBufferAllocator) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, data: allocator.buffer(string: text))
    }
}
