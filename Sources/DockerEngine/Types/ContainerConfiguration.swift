/// A container's configuration that does not depend on the host (`ContainerConfig` in the Engine API):
/// sent in create, returned by inspect as `Config`. Unset members are not sent.
public struct ContainerConfiguration: Sendable, Hashable, Codable {
    public var image: String?
    public var cmd: [String]?
    public var entrypoint: [String]?
    /// `NAME=value` strings.
    public var env: [String]?
    public var workingDir: String?
    public var user: String?
    public var hostname: String?
    public var domainname: String?
    public var labels: [String: String]?
    public var exposedPorts: Set<ContainerPort>?
    public var healthcheck: HealthCheck?
    public var stopSignal: String?
    /// Seconds dockerd waits after the stop signal before SIGKILL, when a stop does not say.
    public var stopTimeout: Int?
    public var tty: Bool?
    public var openStdin: Bool?
    /// No network at all: the container gets only a loopback interface.
    public var networkDisabled: Bool?
    /// Anonymous volumes: container paths that get a fresh volume.
    public var volumes: Set<String>?

    public init(image: String? = nil) {
        self.image = image
    }

    enum CodingKeys: String, CodingKey {
        case image = "Image"
        case cmd = "Cmd"
        case entrypoint = "Entrypoint"
        case env = "Env"
        case workingDir = "WorkingDir"
        case user = "User"
        case hostname = "Hostname"
        case domainname = "Domainname"
        case labels = "Labels"
        case exposedPorts = "ExposedPorts"
        case healthcheck = "Healthcheck"
        case stopSignal = "StopSignal"
        case stopTimeout = "StopTimeout"
        case tty = "Tty"
        case openStdin = "OpenStdin"
        case networkDisabled = "NetworkDisabled"
        case volumes = "Volumes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        image = try container.decodeIfPresent(String.self, forKey: .image)
        cmd = try container.decodeIfPresent([String].self, forKey: .cmd)
        entrypoint = try container.decodeIfPresent([String].self, forKey: .entrypoint)
        env = try container.decodeIfPresent([String].self, forKey: .env)
        workingDir = try container.decodeIfPresent(String.self, forKey: .workingDir)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        hostname = try container.decodeIfPresent(String.self, forKey: .hostname)
        domainname = try container.decodeIfPresent(String.self, forKey: .domainname)
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels)
        exposedPorts = try container.decodeIfPresent([String: EmptyObject].self, forKey: .exposedPorts)
            .map { Set($0.keys.compactMap(ContainerPort.init)) }
        healthcheck = try container.decodeIfPresent(HealthCheck.self, forKey: .healthcheck)
        stopSignal = try container.decodeIfPresent(String.self, forKey: .stopSignal)
        stopTimeout = try container.decodeIfPresent(Int.self, forKey: .stopTimeout)
        tty = try container.decodeIfPresent(Bool.self, forKey: .tty)
        openStdin = try container.decodeIfPresent(Bool.self, forKey: .openStdin)
        networkDisabled = try container.decodeIfPresent(Bool.self, forKey: .networkDisabled)
        volumes = try container.decodeIfPresent([String: EmptyObject].self, forKey: .volumes).map { Set($0.keys) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(image, forKey: .image)
        try container.encodeIfPresent(cmd, forKey: .cmd)
        try container.encodeIfPresent(entrypoint, forKey: .entrypoint)
        try container.encodeIfPresent(env, forKey: .env)
        try container.encodeIfPresent(workingDir, forKey: .workingDir)
        try container.encodeIfPresent(user, forKey: .user)
        try container.encodeIfPresent(hostname, forKey: .hostname)
        try container.encodeIfPresent(domainname, forKey: .domainname)
        try container.encodeIfPresent(labels, forKey: .labels)
        try container.encodeIfPresent(
            exposedPorts.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.description, EmptyObject()) }) },
            forKey: .exposedPorts
        )
        try container.encodeIfPresent(healthcheck, forKey: .healthcheck)
        try container.encodeIfPresent(stopSignal, forKey: .stopSignal)
        try container.encodeIfPresent(stopTimeout, forKey: .stopTimeout)
        try container.encodeIfPresent(tty, forKey: .tty)
        try container.encodeIfPresent(openStdin, forKey: .openStdin)
        try container.encodeIfPresent(networkDisabled, forKey: .networkDisabled)
        try container.encodeIfPresent(
            volumes.map { Dictionary(uniqueKeysWithValues: $0.map { ($0, EmptyObject()) }) },
            forKey: .volumes
        )
    }
}

/// `{}`: Docker's way of writing a set as an object's keys.
struct EmptyObject: Codable, Hashable, Sendable {}

/// A health check Docker runs inside the container (`HealthConfig`).
public struct HealthCheck: Sendable, Hashable, Codable {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    public var test: [String]
    public var interval: Duration?
    public var timeout: Duration?
    public var retries: Int?
    public var startPeriod: Duration?

    public init(
        test: [String],
        interval: Duration? = nil,
        timeout: Duration? = nil,
        retries: Int? = nil,
        startPeriod: Duration? = nil
    ) {
        self.test = test
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.startPeriod = startPeriod
    }

    enum CodingKeys: String, CodingKey {
        case test = "Test"
        case interval = "Interval"
        case timeout = "Timeout"
        case retries = "Retries"
        case startPeriod = "StartPeriod"
    }

    // Docker writes these durations as integer nanoseconds.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        test = try container.decodeIfPresent([String].self, forKey: .test) ?? []
        interval = try container.decodeIfPresent(Int64.self, forKey: .interval).map(Duration.nanoseconds)
        timeout = try container.decodeIfPresent(Int64.self, forKey: .timeout).map(Duration.nanoseconds)
        retries = try container.decodeIfPresent(Int.self, forKey: .retries)
        startPeriod = try container.decodeIfPresent(Int64.self, forKey: .startPeriod).map(Duration.nanoseconds)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(test, forKey: .test)
        try container.encodeIfPresent(interval?.wholeNanoseconds, forKey: .interval)
        try container.encodeIfPresent(timeout?.wholeNanoseconds, forKey: .timeout)
        try container.encodeIfPresent(retries, forKey: .retries)
        try container.encodeIfPresent(startPeriod?.wholeNanoseconds, forKey: .startPeriod)
    }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating at Int64's bounds (about 292 years) instead of trapping.
    var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (total, overflowSum) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowSum ? (seconds < 0 ? .min : .max) : total
    }
}
