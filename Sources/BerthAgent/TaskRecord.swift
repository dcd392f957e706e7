public import BerthModel

/// Everything the agent knows about one task: its definition, its containers' progress, and the state
/// changes it owes the control plane. Saved whole after every change, before the Docker call the change
/// leads to, so that after a crash the agent knows what it may have done.
public struct TaskRecord: Sendable, Hashable, Codable {
    public var payload: TaskPayload
    /// Increases with every change; a store keeps the highest it was given, so writes racing each other
    /// cannot put an older record back.
    public var revision: Int = 0
    public var desiredStatus: DesiredStatus
    public var knownStatus: TaskStatus = .none
    public var containers: [ContainerRecord]
    /// The task's Docker volumes (scratch, task-scoped and shared), by task volume name.
    public var dockerVolumes: [DockerVolumeRecord]
    /// Whether the host's resources were granted (the task waits PENDING until they are).
    public var admitted = false
    public var stoppedReason: String?
    public var stopCode: TaskStopCode?

    public var receivedAt: Timestamp
    public var pullStartedAt: Timestamp?
    public var pullStoppedAt: Timestamp?
    public var startedAt: Timestamp?
    public var executionStoppedAt: Timestamp?
    public var stoppedAt: Timestamp?

    /// The sequence number of the last change queued.
    public var sequence = 0
    /// Changes not yet acknowledged by the control plane, oldest first.
    public var outbox: [TaskStateChange] = []
    /// The task status the control plane has acknowledged.
    public var acknowledgedStatus: BackendStatus?
    /// The task status as last queued, to know when there is something new to say.
    public var queuedStatus: BackendStatus?
    /// Whether removing the task's containers is under way, and when to try again after it failed.
    public var cleanupStarted = false
    public var cleanupRetryAfter: Timestamp?
    /// Whether the task's containers and volumes are gone: the record can go too.
    public var cleanedUp = false

    public init(payload: TaskPayload, receivedAt: Timestamp) {
        self.payload = payload
        self.desiredStatus = payload.desiredStatus
        self.containers = payload.containers.map { ContainerRecord(name: $0.name) }
        self.dockerVolumes = []
        self.receivedAt = receivedAt
    }

    public var arn: String { payload.taskArn }

    public func container(named name: String) -> ContainerRecord? { containers.first { $0.name == name } }

    public func definition(of name: String) -> ContainerDefinition? { payload.containers.first { $0.name == name } }

    /// Whether the task is done with and only waits to be cleaned up.
    public var isStopped: Bool { knownStatus == .stopped }
}

/// One container of a task, as far as the agent has taken it.
public struct ContainerRecord: Sendable, Hashable, Codable {
    public var name: String
    /// `ecs-FAMILY-REVISION-NAME-HEX`, chosen and saved before the container is created.
    public var dockerName: String?
    public var dockerID: String?
    /// The container's key in its task metadata URLs (`/v4/KEY`): random, chosen with the Docker name,
    /// so that a container can read its own task's metadata and no other's.
    public var metadataID: String?
    public var knownStatus: ContainerStatus = .none
    public var desiredStatus: DesiredStatus = .running
    /// The status a Docker call in flight is taking the container to; nil when none is.
    public var transition: ContainerStatus?
    public var exitCode: Int?
    /// Why the container stopped when it failed, as `ErrorName: message`.
    public var reason: String?
    public var networkBindings: [NetworkBinding] = []
    /// Host ports the agent chose for dynamic port mappings, by `containerPort/protocol`.
    public var assignedHostPorts: [String: Int] = [:]
    public var healthStatus: HealthStatus?
    public var imageDigest: String?
    public var imageID: String?
    /// When the container began waiting for its dependencies (for `startTimeout`).
    public var waitingSince: Timestamp?
    public var createdAt: Timestamp?
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp?
    /// What was last queued for the control plane about this container.
    public var queued: ContainerStateChange?
    /// When a failed stop may be tried again.
    public var retryAfter: Timestamp?

    public init(name: String) {
        self.name = name
    }
}

/// A Docker volume a task uses.
public struct DockerVolumeRecord: Sendable, Hashable, Codable {
    /// The task volume's name, as mount points name it.
    public var taskVolume: String
    /// The Docker volume's name.
    public var dockerName: String
    /// Whether the volume is the task's own, created for it and removed with it.
    public var taskScoped: Bool
    public var driver: String?
    public var driverOpts: [String: String]?
    public var labels: [String: String]?
    /// Whether a shared volume may be created when missing.
    public var autoprovision: Bool
    public var ready = false
    public var inFlight = false

    public init(
        taskVolume: String,
        dockerName: String,
        taskScoped: Bool,
        driver: String? = nil,
        driverOpts: [String: String]? = nil,
        labels: [String: String]? = nil,
        autoprovision: Bool = false
    ) {
        self.taskVolume = taskVolume
        self.dockerName = dockerName
        self.taskScoped = taskScoped
        self.driver = driver
        self.driverOpts = driverOpts
        self.labels = labels
        self.autoprovision = autoprovision
    }
}
