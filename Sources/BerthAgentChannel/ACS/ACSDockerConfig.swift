import BerthModel
import DockerEngine
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
        var config = ContainerConfiguration()
        config.hostname = definition.hostname
        config.user = definition.user
        config.workingDir = definition.workingDirectory
        config.networkDisabled = definition.disableNetworking
        config.labels = definition.dockerLabels
        config.healthcheck = definition.healthCheck.map {
            DockerEngine.HealthCheck(
                test: $0.command,
                interval: $0.interval.map { .seconds($0) },
                timeout: $0.timeout.map { .seconds($0) },
                retries: $0.retries,
                startPeriod: $0.startPeriod.map { .seconds($0) }
            )
        }
        config.tty = definition.pseudoTerminal
        config.openStdin = definition.interactive
        var hostConfig = HostConfiguration()
        hostConfig.readonlyRootfs = definition.readonlyRootFilesystem
        hostConfig.dns = definition.dnsServers
        hostConfig.dnsSearch = definition.dnsSearchDomains
        hostConfig.extraHosts = definition.extraHosts?.map { "\($0.hostname):\($0.ipAddress)" }
        hostConfig.securityOpt = definition.dockerSecurityOptions
        hostConfig.ulimits = definition.ulimits?.map {
            DockerEngine.Ulimit(name: $0.name, soft: Int64($0.softLimit), hard: Int64($0.hardLimit))
        }
        hostConfig.logConfig = definition.logConfiguration.map {
            DockerEngine.LogConfiguration(type: $0.logDriver.rawValue, config: $0.options)
        }
        hostConfig.sysctls = definition.systemControls.map { controls in
            Dictionary(controls.map { ($0.namespace, $0.value) }, uniquingKeysWith: { _, last in last })
        }
        hostConfig.memoryReservation = definition.memoryReservation.map { Int64($0) * 1_048_576 }
        let noConfig = config == ContainerConfiguration()
        let noHostConfig = hostConfig == HostConfiguration()
        guard !noConfig || !noHostConfig else { return nil }
        self.init(config: noConfig ? nil : Self.json(config), hostConfig: noHostConfig ? nil : Self.json(hostConfig))
    }

    /// Sets the options `config` and `hostConfig` carry on `definition`; the error names the member.
    func apply(to definition: inout ContainerDefinition) throws(ControlPlaneError) {
        if let text = config, !text.isEmpty {
            let config: ContainerConfiguration = try Self.decode(text, member: "config")
            definition.hostname = config.hostname
            definition.user = config.user
            definition.workingDirectory = config.workingDir
            definition.disableNetworking = config.networkDisabled
            definition.dockerLabels = config.labels
            definition.healthCheck = config.healthcheck.map {
                BerthModel.HealthCheck(
                    command: $0.test,
                    interval: $0.interval.map(Self.wholeSeconds),
                    timeout: $0.timeout.map(Self.wholeSeconds),
                    retries: $0.retries,
                    startPeriod: $0.startPeriod.map(Self.wholeSeconds)
                )
            }
            definition.pseudoTerminal = config.tty
            definition.interactive = config.openStdin
        }
        if let text = hostConfig, !text.isEmpty {
            let hostConfig: HostConfiguration = try Self.decode(text, member: "hostConfig")
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
            definition.dockerSecurityOptions = hostConfig.securityOpt
            definition.ulimits = hostConfig.ulimits?.map {
                BerthModel.Ulimit(name: $0.name, softLimit: Int(clamping: $0.soft), hardLimit: Int(clamping: $0.hard))
            }
            if let log = hostConfig.logConfig {
                guard let driver = LoggingDriver(rawValue: log.type) else {
                    throw ControlPlaneError(
                        .badFrame,
                        "hostConfig: LogConfig.Type: \"\(log.type)\" is not a logging driver this agent knows"
                    )
                }
                definition.logConfiguration = BerthModel.LogConfiguration(logDriver: driver, options: log.config)
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

    /// ECS counts health check times in whole seconds; the Engine API in nanoseconds.
    private static func wholeSeconds(_ duration: Duration) -> Int {
        Int(clamping: duration.components.seconds)
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
