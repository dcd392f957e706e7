/// What `GET /version` says.
public struct SystemVersion: Sendable, Hashable, Decodable {
    /// The engine's version, such as `20.10.24`.
    public let version: String
    /// The newest API the daemon speaks.
    public let apiVersion: String
    /// The oldest API the daemon accepts.
    public let minAPIVersion: String?
    public let gitCommit: String?
    public let os: String?
    public let arch: String?
    public let kernelVersion: String?

    enum CodingKeys: String, CodingKey {
        case version = "Version"
        case apiVersion = "ApiVersion"
        case minAPIVersion = "MinAPIVersion"
        case gitCommit = "GitCommit"
        case os = "Os"
        case arch = "Arch"
        case kernelVersion = "KernelVersion"
    }
}

/// What `GET /info` says about the daemon and its host (the parts the agent uses).
public struct SystemInfo: Sendable, Hashable, Decodable {
    public let id: String
    public let name: String
    public let serverVersion: String
    public let operatingSystem: String
    public let osType: String
    public let architecture: String
    public let kernelVersion: String
    public let cpuCount: Int
    /// Bytes.
    public let memoryTotal: Int64
    public let containers: Int
    public let containersRunning: Int
    public let images: Int
    public let storageDriver: String
    public let loggingDriver: String
    public let cgroupDriver: String
    public let cgroupVersion: String
    public let dockerRootDirectory: String
    public let securityOptions: [String]
    public let plugins: Plugins

    /// Installed plugins by kind.
    public struct Plugins: Sendable, Hashable, Decodable {
        public let volume: [String]
        public let network: [String]
        public let log: [String]

        enum CodingKeys: String, CodingKey {
            case volume = "Volume"
            case network = "Network"
            case log = "Log"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            volume = try container.decodeIfPresent([String].self, forKey: .volume) ?? []
            network = try container.decodeIfPresent([String].self, forKey: .network) ?? []
            log = try container.decodeIfPresent([String].self, forKey: .log) ?? []
        }

        init() {
            volume = []
            network = []
            log = []
        }
    }

    enum CodingKeys: String, CodingKey {
        case id = "ID"
        case name = "Name"
        case serverVersion = "ServerVersion"
        case operatingSystem = "OperatingSystem"
        case osType = "OSType"
        case architecture = "Architecture"
        case kernelVersion = "KernelVersion"
        case cpuCount = "NCPU"
        case memoryTotal = "MemTotal"
        case containers = "Containers"
        case containersRunning = "ContainersRunning"
        case images = "Images"
        case storageDriver = "Driver"
        case loggingDriver = "LoggingDriver"
        case cgroupDriver = "CgroupDriver"
        case cgroupVersion = "CgroupVersion"
        case dockerRootDirectory = "DockerRootDir"
        case securityOptions = "SecurityOptions"
        case plugins = "Plugins"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(String.self, forKey: .id) ?? ""
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        serverVersion = try container.decodeIfPresent(String.self, forKey: .serverVersion) ?? ""
        operatingSystem = try container.decodeIfPresent(String.self, forKey: .operatingSystem) ?? ""
        osType = try container.decodeIfPresent(String.self, forKey: .osType) ?? ""
        architecture = try container.decodeIfPresent(String.self, forKey: .architecture) ?? ""
        kernelVersion = try container.decodeIfPresent(String.self, forKey: .kernelVersion) ?? ""
        cpuCount = try container.decodeIfPresent(Int.self, forKey: .cpuCount) ?? 0
        memoryTotal = try container.decodeIfPresent(Int64.self, forKey: .memoryTotal) ?? 0
        containers = try container.decodeIfPresent(Int.self, forKey: .containers) ?? 0
        containersRunning = try container.decodeIfPresent(Int.self, forKey: .containersRunning) ?? 0
        images = try container.decodeIfPresent(Int.self, forKey: .images) ?? 0
        storageDriver = try container.decodeIfPresent(String.self, forKey: .storageDriver) ?? ""
        loggingDriver = try container.decodeIfPresent(String.self, forKey: .loggingDriver) ?? ""
        cgroupDriver = try container.decodeIfPresent(String.self, forKey: .cgroupDriver) ?? ""
        cgroupVersion = try container.decodeIfPresent(String.self, forKey: .cgroupVersion) ?? ""
        dockerRootDirectory = try container.decodeIfPresent(String.self, forKey: .dockerRootDirectory) ?? ""
        securityOptions = try container.decodeIfPresent([String].self, forKey: .securityOptions) ?? []
        plugins = try container.decodeIfPresent(Plugins.self, forKey: .plugins) ?? Plugins()
    }
}
