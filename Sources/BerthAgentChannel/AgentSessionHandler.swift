public import BerthModel

/// The control plane's side of the agent channel: what it does when agents register, connect, acknowledge
/// payloads and report state changes. The embedded control plane implements it; ``InProcessAgentChannel``
/// calls it.
public protocol AgentSessionHandler: Sendable {
    func registerContainerInstance(
        _ registration: InstanceRegistration
    ) async throws(ControlPlaneError) -> RegisteredInstance

    /// An agent opened its payload stream: deliver what it has not acknowledged through `session`, and keep
    /// the session to deliver new payloads until ``agentDisconnected(instanceArn:session:)``.
    func agentConnected(instanceArn: String, session: any AgentSession) async throws(ControlPlaneError)

    func agentDisconnected(instanceArn: String, session: any AgentSession) async

    func payloadAcknowledged(messageID: String, instanceArn: String) async throws(ControlPlaneError)

    func taskStateChanged(_ change: TaskStateChange, instanceArn: String) async throws(ControlPlaneError)

    func heartbeat(instanceArn: String) async throws(ControlPlaneError)

    /// Of `candidates`, the tasks the agent of `instanceArn` may stop: those the control plane does not
    /// place there, or wants STOPPED.
    func confirmStops(_ candidates: [String], instanceArn: String) async -> [String]
}

/// One agent's open payload stream, as the control plane holds it.
public protocol AgentSession: AnyObject, Sendable {
    /// Sends a payload; false when the session has closed (the agent will get it when it reconnects).
    @discardableResult
    func deliver(_ message: PayloadMessage) async -> Bool

    /// Ends the session from the control plane's side: the agent's payload stream finishes, and the agent
    /// connects again if it still should.
    func close(reason: String)

    /// Sends a task manifest; false when the session cannot carry one or has closed.
    func deliver(_ manifest: TaskManifest) async -> Bool
}

extension AgentSession {
    /// A session that carries manifests its own way (the network channel frames its own) takes none here.
    public func deliver(_ manifest: TaskManifest) async -> Bool { false }
}
