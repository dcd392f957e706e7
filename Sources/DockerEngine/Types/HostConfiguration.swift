/// A container's configuration that depends on the host (`HostConfig` in the Engine API): sent in create,
/// returned by inspect. Unset members are not sent.
public struct HostConfiguration: Sendable, Hashable, Codable {
    /// `host-path:container-path[:ro]` or `volume-name:container-path[:ro]`.
    public var binds: [String]?
    /// `container-name:alias`.
    public var links: [String]?
    /// `container-name[:ro]`.
    public var volumesFrom: [String]?
    public var portBindings: [ContainerPort: [PortBinding]]?
    public var publishAllPorts: Bool?
    /// Hard memory limit in bytes.
    public var memory: Int64?
    /// Soft memory limit in bytes.
    public var memoryReservation: Int64?
    public var memorySwap: Int64?
    /// Relative CPU weight (1024 = one CPU's worth in ECS's accounting).
    public var cpuShares: Int?
    public var privileged: Bool?
    public var readonlyRootfs: Bool?
    public var ulimits: [Ulimit]?
    public var logConfig: LogConfiguration?
    /// `hostname:IP`.
    public var extraHosts: [String]?
    public var dns: [String]?
    public var dnsSearch: [String]?
    public var dnsOptions: [String]?
    /// `bridge`, `host`, `none`, `container:<name|id>` or a network name.
    public var networkMode: String?
    public var capAdd: [String]?
    public var capDrop: [String]?
    public var securityOpt: [String]?
    public var `init`: Bool?
    public var shmSize: Int64?
    public var tmpfs: [String: String]?
    public var sysctls: [String: String]?
    public var groupAdd: [String]?
    public var pidMode: String?
    public var ipcMode: String?
    public var autoRemove: Bool?
    public var restartPolicy: RestartPolicy?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case binds = "Binds"
        case links = "Links"
        case volumesFrom = "VolumesFrom"
        case portBindings = "PortBindings"
        case publishAllPorts = "PublishAllPorts"
        case memory = "Memory"
        case memoryReservation = "MemoryReservation"
        case memorySwap = "MemorySwap"
        case cpuShares = "CpuShares"
        case privileged = "Privileged"
        case readonlyRootfs = "ReadonlyRootfs"
        case ulimits = "Ulimits"
        case logConfig = "LogConfig"
        case extraHosts = "ExtraHosts"
        case dns = "Dns"
        case dnsSearch = "DnsSearch"
        case dnsOptions = "DnsOptions"
        case networkMode = "NetworkMode"
        case capAdd = "CapAdd"
        case capDrop = "CapDrop"
        case securityOpt = "SecurityOpt"
        case `init` = "Init"
        case shmSize = "ShmSize"
        case tmpfs = "Tmpfs"
        case sysctls = "Sysctls"
        case groupAdd = "GroupAdd"
        case pidMode = "PidMode"
        case ipcMode = "IpcMode"
        case autoRemove = "AutoRemove"
        case restartPolicy = "RestartPolicy"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        binds = try container.decodeIfPresent([String].self, forKey: .binds)
        links = try container.decodeIfPresent([String].self, forKey: .links)
        volumesFrom = try container.decodeIfPresent([String].self, forKey: .volumesFrom)
        portBindings = try container.decodeIfPresent([String: [PortBinding]?].self, forKey: .portBindings)
            .map(PortBinding.keyedByContainerPort)
        publishAllPorts = try container.decodeIfPresent(Bool.self, forKey: .publishAllPorts)
        memory = try container.decodeIfPresent(Int64.self, forKey: .memory)
        memoryReservation = try container.decodeIfPresent(Int64.self, forKey: .memoryReservation)
        memorySwap = try container.decodeIfPresent(Int64.self, forKey: .memorySwap)
        cpuShares = try container.decodeIfPresent(Int.self, forKey: .cpuShares)
        privileged = try container.decodeIfPresent(Bool.self, forKey: .privileged)
        readonlyRootfs = try container.decodeIfPresent(Bool.self, forKey: .readonlyRootfs)
        ulimits = try container.decodeIfPresent([Ulimit].self, forKey: .ulimits)
        logConfig = try container.decodeIfPresent(LogConfiguration.self, forKey: .logConfig)
        extraHosts = try container.decodeIfPresent([String].self, forKey: .extraHosts)
        dns = try container.decodeIfPresent([String].self, forKey: .dns)
        dnsSearch = try container.decodeIfPresent([String].self, forKey: .dnsSearch)
        dnsOptions = try container.decodeIfPresent([String].self, forKey: .dnsOptions)
        networkMode = try container.decodeIfPresent(String.self, forKey: .networkMode)
        capAdd = try container.decodeIfPresent([String].self, forKey: .capAdd)
        capDrop = try container.decodeIfPresent([String].self, forKey: .capDrop)
        securityOpt = try container.decodeIfPresent([String].self, forKey: .securityOpt)
        `init` = try container.decodeIfPresent(Bool.self, forKey: .`init`)
        shmSize = try container.decodeIfPresent(Int64.self, forKey: .shmSize)
        tmpfs = try container.decodeIfPresent([String: String].self, forKey: .tmpfs)
        sysctls = try container.decodeIfPresent([String: String].self, forKey: .sysctls)
        groupAdd = try container.decodeIfPresent([String].self, forKey: .groupAdd)
        pidMode = try container.decodeIfPresent(String.self, forKey: .pidMode)
        ipcMode = try container.decodeIfPresent(String.self, forKey: .ipcMode)
        autoRemove = try container.decodeIfPresent(Bool.self, forKey: .autoRemove)
        restartPolicy = try container.decodeIfPresent(RestartPolicy.self, forKey: .restartPolicy)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(binds, forKey: .binds)
        try container.encodeIfPresent(links, forKey: .links)
        try container.encodeIfPresent(volumesFrom, forKey: .volumesFrom)
        try container.encodeIfPresent(
            portBindings.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.key.description, $0.value) }) },
            forKey: .portBindings
        )
        try container.encodeIfPresent(publishAllPorts, forKey: .publishAllPorts)
        try container.encodeIfPresent(memory, forKey: .memory)
        try container.encodeIfPresent(memoryReservation, forKey: .memoryReservation)
        try container.encodeIfPresent(memorySwap, forKey: .memorySwap)
        try container.encodeIfPresent(cpuShares, forKey: .cpuShares)
        try container.encodeIfPresent(privileged, forKey: .privileged)
        try container.encodeIfPresent(readonlyRootfs, forKey: .readonlyRootfs)
        try container.encodeIfPresent(ulimits, forKey: .ulimits)
        try container.encodeIfPresent(logConfig, forKey: .logConfig)
        try container.encodeIfPresent(extraHosts, forKey: .extraHosts)
        try container.encodeIfPresent(dns, forKey: .dns)
        try container.encodeIfPresent(dnsSearch, forKey: .dnsSearch)
        try container.encodeIfPresent(dnsOptions, forKey: .dnsOptions)
        try container.encodeIfPresent(networkMode, forKey: .networkMode)
        try container.encodeIfPresent(capAdd, forKey: .capAdd)
        try container.encodeIfPresent(capDrop, forKey: .capDrop)
        try container.encodeIfPresent(securityOpt, forKey: .securityOpt)
        try container.encodeIfPresent(`init`, forKey: .`init`)
        try container.encodeIfPresent(shmSize, forKey: .shmSize)
        try container.encodeIfPresent(tmpfs, forKey: .tmpfs)
        try container.encodeIfPresent(sysctls, forKey: .sysctls)
        try container.encodeIfPresent(groupAdd, forKey: .groupAdd)
        try container.encodeIfPresent(pidMode, forKey: .pidMode)
        try container.encodeIfPresent(ipcMode, forKey: .ipcMode)
        try container.encodeIfPresent(autoRemove, forKey: .autoRemove)
        try container.encodeIfPresent(restartPolicy, forKey: .restartPolicy)
    }
}

/// A host address and port a container port is published on (`PortBinding`). An empty or absent host port
/// asks dockerd to choose one.
public struct PortBinding: Sendable, Hashable, Codable {
    public var hostIp: String?
    public var hostPort: String?

    public init(hostIp: String? = nil, hostPort: String? = nil) {
        self.hostIp = hostIp
        self.hostPort = hostPort
    }

    /// The host port as a number, when dockerd has assigned or been given one.
    public var hostPortNumber: UInt16? { hostPort.flatMap { UInt16($0) } }

    enum CodingKeys: String, CodingKey {
        case hostIp = "HostIp"
        case hostPort = "HostPort"
    }

    /// Docker keys bindings by `port/proto` and writes `null` for an exposed port that is not published.
    static func keyedByContainerPort(_ raw: [String: [PortBinding]?]) -> [ContainerPort: [PortBinding]] {
        var result: [ContainerPort: [PortBinding]] = [:]
        for (key, bindings) in raw {
            if let port = ContainerPort(key) { result[port] = bindings ?? [] }
        }
        return result
    }
}

/// A resource limit (`ulimit`) for the container's processes.
public struct Ulimit: Sendable, Hashable, Codable {
    public var name: String
    public var soft: Int64
    public var hard: Int64

    public init(name: String, soft: Int64, hard: Int64) {
        self.name = name
        self.soft = soft
        self.hard = hard
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case soft = "Soft"
        case hard = "Hard"
    }
}

/// The logging driver of a container and its options.
public struct LogConfiguration: Sendable, Hashable, Codable {
    public var type: String
    public var config: [String: String]?

    public init(type: String, config: [String: String]? = nil) {
        self.type = type
        self.config = config
    }

    enum CodingKeys: String, CodingKey {
        case type = "Type"
        case config = "Config"
    }
}

/// What dockerd does when the container exits. Berth leaves restarts to the agent, so it sends `no`.
public struct RestartPolicy: Sendable, Hashable, Codable {
    /// `""`, `no`, `always`, `unless-stopped` or `on-failure`.
    public var name: String
    public var maximumRetryCount: Int?

    public init(name: String, maximumRetryCount: Int? = nil) {
        self.name = name
        self.maximumRetryCount = maximumRetryCount
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case maximumRetryCount = "MaximumRetryCount"
    }
}
