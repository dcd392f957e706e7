public import BerthModel

/// The agent's side of its conversation with a control plane: register the host, receive task payloads
/// (each with a message ID, acknowledged once the agent has persisted it), send task state changes, and
/// show it is alive.
///
/// The embedded control plane speaks it in process (``InProcessAgentChannel``); a remote one will speak it
/// over the network. The task engine sees only this protocol, so both run the same code.
public protocol ControlPlaneConnection: Sendable {
    /// Registers the host (again, when the registration names its earlier ARN).
    func register(_ registration: InstanceRegistration) async throws(ControlPlaneError) -> RegisteredInstance

    /// Opens the stream of payloads for a registered instance. Payloads not acknowledged before come again.
    /// The stream finishes when the connection ends: without an error when either side closed it on
    /// purpose (a newer connection replaced it, or it was recycled), with a ``ControlPlaneError`` that says
    /// why otherwise (the connection was lost or went silent, the instance was deregistered). Open it again
    /// to go on.
    func connect(instanceArn: String) async throws(ControlPlaneError) -> PayloadStream

    /// Asks the control plane which of `candidates` (tasks the agent runs that the manifest `manifestID`
    /// lacks) the agent may stop; the answer comes on the payload stream as `stopsConfirmed`.
    func verifyStops(manifestID: String, candidates: [String], instanceArn: String) async throws(ControlPlaneError)

    /// Tells the control plane that a payload's tasks are safely stored and need not be sent again.
    func acknowledge(messageID: String, instanceArn: String) async throws(ControlPlaneError)

    /// Reports a change of a task or its containers. Returns once the control plane has recorded it.
    func submit(_ change: TaskStateChange, instanceArn: String) async throws(ControlPlaneError)

    /// Tells the control plane the agent is alive and connected.
    func heartbeat(instanceArn: String) async throws(ControlPlaneError)
}

/// What one connection brings, in the order the control plane sent it.
public typealias PayloadStream = AsyncThrowingStream<ChannelMessage, any Error>

/// A message of the payload channel, as the agent takes it.
public enum ChannelMessage: Sendable, Hashable {
    /// Tasks to run, or known tasks whose desired status changed.
    case payload(PayloadMessage)
    /// Every task the control plane believes the instance runs, with the status it wants of each.
    case taskManifest(TaskManifest)
    /// The control plane's answer to ``ControlPlaneConnection/verifyStops(manifestID:candidates:instanceArn:)``:
    /// the candidates the agent may stop.
    case stopsConfirmed(manifestID: String, taskArns: [String])
}

extension ChannelMessage {
    /// The payload, when this is one.
    public var payload: PayloadMessage? {
        if case .payload(let payload) = self { payload } else { nil }
    }
}

/// The control plane's list of the tasks it places on an instance (TaskManifestMessage). Only stops come of
/// it, and only after the control plane confirms them: starts come through payloads alone.
public struct TaskManifest: Sendable, Hashable {
    public var messageID: String
    /// Orders manifests: one not newer than the last seen is ignored.
    public var timeline: Int64
    public var tasks: [Entry]

    public struct Entry: Sendable, Hashable {
        public var taskArn: String
        public var desiredStatus: DesiredStatus

        public init(taskArn: String, desiredStatus: DesiredStatus) {
            self.taskArn = taskArn
            self.desiredStatus = desiredStatus
        }
    }

    public init(messageID: String, timeline: Int64, tasks: [Entry]) {
        self.messageID = messageID
        self.timeline = timeline
        self.tasks = tasks
    }
}

/// The control plane's answer to a registration.
public struct RegisteredInstance: Sendable, Hashable, Codable {
    public var containerInstanceArn: String
    public var clusterArn: String

    public init(containerInstanceArn: String, clusterArn: String) {
        self.containerInstanceArn = containerInstanceArn
        self.clusterArn = clusterArn
    }
}

/// Tasks for an agent: new ones to run, or known ones whose desired status changed.
public struct PayloadMessage: Sendable, Hashable, Codable {
    public var messageID: String
    public var tasks: [TaskPayload]

    public init(messageID: String, tasks: [TaskPayload]) {
        self.messageID = messageID
        self.tasks = tasks
    }
}
