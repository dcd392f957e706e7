import BerthModel
import Foundation

/// `DockerConfig` of a payload's container: the options of a container definition that only Docker knows
/// of, as the JSON of the Engine API's create request (`config`) and its `HostConfig` (`hostConfig`), the
/// way the ECS control plane sends them. Members of that JSON this side does not use are ignored.
public struct ACSDockerConfig: Sendable, Hashable, Codable {
    public var config: String?
    public var hostConfig: String?
    public var version: String?

    public init(config: String?, hostConfig: String?, version: String? = nil) {
        self.config = config
        self.hostConfig = hostConfig
        self.version = version
    }

    /// The definition's Docker-only options; nil when it has none.
    init?(_ definition: ContainerDefinition) {
        let config = DockerCreateConfig(
            hostname: definition.hostname,
            user: definition.user,
            workingDirectory: definition.workingDirectory,
            networkDisabled: definition.disableNetworking,
            labels: definition.dockerLabels,
            healthcheck: definition.healthCheck.map(DockerHealthcheck.init),
            tty: definition.pseudoTerminal,
            openStdin: definition.interactive
        )
        let hostConfig = DockerHostConfig(
            readonlyRootfs: definition.readonlyRootFilesystem,
            dns: definition.dnsServers,
            dnsSearch: definition.dnsSearchDomains,
            extraHosts: definition.extraHosts?.map { "\($0.hostname):\($0.ipAddress)" },
            securityOptions: definition.dockerSecurityOptions,
            ulimits: definition.ulimits?.map { DockerUlimit(name: $0.name, soft: $0.softLimit, hard: $0.hardLimit) },
            logConfig: definition.logConfiguration.map {
                DockerLogConfig(type: $0.logDriver.rawValue, config: $0.options)
            },
            sysctls: definition.systemControls.map { controls in
                Dictionary(controls.map { ($0.namespace, $0.value) }, uniquingKeysWith: { _, last in last })
            },
            memoryReservation: definition.memoryReservation.map { Int64($0) * 1_048_576 }
        )
        guard config != DockerCreateConfig() || hostConfig != DockerHostConfig() else { return nil }
        self.init(
            config: config == DockerCreateConfig() ? nil : Self.json(config),
            hostConfig: hostConfig == DockerHostConfig() ? nil : Self.json(hostConfig)
        )
    }

    /// Sets the options `config` and `hostConfig` carry on `definition`; the error names the member.
    func apply(to definition: inout ContainerDefinition) throws(ControlPlaneError) {
        if let text = config, !text.isEmpty {
            let config: DockerCreateConfig = try Self.decode(text, member: "config")
            definition.hostname = config.hostname
            definition.user = config.user
            definition.workingDirectory = config.workingDirectory
            definition.disableNetworking = config.networkDisabled
            definition.dockerLabels = config.labels
            definition.healthCheck = config.healthcheck.map(\.healthCheck)
            definition.pseudoTerminal = config.tty
            definition.interactive = config.openStdin
        }
        if let text = hostConfig, !text.isEmpty {
            let hostConfig: DockerHostConfig = try Self.decode(text, member: "hostConfig")
            definition.readonlyRootFilesystem = hostConfig.readonlyRootfs
            definition.dnsServers = hostConfig.dns
            definition.dnsSearchDomains = hostConfig.dnsSearch
            if let extraHosts = hostConfig.extraHosts {
                var entries: [HostEntry] = []
                for (index, entry) in extraHosts.enumerated() {
                    // host:address; an IPv6 address has colons of its own, a host name none.
                    guard let colon = entry.firstIndex(of: ":") else {
                        throw ControlPlaneError(
                            .badFrame,
                            "hostConfig: ExtraHosts[\(index)]: \"\(entry)\" is not host:address"
                        )
                    }
                    entries.append(
                        HostEntry(
                            hostname: String(entry[..<colon]),
                            ipAddress: String(entry[entry.index(after: colon)...])
                        )
                    )
                }
                definition.extraHosts = entries
            }
            definition.dockerSecurityOptions = hostConfig.securityOptions
            definition.ulimits = hostConfig.ulimits?.map {
                Ulimit(name: $0.name, softLimit: $0.soft, hardLimit: $0.hard)
            }
            if let log = hostConfig.logConfig {
                guard let driver = LoggingDriver(rawValue: log.type) else {
                    throw ControlPlaneError(
                        .badFrame,
                        "hostConfig: LogConfig.Type: \"\(log.type)\" is not a logging driver this agent knows"
                    )
                }
                definition.logConfiguration = LogConfiguration(logDriver: driver, options: log.config)
            }
            definition.systemControls = hostConfig.sysctls.map { controls in
                controls.sorted { $0.key < $1.key }.map { SystemControl(namespace: $0.key, value: $0.value) }
            }
            if let bytes = hostConfig.memoryReservation {
                guard bytes >= 0 else {
                    throw ControlPlaneError(.badFrame, "hostConfig: MemoryReservation: \(bytes) is negative")
                }
                definition.memoryReservation = Int(bytes / 1_048_576)
            }
        }
    }

    private static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings, numbers, booleans, arrays and maps only: encoding cannot fail.
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
    }

    private static func decode<Value: Decodable>(_ text: String, member: String) throws(ControlPlaneError) -> Value {
        do {
            return try JSONDecoder().decode(Value.self, from: Data(text.utf8))
        } catch {
            throw ControlPlaneError(.badFrame, "\(member): \(ACSDecodingFailure.describe(error))")
        }
    }
}

// The Engine API's members, under the names dockerd gives them.

private struct DockerCreateConfig: Codable, Equatable {
    var hostname: String?
    var user: String?
    var workingDirectory: String?
    var networkDisabled: Bool?
    var labels: [String: String]?
    var healthcheck: DockerHealthcheck?
    var tty: Bool?
    var openStdin: Bool?

    enum CodingKeys: String, CodingKey {
        case hostname = "Hostname"
        case user = "User"
        case workingDirectory = "WorkingDir"
        case networkDisabled = "NetworkDisabled"
        case labels = "Labels"
        case healthcheck = "Healthcheck"
        case tty = "Tty"
        case openStdin = "OpenStdin"
    }
}

private struct DockerHealthcheck: Codable, Equatable {
    var test: [String]
    /// Nanoseconds, as the Engine API counts them.
    var interval: Int64?
    var timeout: Int64?
    var retries: Int?
    var startPeriod: Int64?

    enum CodingKeys: String, CodingKey {
        case test = "Test"
        case interval = "Interval"
        case timeout = "Timeout"
        case retries = "Retries"
        case startPeriod = "StartPeriod"
    }

    private static let nanosecondsPerSecond: Int64 = 1_000_000_000

    init(_ check: HealthCheck) {
        test = check.command
        interval = check.interval.map { Int64($0) * Self.nanosecondsPerSecond }
        timeout = check.timeout.map { Int64($0) * Self.nanosecondsPerSecond }
        retries = check.retries
        startPeriod = check.startPeriod.map { Int64($0) * Self.nanosecondsPerSecond }
    }

    var healthCheck: HealthCheck {
        HealthCheck(
            command: test,
            interval: interval.map { Int($0 / Self.nanosecondsPerSecond) },
            timeout: timeout.map { Int($0 / Self.nanosecondsPerSecond) },
            retries: retries,
            startPeriod: startPeriod.map { Int($0 / Self.nanosecondsPerSecond) }
        )
    }
}

private struct DockerHostConfig: Codable, Equatable {
    var readonlyRootfs: Bool?
    var dns: [String]?
    var dnsSearch: [String]?
    var extraHosts: [String]?
    var securityOptions: [String]?
    var ulimits: [DockerUlimit]?
    var logConfig: DockerLogConfig?
    var sysctls: [String: String]?
    /// Bytes.
    var memoryReservation: Int64?

    enum CodingKeys: String, CodingKey {
        case readonlyRootfs = "ReadonlyRootfs"
        case dns = "Dns"
        case dnsSearch = "DnsSearch"
        case extraHosts = "ExtraHosts"
        case securityOptions = "SecurityOpt"
        case ulimits = "Ulimits"
        case logConfig = "LogConfig"
        case sysctls = "Sysctls"
        case memoryReservation = "MemoryReservation"
    }
}

private struct DockerUlimit: Codable, Equatable {
    var name: String
    var soft: Int
    var hard: Int

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case soft = "Soft"
        case hard = "Hard"
    }
}

private struct DockerLogConfig: Codable, Equatable {
    var type: String
    var config: [String: String]?

    enum CodingKeys: String, CodingKey {
        case type = "Type"
        case config = "Config"
    }
}
