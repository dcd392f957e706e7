/// One container of a task, as a task definition describes it (`ContainerDefinition` in the ECS API), in
/// the members the agent honours. Members are named as in the ECS API, so the JSON is ECS's.
public struct ContainerDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var image: String
    /// CPU units (1024 = one core): Docker's CPU shares.
    public var cpu: Int?
    /// Hard memory limit, MiB.
    public var memory: Int?
    /// Soft memory limit, MiB.
    public var memoryReservation: Int?
    /// `container` or `container:alias`.
    public var links: [String]?
    public var portMappings: [PortMapping]?
    /// Whether the task stops when this container stops (ECS's default: yes).
    public var essential: Bool?
    public var entryPoint: [String]?
    public var command: [String]?
    public var environment: [KeyValuePair]?
    public var mountPoints: [MountPoint]?
    public var volumesFrom: [VolumeFrom]?
    public var dependsOn: [ContainerDependency]?
    /// Seconds to wait for this container's dependencies to be met.
    public var startTimeout: Int?
    /// Seconds between SIGTERM and SIGKILL when the container is stopped.
    public var stopTimeout: Int?
    public var hostname: String?
    public var user: String?
    public var workingDirectory: String?
    public var disableNetworking: Bool?
    public var privileged: Bool?
    public var readonlyRootFilesystem: Bool?
    public var dnsServers: [String]?
    public var dnsSearchDomains: [String]?
    public var extraHosts: [HostEntry]?
    public var dockerSecurityOptions: [String]?
    public var interactive: Bool?
    public var pseudoTerminal: Bool?
    public var dockerLabels: [String: String]?
    public var ulimits: [Ulimit]?
    public var logConfiguration: LogConfiguration?
    public var healthCheck: HealthCheck?
    public var systemControls: [SystemControl]?

    public init(name: String, image: String) {
        self.name = name
        self.image = image
    }

    /// Whether the task stops when this container stops.
    public var isEssential: Bool { essential ?? true }
}

/// A `name`/`value` pair: an environment variable (`KeyValuePair`).
public struct KeyValuePair: Sendable, Hashable, Codable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A container port published on the host (`PortMapping`). A host port of 0 or none is dynamic: the agent
/// picks a free one and reports it.
public struct PortMapping: Sendable, Hashable, Codable {
    public var containerPort: Int
    public var hostPort: Int?
    public var `protocol`: TransportProtocol?

    public init(containerPort: Int, hostPort: Int? = nil, protocol: TransportProtocol? = nil) {
        self.containerPort = containerPort
        self.hostPort = hostPort
        self.protocol = `protocol`
    }

    public var transport: TransportProtocol { `protocol` ?? .tcp }

    /// The fixed host port, when there is one.
    public var fixedHostPort: Int? { hostPort.flatMap { $0 == 0 ? nil : $0 } }
}

/// A task volume mounted into a container (`MountPoint`).
public struct MountPoint: Sendable, Hashable, Codable {
    public var sourceVolume: String
    public var containerPath: String
    public var readOnly: Bool?

    public init(sourceVolume: String, containerPath: String, readOnly: Bool? = nil) {
        self.sourceVolume = sourceVolume
        self.containerPath = containerPath
        self.readOnly = readOnly
    }
}

/// Every volume of another container of the task, mounted into this one (`VolumeFrom`).
public struct VolumeFrom: Sendable, Hashable, Codable {
    public var sourceContainer: String
    public var readOnly: Bool?

    public init(sourceContainer: String, readOnly: Bool? = nil) {
        self.sourceContainer = sourceContainer
        self.readOnly = readOnly
    }
}

/// A condition on another container of the task before this one starts (`ContainerDependency`).
public struct ContainerDependency: Sendable, Hashable, Codable {
    public var containerName: String
    public var condition: ContainerCondition

    public init(containerName: String, condition: ContainerCondition) {
        self.containerName = containerName
        self.condition = condition
    }
}

/// What a dependency waits for (`ContainerCondition`).
public enum ContainerCondition: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// The dependency was created (implied by volumesFrom).
    case create = "CREATE"
    /// The dependency started (implied by links).
    case start = "START"
    /// The dependency ran and exited, with any exit code.
    case complete = "COMPLETE"
    /// The dependency ran and exited with code 0.
    case success = "SUCCESS"
    /// The dependency's health check passes.
    case healthy = "HEALTHY"

    public var description: String { rawValue }
}

/// An `/etc/hosts` entry (`HostEntry`).
public struct HostEntry: Sendable, Hashable, Codable {
    public var hostname: String
    public var ipAddress: String

    public init(hostname: String, ipAddress: String) {
        self.hostname = hostname
        self.ipAddress = ipAddress
    }
}

/// A resource limit for the container's processes (`Ulimit`).
public struct Ulimit: Sendable, Hashable, Codable {
    public var name: String
    public var softLimit: Int
    public var hardLimit: Int

    public init(name: String, softLimit: Int, hardLimit: Int) {
        self.name = name
        self.softLimit = softLimit
        self.hardLimit = hardLimit
    }
}

/// The container's logging driver and its options (`LogConfiguration`).
public struct LogConfiguration: Sendable, Hashable, Codable {
    public var logDriver: LoggingDriver
    public var options: [String: String]?

    public init(logDriver: LoggingDriver, options: [String: String]? = nil) {
        self.logDriver = logDriver
        self.options = options
    }
}

/// A health check Docker runs in the container (`HealthCheck`); durations in seconds.
public struct HealthCheck: Sendable, Hashable, Codable {
    /// `["CMD", args...]`, `["CMD-SHELL", command]` or `["NONE"]`.
    public var command: [String]
    public var interval: Int?
    public var timeout: Int?
    public var retries: Int?
    public var startPeriod: Int?

    public init(
        command: [String],
        interval: Int? = nil,
        timeout: Int? = nil,
        retries: Int? = nil,
        startPeriod: Int? = nil
    ) {
        self.command = command
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.startPeriod = startPeriod
    }
}

/// A namespaced kernel parameter (`SystemControl`).
public struct SystemControl: Sendable, Hashable, Codable {
    public var namespace: String
    public var value: String

    public init(namespace: String, value: String) {
        self.namespace = namespace
        self.value = value
    }
}
