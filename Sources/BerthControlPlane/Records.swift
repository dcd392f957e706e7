public import BerthModel

/// A tag on a resource (`key`, `value`), as ECS writes it.
public struct Tag: Sendable, Hashable, Codable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// A cluster setting (`containerInsights`).
public struct ClusterSetting: Sendable, Hashable, Codable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public enum ClusterStatus: String, Sendable, Hashable, Codable {
    case active = "ACTIVE"
    case inactive = "INACTIVE"
}

/// A cluster as stored.
public struct Cluster: Sendable, Hashable, Codable {
    public var clusterArn: String
    public var clusterName: String
    public var status: ClusterStatus
    public var settings: [ClusterSetting]
    public var tags: [Tag]
    public var createdAt: Timestamp
    /// When it was deleted: it is forgotten once the retention has passed.
    public var inactiveSince: Timestamp? = nil
}

public enum InstanceStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case active = "ACTIVE"
    case draining = "DRAINING"
    case inactive = "INACTIVE"
    case registering = "REGISTERING"
    case deregistering = "DEREGISTERING"
    case registrationFailed = "REGISTRATION_FAILED"
}

/// What tasks hold on an instance: the sum over its tasks that are not STOPPED.
public typealias Reservation = ResourceDemand

/// A container instance as stored: what it registered, what its tasks reserve, and how its agent is doing.
public struct ContainerInstance: Sendable, Hashable, Codable {
    public var containerInstanceArn: String
    public var clusterArn: String
    public var ec2InstanceId: String?
    public var instanceType: String?
    public var availabilityZone: String?
    public var status: InstanceStatus
    public var agentConnected: Bool
    public var registeredResources: [Resource]
    public var reserved: Reservation
    public var attributes: [Attribute]
    public var versionInfo: VersionInfo
    public var tags: [Tag]
    public var registeredAt: Timestamp
    /// Bumped on every change ECS would count as one (`version` in DescribeContainerInstances).
    public var version: Int
    /// When it was deregistered: it is forgotten once the retention has passed.
    public var inactiveSince: Timestamp? = nil
    /// The access key ID of the signed call that registered it, when the API checks signatures: only
    /// calls signed with that key may act for the instance (register it again, open its payload channel).
    public var registeredBy: String? = nil
    /// With replicas: the replica holding its agent's channel, none while no replica does.
    public var agentReplica: String? = nil
    /// With replicas: since when no replica has held its agent's channel.
    public var agentAwaySince: Timestamp? = nil

    public var id: String { ARN(containerInstanceArn)?.resourceID ?? containerInstanceArn }

    public func registeredInteger(_ name: String) -> Int {
        registeredResources.first { $0.name == name }?.integerValue ?? 0
    }

    /// Registered ports of a set (PORTS, PORTS_UDP): the agent's reserved ports.
    public func registeredPorts(_ name: String) -> Set<Int> {
        Set((registeredResources.first { $0.name == name }?.stringSetValue ?? []).compactMap { Int($0) })
    }

    /// `remainingResources` as ECS shows it: registered minus reserved; port sets list what is taken.
    public var remainingResources: [Resource] {
        registeredResources.map { resource in
            switch resource.name {
            case "CPU": .integer("CPU", max(0, registeredInteger("CPU") - reserved.cpu))
            case "MEMORY": .integer("MEMORY", max(0, registeredInteger("MEMORY") - reserved.memory))
            case "PORTS": .stringSet("PORTS", portList(registeredPorts("PORTS").union(reserved.ports)))
            case "PORTS_UDP": .stringSet("PORTS_UDP", portList(registeredPorts("PORTS_UDP").union(reserved.portsUDP)))
            default: resource
            }
        }
    }

    private func portList(_ ports: Set<Int>) -> [String] { ports.sorted().map(String.init) }
}

public enum TaskDefinitionStatus: String, Sendable, Hashable, Codable {
    case active = "ACTIVE"
    case inactive = "INACTIVE"
    case deleteInProgress = "DELETE_IN_PROGRESS"
}

/// A placement constraint or strategy as ECS writes them.
public struct PlacementConstraint: Sendable, Hashable, Codable {
    public var type: String
    public var expression: String?

    public init(type: String, expression: String? = nil) {
        self.type = type
        self.expression = expression
    }
}

public struct PlacementStrategy: Sendable, Hashable, Codable {
    public var type: String
    public var field: String?

    public init(type: String, field: String? = nil) {
        self.type = type
        self.field = field
    }
}

/// A registered task definition revision.
public struct TaskDefinition: Sendable, Hashable, Codable {
    public var taskDefinitionArn: String
    public var family: String
    public var revision: Int
    public var status: TaskDefinitionStatus
    public var containerDefinitions: [ContainerDefinition]
    public var volumes: [Volume]
    public var networkMode: NetworkMode?
    public var cpu: String?
    public var memory: String?
    public var placementConstraints: [PlacementConstraint]
    public var requiresCompatibilities: [String]?
    public var taskRoleArn: String?
    public var executionRoleArn: String?
    public var tags: [Tag]
    public var registeredAt: Timestamp
    public var deregisteredAt: Timestamp?

    /// `family:revision`, the key it is stored under.
    public var key: String { "\(family):\(revision)" }
}

/// Per-container changes a RunTask or StartTask caller asked for.
public struct ContainerOverride: Sendable, Hashable, Codable {
    public var name: String?
    public var command: [String]?
    public var environment: [KeyValuePair]?
    public var cpu: Int?
    public var memory: Int?
    public var memoryReservation: Int?

    public init(
        name: String? = nil,
        command: [String]? = nil,
        environment: [KeyValuePair]? = nil,
        cpu: Int? = nil,
        memory: Int? = nil,
        memoryReservation: Int? = nil
    ) {
        self.name = name
        self.command = command
        self.environment = environment
        self.cpu = cpu
        self.memory = memory
        self.memoryReservation = memoryReservation
    }
}

public struct TaskOverride: Sendable, Hashable, Codable {
    public var containerOverrides: [ContainerOverride]?
    public var cpu: String?
    public var memory: String?

    public init(containerOverrides: [ContainerOverride]? = nil, cpu: String? = nil, memory: String? = nil) {
        self.containerOverrides = containerOverrides
        self.cpu = cpu
        self.memory = memory
    }
}

/// A container of a task as the control plane knows it from the agent's reports.
public struct TaskContainer: Sendable, Hashable, Codable {
    public var containerArn: String
    public var name: String
    public var image: String
    public var imageDigest: String?
    public var runtimeId: String?
    public var lastStatus: String
    public var exitCode: Int?
    public var reason: String?
    public var networkBindings: [NetworkBinding]
    public var healthStatus: HealthStatus?
    public var cpu: Int?
    public var memory: Int?
    public var memoryReservation: Int?
    public var essential: Bool
}

/// A task placed on an instance.
public struct ClusterTask: Sendable, Hashable, Codable {
    public var taskArn: String
    public var clusterArn: String
    public var taskDefinitionArn: String
    public var containerInstanceArn: String
    public var family: String
    public var revision: Int
    public var lastStatus: String
    public var desiredStatus: DesiredStatus
    public var containers: [TaskContainer]
    public var overrides: TaskOverride
    public var group: String
    public var startedBy: String?
    public var cpu: String?
    public var memory: String?
    public var tags: [Tag]
    public var createdAt: Timestamp
    public var pullStartedAt: Timestamp?
    public var pullStoppedAt: Timestamp?
    public var startedAt: Timestamp?
    public var stoppingAt: Timestamp?
    public var stoppedAt: Timestamp?
    public var executionStoppedAt: Timestamp?
    public var stoppedReason: String?
    public var stopCode: TaskStopCode?
    public var healthStatus: HealthStatus?
    /// Bumped on every change ECS would show (`version` in DescribeTasks).
    public var version: Int
    /// What the task holds on its instance until it stops.
    public var reservation: Reservation
    /// The desired status the agent has acknowledged; the task is sent again while it differs.
    public var acknowledgedDesiredStatus: DesiredStatus?
    /// The last state-change sequence number taken from the agent; older ones are ignored.
    public var lastSequence: Int

    public var id: String { ARN(taskArn)?.resourceID ?? taskArn }
    public var isStopped: Bool { lastStatus == "STOPPED" }
}

/// A RunTask client token and the tasks its call placed.
public struct ClientTokenRecord: Sendable, Hashable, Codable {
    public var token: String
    public var request: String
    public var taskArns: [String]
    public var failures: [PlacementFailure]
    public var createdAt: Timestamp
}

/// One task that could not be placed, or one instance that was refused (`arn`, `reason`).
public struct PlacementFailure: Sendable, Hashable, Codable {
    public var arn: String?
    public var reason: String
    public var detail: String?

    public init(arn: String?, reason: String, detail: String? = nil) {
        self.arn = arn
        self.reason = reason
        self.detail = detail
    }
}
