/// A task as the control plane hands it to an agent: what to run and whether it should run.
///
/// The control plane has already applied overrides (command, environment, cpu, memory) to the containers.
public struct TaskPayload: Sendable, Hashable, Codable {
    public var taskArn: String
    public var clusterArn: String
    public var family: String
    public var revision: Int
    public var desiredStatus: DesiredStatus
    public var containers: [ContainerDefinition]
    public var volumes: [Volume]
    /// `bridge` when absent.
    public var networkMode: NetworkMode?
    /// Task-level CPU units, when the task definition reserves them for the whole task.
    public var cpu: Int?
    /// Task-level memory, MiB.
    public var memory: Int?
    /// Why the control plane wants it stopped, when it does (StopTask's reason).
    public var stoppedReason: String?
    public var stopCode: TaskStopCode?
    /// The control plane's ARN of each container, by container name (task metadata shows them).
    public var containerArns: [String: String]?

    public init(
        taskArn: String,
        clusterArn: String,
        family: String,
        revision: Int,
        desiredStatus: DesiredStatus = .running,
        containers: [ContainerDefinition],
        volumes: [Volume] = [],
        networkMode: NetworkMode? = nil,
        cpu: Int? = nil,
        memory: Int? = nil
    ) {
        self.taskArn = taskArn
        self.clusterArn = clusterArn
        self.family = family
        self.revision = revision
        self.desiredStatus = desiredStatus
        self.containers = containers
        self.volumes = volumes
        self.networkMode = networkMode
        self.cpu = cpu
        self.memory = memory
    }
}
