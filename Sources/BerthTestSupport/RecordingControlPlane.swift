public import BerthAgentChannel
public import BerthModel
import Foundation

/// A control plane for tests of the agent: it registers instances, delivers payloads (again, until they are
/// acknowledged), records every state change in the order it arrives, and can be told to fail calls.
public actor RecordingControlPlane: AgentSessionHandler {
    /// The latest the control plane knows of one task, from the changes it received.
    public struct TaskView: Sendable, Hashable {
        public var status: BackendStatus = .pending
        public var reason: String?
        public var stopCode: TaskStopCode?
        public var containers: [String: ContainerStateChange] = [:]
        public var lastSequence = 0
    }

    public private(set) var registrations: [InstanceRegistration] = []
    public private(set) var changes: [TaskStateChange] = []
    public private(set) var heartbeats = 0
    private var views: [String: TaskView] = [:]
    private var sessions: [String: any AgentSession] = [:]
    private var unacknowledged: [(instance: String, message: PayloadMessage)] = []
    private var acknowledged: Set<String> = []
    /// The desired status last sent for each task, by instance.
    private var placed: [String: (instance: String, desired: DesiredStatus)] = [:]
    private var failingSubmits = 0
    private var instanceNumber = 0
    private let cluster: String

    public init(cluster: String = "default") {
        self.cluster = cluster
    }

    public var clusterArn: String { "arn:aws:ecs:us-east-1:123456789012:cluster/\(cluster)" }

    // MARK: What tests do

    /// Sends tasks to an instance; they are delivered when it connects, and again until acknowledged.
    public func send(_ tasks: [TaskPayload], to instanceArn: String) async {
        let message = PayloadMessage(messageID: UUID().uuidString, tasks: tasks)
        for task in tasks { placed[task.taskArn] = (instanceArn, task.desiredStatus) }
        unacknowledged.append((instanceArn, message))
        if let session = sessions[instanceArn] { await session.deliver(message) }
    }

    /// Sends a task manifest to an instance's open session.
    @discardableResult
    public func sendManifest(_ manifest: TaskManifest, to instanceArn: String) async -> Bool {
        guard let session = sessions[instanceArn] else { return false }
        return await session.deliver(manifest)
    }

    /// Forgets that a task was placed, as a control plane that lost its state would: a stop verification
    /// then confirms it.
    public func forget(_ taskArn: String) { placed[taskArn] = nil }

    /// The candidates of each stop verification this control plane answered, in order.
    public private(set) var stopVerifications: [[String]] = []

    /// The next `count` state-change submissions fail as if the control plane were unreachable.
    public func failSubmits(_ count: Int) { failingSubmits = count }

    public func view(of taskArn: String) -> TaskView? { views[taskArn] }

    public func changes(of taskArn: String) -> [TaskStateChange] { changes.filter { $0.taskArn == taskArn } }

    public var pendingPayloads: Int { unacknowledged.count }

    public var connectedInstances: Set<String> { Set(sessions.keys) }

    /// Waits until `condition` holds for the task's view, and returns the view; fails after `timeout`.
    public func waitForTask(
        _ taskArn: String,
        timeout: Duration = TestEnvironment.loadedWait,
        until condition: @Sendable (TaskView) -> Bool
    ) async throws -> TaskView {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let view = views[taskArn], condition(view) { return view }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw WaitTimeout(
            "task \(taskArn) did not get there within \(timeout); last known: \(String(describing: views[taskArn]))"
        )
    }

    public func waitForStatus(
        _ taskArn: String,
        _ status: BackendStatus,
        timeout: Duration = TestEnvironment.loadedWait
    )
        async throws -> TaskView
    {
        try await waitForTask(taskArn, timeout: timeout) { $0.status == status }
    }

    // MARK: AgentSessionHandler

    public func registerContainerInstance(
        _ registration: InstanceRegistration
    ) async throws(ControlPlaneError) -> RegisteredInstance {
        registrations.append(registration)
        if let arn = registration.containerInstanceArn {
            return RegisteredInstance(containerInstanceArn: arn, clusterArn: clusterArn)
        }
        instanceNumber += 1
        return RegisteredInstance(
            containerInstanceArn: "arn:aws:ecs:us-east-1:123456789012:container-instance/\(cluster)/\(instanceNumber)",
            clusterArn: clusterArn
        )
    }

    public func agentConnected(instanceArn: String, session: any AgentSession) async throws(ControlPlaneError) {
        sessions[instanceArn] = session
        for entry in unacknowledged where entry.instance == instanceArn {
            await session.deliver(entry.message)
        }
    }

    public func agentDisconnected(instanceArn: String, session: any AgentSession) async {
        if let current = sessions[instanceArn], current === session { sessions[instanceArn] = nil }
    }

    public func payloadAcknowledged(messageID: String, instanceArn: String) async throws(ControlPlaneError) {
        unacknowledged.removeAll { $0.message.messageID == messageID }
        acknowledged.insert(messageID)
    }

    public func taskStateChanged(_ change: TaskStateChange, instanceArn: String) async throws(ControlPlaneError) {
        if failingSubmits > 0 {
            failingSubmits -= 1
            throw ControlPlaneError(.unavailable, "the test control plane is down")
        }
        changes.append(change)
        var view = views[change.taskArn] ?? TaskView()
        // A change seen before (sent again after a crash) changes nothing.
        guard change.sequence > view.lastSequence else { return }
        view.lastSequence = change.sequence
        view.status = change.status
        view.reason = change.reason ?? view.reason
        view.stopCode = change.stopCode ?? view.stopCode
        for container in change.containers { view.containers[container.containerName] = container }
        views[change.taskArn] = view
    }

    public func heartbeat(instanceArn: String) async throws(ControlPlaneError) {
        heartbeats += 1
    }

    public func confirmStops(_ candidates: [String], instanceArn: String) async -> [String] {
        stopVerifications.append(candidates)
        return candidates.filter { arn in
            guard let task = placed[arn], task.instance == instanceArn else { return true }
            return task.desired == .stopped
        }
    }
}

/// A wait in a test that ran out of time.
public struct WaitTimeout: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
