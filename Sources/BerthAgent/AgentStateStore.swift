public import BerthModel

/// Where the agent keeps what must survive a restart: tasks (with the changes it owes the control plane),
/// images it pulled, and its registration. Every write is durable when the call returns.
public protocol AgentStateStore: Sendable {
    func loadTasks() async throws(AgentError) -> [TaskRecord]
    /// Saves a task unless the store already holds a later revision of it.
    func save(_ task: TaskRecord) async throws(AgentError)
    func deleteTask(arn: String) async throws(AgentError)

    func loadImages() async throws(AgentError) -> [ImageRecord]
    func save(_ image: ImageRecord) async throws(AgentError)
    func deleteImage(reference: String) async throws(AgentError)

    func metadata(_ key: AgentMetadataKey) async throws(AgentError) -> String?
    func setMetadata(_ key: AgentMetadataKey, _ value: String) async throws(AgentError)

    /// Forgets everything, in one transaction: the state belongs to another host.
    func removeAll() async throws(AgentError)
}

/// Facts about the agent itself.
public enum AgentMetadataKey: String, Sendable, CaseIterable {
    case containerInstanceArn = "container-instance-arn"
    case clusterArn = "cluster-arn"
    /// The cluster the instance registered into, as configured: a different ECS_CLUSTER refuses to start.
    case cluster
    /// The host the state belongs to (BERTH_INSTANCE_ID, else /etc/machine-id): a data directory baked into a
    /// machine image and started on another host is not that host's.
    case instanceID = "instance-id"
}

/// An image the agent pulled, for `ECS_IMAGE_PULL_BEHAVIOR=once` and for image cleanup.
public struct ImageRecord: Sendable, Hashable, Codable {
    /// The reference as tasks name it, such as `127.0.0.1:51670/berth/busybox:latest`.
    public var reference: String
    public var imageID: String
    public var pulledAt: Timestamp
    public var lastUsedAt: Timestamp

    public init(reference: String, imageID: String, pulledAt: Timestamp, lastUsedAt: Timestamp) {
        self.reference = reference
        self.imageID = imageID
        self.pulledAt = pulledAt
        self.lastUsedAt = lastUsedAt
    }
}
