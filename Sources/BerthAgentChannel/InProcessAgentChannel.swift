public import BerthModel
import Synchronization

/// The agent channel when the control plane runs in the agent's own process: calls go straight to the
/// control plane's ``AgentSessionHandler`` and payloads come back through an `AsyncStream`. The messages
/// and their order are those of a network connection, so embedded mode is not a second code path.
public final class InProcessAgentChannel: ControlPlaneConnection {
    private let handler: any AgentSessionHandler
    /// The open session of each instance, for answers that come back on its stream.
    private let sessions = Mutex<[String: InProcessAgentSession]>([:])

    public init(handler: any AgentSessionHandler) {
        self.handler = handler
    }

    public func register(_ registration: InstanceRegistration) async throws(ControlPlaneError) -> RegisteredInstance {
        try await handler.registerContainerInstance(registration)
    }

    public func connect(instanceArn: String) async throws(ControlPlaneError) -> PayloadStream {
        let (stream, continuation) = PayloadStream.makeStream(bufferingPolicy: .unbounded)
        let session = InProcessAgentSession(continuation: continuation)
        let handler = self.handler
        continuation.onTermination = { [self] _ in
            session.close()
            sessions.withLock { if $0[instanceArn] === session { $0[instanceArn] = nil } }
            Task { await handler.agentDisconnected(instanceArn: instanceArn, session: session) }
        }
        sessions.withLock { $0[instanceArn] = session }
        try await handler.agentConnected(instanceArn: instanceArn, session: session)
        return stream
    }

    /// The embedded control plane sends no manifests (it shares the agent's process and never loses what it
    /// placed), but the answer takes the same path as over the network.
    public func verifyStops(
        manifestID: String,
        candidates: [String],
        instanceArn: String
    ) async throws(ControlPlaneError) {
        let confirmed = await handler.confirmStops(candidates, instanceArn: instanceArn)
        guard let session = sessions.withLock({ $0[instanceArn] }),
            await session.deliverMessage(.stopsConfirmed(manifestID: manifestID, taskArns: confirmed))
        else {
            throw ControlPlaneError(.unavailable, "the payload stream is closed")
        }
    }

    public func acknowledge(messageID: String, instanceArn: String) async throws(ControlPlaneError) {
        try await handler.payloadAcknowledged(messageID: messageID, instanceArn: instanceArn)
    }

    public func submit(_ change: TaskStateChange, instanceArn: String) async throws(ControlPlaneError) {
        try await handler.taskStateChanged(change, instanceArn: instanceArn)
    }

    public func heartbeat(instanceArn: String) async throws(ControlPlaneError) {
        try await handler.heartbeat(instanceArn: instanceArn)
    }
}

/// One open stream of an in-process agent.
final class InProcessAgentSession: AgentSession {
    private let continuation: PayloadStream.Continuation
    private let state = Mutex(true)

    init(continuation: PayloadStream.Continuation) {
        self.continuation = continuation
    }

    func close() { state.withLock { $0 = false } }

    func close(reason: String) {
        close()
        continuation.finish()
    }

    func deliver(_ message: PayloadMessage) async -> Bool {
        await deliverMessage(.payload(message))
    }

    func deliver(_ manifest: TaskManifest) async -> Bool {
        await deliverMessage(.taskManifest(manifest))
    }

    func deliverMessage(_ message: ChannelMessage) async -> Bool {
        guard state.withLock({ $0 }) else { return false }
        if case .terminated = continuation.yield(message) { return false }
        return true
    }
}
