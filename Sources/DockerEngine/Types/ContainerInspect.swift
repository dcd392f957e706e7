/// What `GET /containers/{id}/json` says about a container.
public struct ContainerInspect: Sendable, Hashable, Decodable {
    public let id: String
    /// The name with Docker's leading slash, such as `/ecs-web-1-app-9f2c…`.
    public let name: String
    /// RFC 3339 time with nanoseconds.
    public let created: String
    /// The image ID (`sha256:…`).
    public let image: String
    public let state: ContainerState
    public let configuration: ContainerConfiguration?
    public let hostConfiguration: HostConfiguration?
    public let networkSettings: NetworkSettings?
    public let mounts: [MountPoint]
    public let restartCount: Int

    /// The name without the leading slash.
    public var plainName: String { name.hasPrefix("/") ? String(name.dropFirst()) : name }

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case name = "Name"
        case created = "Created"
        case image = "Image"
        case state = "State"
        case configuration = "Config"
        case hostConfiguration = "HostConfig"
        case networkSettings = "NetworkSettings"
        case mounts = "Mounts"
        case restartCount = "RestartCount"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        created = try container.decodeIfPresent(String.self, forKey: .created) ?? ""
        image = try container.decodeIfPresent(String.self, forKey: .image) ?? ""
        state = try container.decode(ContainerState.self, forKey: .state)
        configuration = try container.decodeIfPresent(ContainerConfiguration.self, forKey: .configuration)
        hostConfiguration = try container.decodeIfPresent(HostConfiguration.self, forKey: .hostConfiguration)
        networkSettings = try container.decodeIfPresent(NetworkSettings.self, forKey: .networkSettings)
        mounts = try container.decodeIfPresent([MountPoint].self, forKey: .mounts) ?? []
        restartCount = try container.decodeIfPresent(Int.self, forKey: .restartCount) ?? 0
    }
}

/// A container's run state.
public struct ContainerState: Sendable, Hashable, Decodable {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    public let status: String
    public let running: Bool
    public let paused: Bool
    public let restarting: Bool
    public let oomKilled: Bool
    public let dead: Bool
    public let pid: Int
    public let exitCode: Int
    public let error: String
    /// RFC 3339; `0001-01-01T00:00:00Z` when it never started.
    public let startedAt: String
    /// RFC 3339; `0001-01-01T00:00:00Z` while it has not finished.
    public let finishedAt: String
    public let health: ContainerHealth?

    /// Whether the container has run and exited (so `exitCode` is meaningful).
    public var hasExited: Bool { !running && (status == "exited" || status == "dead") }

    enum CodingKeys: String, CodingKey {
        case status = "Status"
        case running = "Running"
        case paused = "Paused"
        case restarting = "Restarting"
        case oomKilled = "OOMKilled"
        case dead = "Dead"
        case pid = "Pid"
        case exitCode = "ExitCode"
        case error = "Error"
        case startedAt = "StartedAt"
        case finishedAt = "FinishedAt"
        case health = "Health"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decodeIfPresent(String.self, forKey: .status) ?? ""
        running = try container.decodeIfPresent(Bool.self, forKey: .running) ?? false
        paused = try container.decodeIfPresent(Bool.self, forKey: .paused) ?? false
        restarting = try container.decodeIfPresent(Bool.self, forKey: .restarting) ?? false
        oomKilled = try container.decodeIfPresent(Bool.self, forKey: .oomKilled) ?? false
        dead = try container.decodeIfPresent(Bool.self, forKey: .dead) ?? false
        pid = try container.decodeIfPresent(Int.self, forKey: .pid) ?? 0
        exitCode = try container.decodeIfPresent(Int.self, forKey: .exitCode) ?? 0
        error = try container.decodeIfPresent(String.self, forKey: .error) ?? ""
        startedAt = try container.decodeIfPresent(String.self, forKey: .startedAt) ?? ""
        finishedAt = try container.decodeIfPresent(String.self, forKey: .finishedAt) ?? ""
        health = try container.decodeIfPresent(ContainerHealth.self, forKey: .health)
    }
}

/// The result of a container's Docker health check.
public struct ContainerHealth: Sendable, Hashable, Decodable {
    /// `none`, `starting`, `healthy` or `unhealthy`.
    public let status: String
    public let failingStreak: Int
    public let log: [HealthCheckResult]

    enum CodingKeys: String, CodingKey {
        case status = "Status"
        case failingStreak = "FailingStreak"
        case log = "Log"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decodeIfPresent(String.self, forKey: .status) ?? "none"
        failingStreak = try container.decodeIfPresent(Int.self, forKey: .failingStreak) ?? 0
        log = try container.decodeIfPresent([HealthCheckResult].self, forKey: .log) ?? []
    }
}

/// One run of a health check.
public struct HealthCheckResult: Sendable, Hashable, Decodable {
    public let start: String
    public let end: String
    public let exitCode: Int
    public let output: String

    enum CodingKeys: String, CodingKey {
        case start = "Start"
        case end = "End"
        case exitCode = "ExitCode"
        case output = "Output"
    }
}

/// A container's network attachment and published ports.
public struct NetworkSettings: Sendable, Hashable, Decodable {
    /// Published ports; an exposed but unpublished port maps to an empty list.
    public let ports: [ContainerPort: [PortBinding]]
    /// The address on the default bridge network, empty elsewhere.
    public let ipAddress: String
    public let networks: [String: EndpointSettings]

    enum CodingKeys: String, CodingKey {
        case ports = "Ports"
        case ipAddress = "IPAddress"
        case networks = "Networks"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        ports =
            try container.decodeIfPresent([String: [PortBinding]?].self, forKey: .ports)
            .map(PortBinding.keyedByContainerPort) ?? [:]
        ipAddress = try container.decodeIfPresent(String.self, forKey: .ipAddress) ?? ""
        networks = try container.decodeIfPresent([String: EndpointSettings].self, forKey: .networks) ?? [:]
    }
}

/// A container's attachment to one network.
public struct EndpointSettings: Sendable, Hashable, Decodable {
    public let networkID: String?
    public let ipAddress: String?
    public let gateway: String?
    public let macAddress: String?
    public let aliases: [String]?

    enum CodingKeys: String, CodingKey {
        case networkID = "NetworkID"
        case ipAddress = "IPAddress"
        case gateway = "Gateway"
        case macAddress = "MacAddress"
        case aliases = "Aliases"
    }
}

/// A mount in a container: a bind, a volume or a tmpfs.
public struct MountPoint: Sendable, Hashable, Decodable {
    /// `bind`, `volume`, `tmpfs`, `npipe`.
    public let type: String
    /// The volume's name, for volumes.
    public let name: String?
    public let source: String
    public let destination: String
    public let mode: String
    public let readWrite: Bool

    enum CodingKeys: String, CodingKey {
        case type = "Type"
        case name = "Name"
        case source = "Source"
        case destination = "Destination"
        case mode = "Mode"
        case readWrite = "RW"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decodeIfPresent(String.self, forKey: .type) ?? ""
        name = try container.decodeIfPresent(String.self, forKey: .name)
        source = try container.decodeIfPresent(String.self, forKey: .source) ?? ""
        destination = try container.decodeIfPresent(String.self, forKey: .destination) ?? ""
        mode = try container.decodeIfPresent(String.self, forKey: .mode) ?? ""
        readWrite = try container.decodeIfPresent(Bool.self, forKey: .readWrite) ?? true
    }
}
