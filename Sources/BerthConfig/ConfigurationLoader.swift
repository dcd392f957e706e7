public import BerthModel
public import Foundation

/// What the configuration is read from.
public struct ConfigurationSource: Sendable {
    public static let defaultPath = "/etc/ecs/ecs.config"

    /// The `KEY=VALUE` file.
    public var path: String
    /// Whether the path was named by the operator (`--config`): then a missing file is an error, while a
    /// missing default file only means "environment and defaults".
    public var pathIsExplicit: Bool
    /// Variables that override the file's assignments of the same name.
    public var environment: [String: String]
    /// The kernel's ephemeral port range, the default of `ECS_DYNAMIC_HOST_PORT_RANGE`.
    public var kernelEphemeralPortRange: @Sendable () -> PortRange?

    public init(
        path: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        kernelEphemeralPortRange: @escaping @Sendable () -> PortRange? = ConfigurationSource
            .readKernelEphemeralPortRange
    ) {
        self.path = path ?? Self.defaultPath
        self.pathIsExplicit = path != nil
        self.environment = environment
        self.kernelEphemeralPortRange = kernelEphemeralPortRange
    }

    /// Reads `/proc/sys/net/ipv4/ip_local_port_range` ("32768\t60999").
    @Sendable public static func readKernelEphemeralPortRange() -> PortRange? {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8) else {
            return nil
        }
        let numbers = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { UInt16($0) }
        guard numbers.count == 2 else { return nil }
        return try? PortRange(start: numbers[0], end: numbers[1])
    }
}

/// A configuration that can be used, with what was noticed on the way.
public struct LoadedConfiguration: Sendable {
    public let configuration: BerthConfiguration
    /// Values Berth fell back from or clamped, unknown keys, malformed lines.
    public let warnings: [ConfigurationDiagnostic]
    /// Where each key's effective value came from; keys left at their default are absent.
    public let origins: [ConfigurationKey: ValueOrigin]
    /// The file that was read, or nil when the default file does not exist.
    public let filePath: String?
    /// The path that was looked at.
    public let requestedPath: String

    public func origin(of key: ConfigurationKey) -> ValueOrigin { origins[key] ?? .default }
}

/// Turns `/etc/ecs/ecs.config` and the environment into a ``BerthConfiguration``.
///
/// Invalid values are handled as the ECS agent handles them: where it warns and falls back to the default
/// (or clamps to a minimum), Berth warns, naming the key, the value and where it came from, and does the
/// same; where it refuses to start, Berth throws a ``ConfigurationError`` listing every problem at once.
/// Values the ECS agent would only trip over later (a malformed `DOCKER_HOST`, bad credentials) are refused
/// up front. Secrets are never repeated in diagnostics.
public enum ConfigurationLoader {
    /// The ephemeral range to use when the kernel's cannot be read (the ECS agent's fallback).
    public static let fallbackDynamicHostPortRange: PortRange = {
        guard let range = try? PortRange(start: 49153, end: 65535) else { preconditionFailure("valid constant range") }
        return range
    }()

    public static func load(_ source: ConfigurationSource) throws(ConfigurationError) -> LoadedConfiguration {
        let text = try readFile(at: source.path, required: source.pathIsExplicit)
        return try load(
            fileText: text,
            path: source.path,
            environment: source.environment,
            kernelEphemeralPortRange: source.kernelEphemeralPortRange()
        )
    }

    /// Loads from text already read; `fileText` nil means there is no file.
    public static func load(
        fileText: String?,
        path: String = ConfigurationSource.defaultPath,
        environment: [String: String],
        kernelEphemeralPortRange: PortRange?
    ) throws(ConfigurationError) -> LoadedConfiguration {
        var diagnostics: [ConfigurationDiagnostic] = []
        var values: [String: RawValue] = [:]

        if let fileText {
            let file = EnvironmentFile(parsing: fileText)
            for malformed in file.malformedLines {
                let message =
                    switch malformed.reason {
                    case .missingEquals: "not a KEY=VALUE line (no '='); ignored"
                    case .invalidKey(let key): "'\(key)' is not a variable name; line ignored"
                    }
                diagnostics.append(
                    .init(
                        severity: .warning,
                        key: nil,
                        origin: .file(path: path, line: malformed.line),
                        value: nil,
                        message: message
                    )
                )
            }
            for assignment in file.assignments {
                if let earlier = values[assignment.key], case .file(_, let earlierLine) = earlier.origin {
                    diagnostics.append(
                        .init(
                            severity: .warning,
                            key: assignment.key,
                            origin: .file(path: path, line: assignment.line),
                            value: nil,
                            message: "also set on line \(earlierLine); the last assignment wins"
                        )
                    )
                }
                // An empty value means "not set", as in the ECS agent.
                if assignment.value.isEmpty {
                    values[assignment.key] = nil
                } else {
                    values[assignment.key] = RawValue(
                        text: assignment.value,
                        origin: .file(path: path, line: assignment.line)
                    )
                }
            }
        }
        for (key, value) in environment where !value.isEmpty && isConfigurationName(key) {
            values[key] = RawValue(text: value.trimmingCharacters(in: .whitespaces), origin: .environment)
        }
        diagnostics += unknownKeyWarnings(values)

        var reader = ValueReader(values: values)
        let configuration = reader.readConfiguration(
            kernelEphemeralPortRange: kernelEphemeralPortRange ?? fallbackDynamicHostPortRange
        )
        diagnostics += reader.diagnostics
        diagnostics = ordered(diagnostics)

        guard let configuration, !diagnostics.contains(where: { $0.severity == .error }) else {
            let count = diagnostics.filter { $0.severity == .error }.count
            throw ConfigurationError(
                .invalidValue,
                "the configuration has \(count) error\(count == 1 ? "" : "s"); Berth will not start with it",
                diagnostics: diagnostics
            )
        }
        return LoadedConfiguration(
            configuration: configuration,
            warnings: diagnostics,
            origins: reader.origins,
            filePath: fileText == nil ? nil : path,
            requestedPath: path
        )
    }

    /// File findings by line, then environment findings, then the rest (a missing required key).
    private static func ordered(_ diagnostics: [ConfigurationDiagnostic]) -> [ConfigurationDiagnostic] {
        func rank(_ diagnostic: ConfigurationDiagnostic) -> (group: Int, line: Int) {
            switch diagnostic.origin {
            case .file(_, let line): (0, line)
            case .environment: (1, 0)
            case .default, nil: (2, 0)
            }
        }
        return diagnostics.enumerated()
            .sorted { left, right in
                let (a, b) = (rank(left.element), rank(right.element))
                return (a.group, a.line, left.offset) < (b.group, b.line, right.offset)
            }
            .map(\.element)
    }

    private static func readFile(at path: String, required: Bool) throws(ConfigurationError) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            if required {
                throw ConfigurationError(.fileNotFound, "configuration file \(path) does not exist")
            }
            return nil
        }
        guard !isDirectory.boolValue else {
            throw ConfigurationError(.fileUnreadable, "configuration file \(path) is a directory")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(
                .fileUnreadable,
                "configuration file \(path) cannot be read (check its permissions)"
            )
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(.fileUnreadable, "configuration file \(path) is not UTF-8 text")
        }
        return text
    }

    /// Environment variables that take part: Berth's keys, and names that look like configuration
    /// (`ECS_*`, `BERTH_*`) so that typos in the environment are reported too.
    private static func isConfigurationName(_ key: String) -> Bool {
        ConfigurationKey(rawValue: key) != nil || key.hasPrefix("ECS_") || key.hasPrefix("BERTH_")
    }

    private static func unknownKeyWarnings(_ values: [String: RawValue]) -> [ConfigurationDiagnostic] {
        values.filter { ConfigurationKey(rawValue: $0.key) == nil }
            .sorted { $0.key < $1.key }
            .map { key, raw in
                let message: String
                if ConfigurationKey.ecsAgentKeysNotImplemented.contains(key) {
                    message = "an Amazon ECS agent setting that Berth does not implement; ignored"
                } else if let suggestion = ConfigurationKey.suggestion(for: key) {
                    message = "unknown key; ignored (did you mean \(suggestion.rawValue)?)"
                } else {
                    message = "unknown key; ignored"
                }
                return ConfigurationDiagnostic(
                    severity: .warning,
                    key: key,
                    origin: raw.origin,
                    value: nil,
                    message: message
                )
            }
    }
}

/// A value as written, before interpretation.
struct RawValue: Sendable {
    let text: String
    let origin: ValueOrigin
}

/// How one written value was understood.
enum Interpretation<Value> {
    /// Used as written.
    case accepted(Value)
    /// Used after an adjustment (a clamp), with the reason.
    case adjusted(Value, reason: String)
    /// Not usable: the default applies, with the reason (the ECS agent's warn-and-fall-back cases).
    case fallBack(reason: String)
    /// Not usable, and Berth refuses to start (the ECS agent's fatal cases).
    case refused(reason: String)
}

/// Interprets raw values key by key, recording diagnostics and origins.
struct ValueReader {
    let values: [String: RawValue]
    private(set) var diagnostics: [ConfigurationDiagnostic] = []
    private(set) var origins: [ConfigurationKey: ValueOrigin] = [:]

    init(values: [String: RawValue]) {
        self.values = values
    }

    /// Reads one key: the default when it is unset, else its interpretation.
    mutating func read<Value>(
        _ key: ConfigurationKey,
        default defaultValue: Value,
        format: (Value) -> String = { "\($0)" },
        _ interpret: (String) -> Interpretation<Value>
    ) -> Value {
        guard let raw = values[key.rawValue] else { return defaultValue }
        switch interpret(raw.text) {
        case .accepted(let value):
            origins[key] = raw.origin
            return value
        case .adjusted(let value, let reason):
            origins[key] = raw.origin
            report(.warning, key, raw, "\(reason); using \(format(value))")
            return value
        case .fallBack(let reason):
            report(.warning, key, raw, "\(reason); using the default \(format(defaultValue))")
            return defaultValue
        case .refused(let reason):
            report(.error, key, raw, reason)
            return defaultValue
        }
    }

    mutating func report(
        _ severity: ConfigurationDiagnostic.Severity,
        _ key: ConfigurationKey,
        _ raw: RawValue?,
        _ message: String
    ) {
        diagnostics.append(
            ConfigurationDiagnostic(
                severity: severity,
                key: key.rawValue,
                origin: raw?.origin,
                value: key.isSecret ? nil : raw?.text,
                message: message
            )
        )
    }

    /// Reads every key; nil only when a required value (the region) is missing or refused.
    mutating func readConfiguration(kernelEphemeralPortRange: PortRange) -> BerthConfiguration? {
        // Region and backend host are refused when invalid, never defaulted: no fallback to format.
        let region: AWSRegion? = read(.region, default: nil) { text in
            refusing { () throws(ModelError) -> AWSRegion? in try AWSRegion(text) }
        }
        if region == nil && values[ConfigurationKey.region.rawValue] == nil {
            report(
                .error,
                .region,
                nil,
                "not set; Berth has no instance metadata service to learn the region from, so set it (such as us-east-1)"
            )
        }
        let defaults = BerthConfiguration(
            region: region ?? AWSRegion.placeholder,
            dynamicHostPortRange: kernelEphemeralPortRange
        )
        var configuration = defaults

        configuration.cluster = read(.cluster, default: defaults.cluster) { text in
            refusing { () throws(ModelError) in try ClusterName(nameOrARN: text) }
        }
        configuration.backendHost = read(.backendHost, default: defaults.backendHost, Self.backendEndpoint)
        configuration.dockerHost = read(.dockerHost, default: defaults.dockerHost) { text in
            refusing { () throws(ConfigurationError) in try DockerHost(parsing: text) }
        }
        configuration.dataDirectory = read(.dataDirectory, default: defaults.dataDirectory) { text in
            text.hasPrefix("/") ? .accepted(text) : .refused(reason: "must be an absolute path")
        }
        configuration.checkpoint = read(.checkpoint, default: defaults.checkpoint, Self.boolean)
        configuration.logLevel = read(.logLevel, default: defaults.logLevel, format: \.rawValue) { text in
            LogLevel(rawValue: text.lowercased()).map { .accepted($0) }
                ?? .fallBack(reason: "not a level (\(LogLevel.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        configuration.reservedPorts = read(.reservedPorts, default: defaults.reservedPorts, format: Self.json) {
            Self.portList($0)
        }
        configuration.reservedPortsUDP = read(
            .reservedPortsUDP,
            default: defaults.reservedPortsUDP,
            format: Self.json
        ) { Self.portList($0) }
        configuration.reservedMemoryMiB = read(.reservedMemory, default: defaults.reservedMemoryMiB) { text in
            UInt16(text).map { .accepted($0) } ?? .fallBack(reason: "not a whole number of MiB from 0 to 65535")
        }
        configuration.engineAuthentication = readEngineAuthentication()
        configuration.availableLoggingDrivers = read(
            .availableLoggingDrivers,
            default: defaults.availableLoggingDrivers,
            format: { Self.json($0.map(\.rawValue)) },
            Self.loggingDrivers
        )
        configuration.containerStopTimeout = readDuration(
            .containerStopTimeout,
            default: defaults.containerStopTimeout,
            minimum: .seconds(1),
            belowMinimum: .clamp
        )
        configuration.containerStartTimeout = readDuration(
            .containerStartTimeout,
            default: defaults.containerStartTimeout,
            minimum: .seconds(45),
            belowMinimum: .clamp
        )
        configuration.containerCreateTimeout = readDuration(
            .containerCreateTimeout,
            default: defaults.containerCreateTimeout,
            minimum: .seconds(60),
            belowMinimum: .clamp
        )
        configuration.imagePullBehavior = read(
            .imagePullBehavior,
            default: defaults.imagePullBehavior,
            format: \.rawValue
        ) { text in
            ImagePullBehavior(rawValue: text.lowercased()).map { .accepted($0) }
                ?? .fallBack(
                    reason:
                        "not a pull behavior (\(ImagePullBehavior.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
        }
        configuration.imagePullInactivityTimeout = readDuration(
            .imagePullInactivityTimeout,
            default: defaults.imagePullInactivityTimeout,
            minimum: .seconds(60),
            belowMinimum: .clamp
        )
        configuration.taskCleanupWaitDuration = readDuration(
            .taskCleanupWaitDuration,
            default: defaults.taskCleanupWaitDuration,
            minimum: .seconds(1),
            belowMinimum: .useDefault
        )
        configuration.imageCleanupDisabled = read(
            .imageCleanupDisabled,
            default: defaults.imageCleanupDisabled,
            Self.boolean
        )
        configuration.imageCleanupInterval = readDuration(
            .imageCleanupInterval,
            default: defaults.imageCleanupInterval,
            minimum: .seconds(10 * 60),
            belowMinimum: .useDefault
        )
        configuration.imageMinimumCleanupAge = readDuration(
            .imageMinimumCleanupAge,
            default: defaults.imageMinimumCleanupAge,
            minimum: nil,
            belowMinimum: .useDefault
        )
        configuration.imagesDeletedPerCycle = read(.imagesDeletedPerCycle, default: defaults.imagesDeletedPerCycle) {
            text in
            guard let count = Int(text) else { return .fallBack(reason: "not a whole number") }
            return count >= 1 ? .accepted(count) : .fallBack(reason: "must be at least 1")
        }
        configuration.instanceAttributes = read(
            .instanceAttributes,
            default: defaults.instanceAttributes,
            format: { $0.map(\.description).joined(separator: ", ") },
            Self.attributes
        )
        configuration.privilegedDisabled = read(.privilegedDisabled, default: defaults.privilegedDisabled, Self.boolean)
        configuration.selinuxCapable = read(.selinuxCapable, default: defaults.selinuxCapable, Self.boolean)
        configuration.apparmorCapable = read(.apparmorCapable, default: defaults.apparmorCapable, Self.boolean)
        configuration.dynamicHostPortRange = read(
            .dynamicHostPortRange,
            default: defaults.dynamicHostPortRange
        ) { text in
            fallingBack { () throws(ModelError) in try PortRange(parsing: text) }
        }
        configuration.apiListen = read(.apiListen, default: defaults.apiListen) { text in
            refusing { () throws(ConfigurationError) in try ListenAddress(parsing: text) }
        }
        configuration.accountID = read(.accountID, default: defaults.accountID) { text in
            refusing { () throws(ModelError) in try AccountID(text) }
        }
        configuration.introspectionListen = read(.introspectionListen, default: defaults.introspectionListen) { text in
            refusing { () throws(ConfigurationError) in try ListenAddress(parsing: text) }
        }
        configuration.taskMetadataPort = read(.taskMetadataPort, default: defaults.taskMetadataPort) { text in
            UInt16(text).map { .accepted($0) } ?? .refused(reason: "not a port number from 0 (none) to 65535")
        }
        // As the ECS agent does, a limit it cannot read falls back to the default, with a warning.
        configuration.taskMetadataRateLimit = read(
            .taskMetadataRateLimit,
            default: defaults.taskMetadataRateLimit
        ) { text in
            fallingBack { () throws(ConfigurationError) in try RequestRateLimit(parsing: text) }
        }
        configuration.apiCredentialsFile = read(
            .apiCredentialsFile,
            default: defaults.apiCredentialsFile,
            Self.absolutePath
        )
        configuration.tlsCertificateFile = read(
            .tlsCertificate,
            default: defaults.tlsCertificateFile,
            Self.absolutePath
        )
        configuration.tlsKeyFile = read(.tlsKey, default: defaults.tlsKeyFile, Self.absolutePath)
        if (values[ConfigurationKey.tlsCertificate.rawValue] == nil)
            != (values[ConfigurationKey.tlsKey.rawValue] == nil)
        {
            let (set, missing) =
                values[ConfigurationKey.tlsKey.rawValue] == nil
                ? (ConfigurationKey.tlsCertificate, ConfigurationKey.tlsKey) : (.tlsKey, .tlsCertificate)
            report(.error, set, values[set.rawValue], "set without \(missing.rawValue): TLS needs both")
        }
        configuration.instanceID = read(
            .instanceID,
            default: defaults.instanceID,
            format: { $0 ?? "" },
            Self.instanceID
        )
        configuration.availabilityZone = read(
            .availabilityZone,
            default: defaults.availabilityZone,
            format: { $0 ?? "" },
            Self.availabilityZone
        )
        configuration.instanceLostAfter = readDuration(
            .instanceLostAfter,
            default: defaults.instanceLostAfter,
            minimum: .seconds(10),
            belowMinimum: .clamp
        )
        configuration.channelHeartbeatInterval = readDuration(
            .channelHeartbeatInterval,
            default: defaults.channelHeartbeatInterval,
            minimum: .seconds(1),
            belowMinimum: .clamp
        )
        configuration.channelSilenceTimeout = readDuration(
            .channelSilenceTimeout,
            default: defaults.channelSilenceTimeout,
            minimum: .seconds(1),
            belowMinimum: .clamp
        )
        configuration.channelLifetime = readDuration(
            .channelLifetime,
            default: defaults.channelLifetime,
            minimum: .seconds(10),
            belowMinimum: .clamp
        )
        configuration.stoppedTaskRetention = readDuration(
            .stoppedTaskRetention,
            default: defaults.stoppedTaskRetention,
            minimum: .seconds(3600),
            belowMinimum: .clamp
        )
        configuration.backendAccessKeyID = read(.accessKeyID, default: nil, format: { $0 ?? "" }, Self.accessKey)
        configuration.backendSecretAccessKey = read(
            .secretAccessKey,
            default: nil,
            format: { $0 == nil ? "" : "<redacted>" },
            Self.secretKey
        )
        configuration.backendCAFile = read(.backendCAFile, default: nil, format: { $0 ?? "" }, Self.absolutePath)
        configuration.databaseURL = read(
            .databaseURL,
            default: nil,
            format: { $0?.description ?? "" },
            Self.databaseURL
        )
        configuration.advertiseURL = read(.advertiseURL, default: nil, format: { $0 ?? "" }, Self.advertiseURL)
        if configuration.advertiseURL != nil, configuration.databaseURL == nil {
            report(
                .warning,
                .advertiseURL,
                values[ConfigurationKey.advertiseURL.rawValue],
                "used only by replicas sharing BERTH_DATABASE_URL; without it agents are not steered"
            )
        }
        if let backend = configuration.backendHost {
            let missing = [ConfigurationKey.accessKeyID, .secretAccessKey].filter { values[$0.rawValue] == nil }
            if !missing.isEmpty {
                report(
                    .error,
                    .backendHost,
                    values[ConfigurationKey.backendHost.rawValue],
                    "a remote control plane needs \(missing.map(\.rawValue).joined(separator: " and ")) to sign the agent's calls"
                )
            }
            if let url = URLComponents(string: backend), url.scheme?.lowercased() == "http",
                !Self.isLoopback(url.host ?? "")
            {
                report(
                    .warning,
                    .backendHost,
                    values[ConfigurationKey.backendHost.rawValue],
                    "plain http to a host that is not loopback: the agent's calls and tasks cross the network unencrypted; use https"
                )
            }
        }
        return region == nil ? nil : configuration
    }

    enum BelowMinimum {
        /// Use the minimum (the ECS agent's start, create, stop and pull-inactivity timeouts).
        case clamp
        /// Use the default (the ECS agent's cleanup durations).
        case useDefault
    }

    mutating func readDuration(
        _ key: ConfigurationKey,
        default defaultValue: Duration,
        minimum: Duration?,
        belowMinimum: BelowMinimum
    ) -> Duration {
        read(key, default: defaultValue, format: GoDuration.format) { text in
            guard let duration = GoDuration.parse(text) else {
                let hint = Int(text) != nil ? " (write it with a unit, such as \(text)s)" : " such as 30s, 5m or 1h30m"
                return .fallBack(reason: "not a duration\(hint)")
            }
            if duration == .zero { return .fallBack(reason: "zero means the default") }
            guard let minimum, duration < minimum else {
                return duration < .zero ? .fallBack(reason: "a negative duration") : .accepted(duration)
            }
            switch belowMinimum {
            case .clamp:
                return .adjusted(minimum, reason: "below the minimum \(GoDuration.format(minimum))")
            case .useDefault:
                return .fallBack(reason: "below the minimum \(GoDuration.format(minimum))")
            }
        }
    }

    mutating func readEngineAuthentication() -> EngineAuthentication? {
        let typeRaw = values[ConfigurationKey.engineAuthType.rawValue]
        let dataRaw = values[ConfigurationKey.engineAuthData.rawValue]
        guard let typeRaw else {
            if dataRaw != nil {
                report(.warning, .engineAuthData, dataRaw, "set without ECS_ENGINE_AUTH_TYPE; ignored")
            }
            return nil
        }
        guard let type = EngineAuthentication.AuthType(rawValue: typeRaw.text.lowercased()) else {
            let valid = EngineAuthentication.AuthType.allCases.map(\.rawValue).joined(separator: " or ")
            report(.error, .engineAuthType, typeRaw, "not an authentication type; expected \(valid)")
            return nil
        }
        origins[.engineAuthType] = typeRaw.origin
        guard let dataRaw else {
            report(.warning, .engineAuthType, typeRaw, "set without ECS_ENGINE_AUTH_DATA; no registry credentials")
            return nil
        }
        do throws(ConfigurationError) {
            let authentication = try EngineAuthentication(type: type, data: dataRaw.text)
            origins[.engineAuthData] = dataRaw.origin
            return authentication
        } catch {
            report(.error, .engineAuthData, dataRaw, error.message)
            return nil
        }
    }

    // MARK: Interpreters

    /// Go's `strconv.ParseBool`, which the ECS agent uses.
    static func boolean(_ text: String) -> Interpretation<Bool> {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": .accepted(true)
        case "0", "f", "F", "FALSE", "false", "False": .accepted(false)
        default: .fallBack(reason: "not a boolean (true or false)")
        }
    }

    static func portList(_ text: String) -> Interpretation<[UInt16]> {
        guard let numbers = try? JSONDecoder().decode([Int].self, from: Data(text.utf8)) else {
            return .fallBack(reason: "not a JSON array of port numbers such as [22, 2375]")
        }
        guard let bad = numbers.first(where: { !(1...65535).contains($0) }) else {
            var seen = Set<Int>()
            return .accepted(numbers.filter { seen.insert($0).inserted }.map { UInt16($0) })
        }
        return .fallBack(reason: "\(bad) is not a port from 1 to 65535")
    }

    static func loggingDrivers(_ text: String) -> Interpretation<[LoggingDriver]> {
        guard let names = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
            return .fallBack(reason: #"not a JSON array of driver names such as ["json-file","syslog"]"#)
        }
        let unknown = names.filter { LoggingDriver(rawValue: $0) == nil }
        guard unknown.isEmpty else {
            // Fatal in the ECS agent too ("Invalid logging drivers").
            let known = LoggingDriver.allCases.map(\.rawValue).joined(separator: ", ")
            return .refused(
                reason: "unknown logging driver \(unknown.joined(separator: ", ")); known drivers: \(known)"
            )
        }
        var seen = Set<String>()
        return .accepted(names.filter { seen.insert($0).inserted }.compactMap(LoggingDriver.init(rawValue:)))
    }

    static func attributes(_ text: String) -> Interpretation<[Attribute]> {
        // Fatal in the ECS agent: a bad value here would only fail registration later.
        guard let object = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)) else {
            return .refused(reason: #"not a JSON object of string values such as {"stack":"prod"}"#)
        }
        guard object.count <= 10 else {
            return .refused(reason: "\(object.count) attributes; ECS allows at most 10 custom attributes per instance")
        }
        var attributes: [Attribute] = []
        for (name, value) in object.sorted(by: { $0.key < $1.key }) {
            do throws(ModelError) {
                attributes.append(try Attribute(name: name, value: value))
            } catch {
                return .refused(reason: error.message)
            }
        }
        return .accepted(attributes)
    }

    /// `https://host[:port][/path]`, `http://…`, or a bare `host[:port]`, which means https as in the AWS SDKs.
    static func backendEndpoint(_ text: String) -> Interpretation<String?> {
        let withScheme = text.contains("://") ? text : "https://\(text)"
        guard let components = URLComponents(string: withScheme),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty
        else {
            return .refused(reason: "not an endpoint URL such as https://ecs.example.com or http://10.0.0.5:51680")
        }
        return .accepted(withScheme)
    }

    /// Where agents reach this replica: an http or https URL naming a host they can connect to (not a
    /// wildcard listening address).
    static func advertiseURL(_ text: String) -> Interpretation<String?> {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty
        else {
            return .refused(reason: "not a URL such as https://cp-2.example:51680")
        }
        guard !["0.0.0.0", "::", "[::]"].contains(host) else {
            return .refused(reason: "\(host) is where a server listens, not an address agents can reach")
        }
        return .accepted(text)
    }

    /// An instance id: 1 to 64 letters, digits and `-._:`, such as a machine-id or `i-0abc…`.
    static func instanceID(_ text: String) -> Interpretation<String?> {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:")
        guard (1...64).contains(text.count), text.allSatisfy({ allowed.contains($0) }) else {
            return .refused(reason: "must be 1 to 64 letters, digits, '-', '.', '_' or ':'")
        }
        return .accepted(text)
    }

    /// An AWS access key ID: 16 to 128 letters and digits.
    static func accessKey(_ text: String) -> Interpretation<String?> {
        (16...128).contains(text.count) && text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
            ? .accepted(text) : .refused(reason: "not an access key ID (16 to 128 letters and digits)")
    }

    /// A secret access key: any printable text of 16 characters or more; the diagnostic never shows it.
    static func secretKey(_ text: String) -> Interpretation<String?> {
        text.count >= 16 && !text.contains(where: { $0.isWhitespace })
            ? .accepted(text) : .refused(reason: "not a secret access key (16 or more characters, no spaces)")
    }

    /// Whether a URL's host is this machine's loopback.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }

    /// BERTH_DATABASE_URL, read as libpq reads it; the diagnostic never quotes it (it holds a password).
    static func databaseURL(_ text: String) -> Interpretation<DatabaseURL?> {
        switch DatabaseURL.parse(text) {
        case .success(let url): .accepted(url)
        case .failure(let error): .refused(reason: error.description)
        }
    }

    /// A file named by an optional key: an absolute path, since Berth's working directory is not the operator's.
    static func absolutePath(_ text: String) -> Interpretation<String?> {
        text.hasPrefix("/") ? .accepted(text) : .refused(reason: "must be an absolute path")
    }

    /// A zone name, which must be a valid value of the attribute it becomes.
    static func availabilityZone(_ text: String) -> Interpretation<String?> {
        refusing { () throws(ModelError) -> String? in
            try Attribute(name: "ecs.availability-zone", value: text).value
        }
    }

    /// Compact JSON as the file would hold it: `[22,2375]`, `["json-file","none"]`, `{"stack":"prod"}`.
    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}

/// Wraps a model validation as an interpretation that refuses invalid values.
/// An error whose message explains a value it could not read.
protocol ValueError: Error {
    var message: String { get }
}

extension ModelError: ValueError {}
extension ConfigurationError: ValueError {}

/// What `make` reads, or, when it cannot, a refusal with its message.
private func refusing<Value, Failure: ValueError>(_ make: () throws(Failure) -> Value) -> Interpretation<Value> {
    interpreting(make, else: Interpretation.refused)
}

/// What `make` reads, or, when it cannot, the default with its message (the ECS agent's fall-back cases).
private func fallingBack<Value, Failure: ValueError>(_ make: () throws(Failure) -> Value) -> Interpretation<Value> {
    interpreting(make, else: Interpretation.fallBack)
}

private func interpreting<Value, Failure: ValueError>(
    _ make: () throws(Failure) -> Value,
    else failure: (_ reason: String) -> Interpretation<Value>
) -> Interpretation<Value> {
    do throws(Failure) {
        return .accepted(try make())
    } catch {
        return failure(error.message)
    }
}

extension AWSRegion {
    /// Only used to finish reading the other keys when the region is missing; never returned.
    fileprivate static let placeholder: AWSRegion = {
        guard let region = try? AWSRegion("us-east-1") else { preconditionFailure("valid constant region") }
        return region
    }()
}
