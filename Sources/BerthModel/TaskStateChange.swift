/// A change in a task's or its containers' status, from the agent to the control plane
/// (`SubmitTaskStateChange`, with the containers' changes batched in).
///
/// Changes of one task carry increasing sequence numbers: a control plane that sees one again (the agent
/// re-sends what it was not sure had arrived) or out of date can ignore it.
public struct TaskStateChange: Sendable, Hashable, Codable, CustomStringConvertible {
    public var taskArn: String
    /// Increases by one with each change the agent makes for this task.
    public var sequence: Int
    /// The task's status after the change.
    public var status: BackendStatus
    /// Why the task stopped, with STOPPED.
    public var reason: String?
    public var stopCode: TaskStopCode?
    /// When the change happened on the host.
    public var at: Timestamp
    public var pullStartedAt: Timestamp?
    public var pullStoppedAt: Timestamp?
    /// When the first essential container stopped.
    public var executionStoppedAt: Timestamp?
    /// The containers whose status, exit code, bindings or health changed.
    public var containers: [ContainerStateChange]

    public init(
        taskArn: String,
        sequence: Int,
        status: BackendStatus,
        reason: String? = nil,
        stopCode: TaskStopCode? = nil,
        at: Timestamp,
        pullStartedAt: Timestamp? = nil,
        pullStoppedAt: Timestamp? = nil,
        executionStoppedAt: Timestamp? = nil,
        containers: [ContainerStateChange] = []
    ) {
        self.taskArn = taskArn
        self.sequence = sequence
        self.status = status
        self.reason = reason
        self.stopCode = stopCode
        self.at = at
        self.pullStartedAt = pullStartedAt
        self.pullStoppedAt = pullStoppedAt
        self.executionStoppedAt = executionStoppedAt
        self.containers = containers
    }

    public var description: String {
        var text = "\(taskArn) #\(sequence) \(status)"
        if let reason { text += " (\(reason))" }
        for container in containers { text += "; \(container)" }
        return text
    }
}

/// A change of one container (`ContainerStateChange`).
public struct ContainerStateChange: Sendable, Hashable, Codable, CustomStringConvertible {
    public var containerName: String
    /// The Docker container ID, once there is one.
    public var runtimeId: String?
    public var status: BackendStatus
    public var exitCode: Int?
    /// Why it stopped, as `ErrorName: message` when it failed.
    public var reason: String?
    public var networkBindings: [NetworkBinding]?
    public var imageDigest: String?
    public var healthStatus: HealthStatus?

    public init(
        containerName: String,
        runtimeId: String? = nil,
        status: BackendStatus,
        exitCode: Int? = nil,
        reason: String? = nil,
        networkBindings: [NetworkBinding]? = nil,
        imageDigest: String? = nil,
        healthStatus: HealthStatus? = nil
    ) {
        self.containerName = containerName
        self.runtimeId = runtimeId
        self.status = status
        self.exitCode = exitCode
        self.reason = reason
        self.networkBindings = networkBindings
        self.imageDigest = imageDigest
        self.healthStatus = healthStatus
    }

    public var description: String {
        var text = "\(containerName) \(status)"
        if let exitCode { text += " exit \(exitCode)" }
        if let reason { text += " (\(reason))" }
        if let healthStatus { text += " \(healthStatus)" }
        if let networkBindings, !networkBindings.isEmpty {
            text += " [\(networkBindings.map(\.description).joined(separator: ", "))]"
        }
        return text
    }
}
