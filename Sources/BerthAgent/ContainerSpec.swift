public import BerthModel
public import DockerEngine

/// How a container of a task becomes a Docker create request: the ECS agent's mapping of a container
/// definition onto `Config` and `HostConfig`, with the agent's labels and the names it chose.
public enum ContainerSpec {
    /// The reason of a container the kernel killed for its memory use, as the ECS agent words it.
    public static let outOfMemoryReason = "OutOfMemoryError: Container killed due to memory usage"

    /// The labels the agent puts on every container it creates; recovery finds containers by them.
    public enum Label {
        public static let taskArn = "com.amazonaws.ecs.task-arn"
        public static let containerName = "com.amazonaws.ecs.container-name"
        public static let family = "com.amazonaws.ecs.task-definition-family"
        public static let version = "com.amazonaws.ecs.task-definition-version"
        public static let cluster = "com.amazonaws.ecs.cluster"
    }

    /// Where a container finds its task metadata endpoint, by version: the variable and the URL's path.
    public static let metadataVariables = [
        (variable: "ECS_CONTAINER_METADATA_URI", version: "v3"),
        (variable: "ECS_CONTAINER_METADATA_URI_V4", version: "v4"),
    ]

    /// Docker filters that select the containers the agent made for `cluster`.
    public static func clusterFilter(_ cluster: String) -> DockerFilters {
        ["label": ["\(Label.cluster)=\(cluster)"]]
    }

    /// What the mapping needs beyond the task itself.
    public struct Context: Sendable {
        /// The cluster label's value: the configured cluster.
        public var cluster: String
        /// Set as AWS_DEFAULT_REGION and AWS_REGION unless the task sets them.
        public var region: String
        /// The task metadata endpoint, when one is served: each container that can reach it is told its own
        /// URLs under it as ECS_CONTAINER_METADATA_URI (v3) and ECS_CONTAINER_METADATA_URI_V4.
        public var metadataEndpoint: MetadataEndpoint?

        public init(cluster: String, region: String, metadataEndpoint: MetadataEndpoint? = nil) {
            self.cluster = cluster
            self.region = region
            self.metadataEndpoint = metadataEndpoint
        }
    }

    /// MiB as bytes for Docker, saturating: a payload's numbers are not trusted to be sane.
    static func bytes(mebibytes: Int) -> Int64 {
        let (product, overflow) = Int64(clamping: mebibytes).multipliedReportingOverflow(by: 1_048_576)
        return overflow ? Int64.max : max(0, product)
    }

    /// Where the task metadata endpoint is served.
    public struct MetadataEndpoint: Sendable, Hashable {
        /// The base URL (`http://172.17.0.1:51679`).
        public var url: String
        /// Whether bridge-mode containers reach it: false when it is served on loopback because the host's
        /// bridge address is unknown; bridge containers are then given no URL.
        public var reachableFromBridge: Bool

        public init(url: String, reachableFromBridge: Bool) {
            self.url = url
            self.reachableFromBridge = reachableFromBridge
        }
    }

    /// The create request for container `name` of `record`; throws the reason when the task refers to
    /// something that does not exist.
    public static func createRequest(
        for name: String,
        of record: TaskRecord,
        context: Context
    ) throws(SpecError) -> ContainerCreateRequest {
        guard let definition = record.definition(of: name), let container = record.container(named: name) else {
            throw SpecError("container '\(name)' is not in the task")
        }
        let networkMode = record.payload.networkMode ?? .bridge
        var configuration = ContainerConfiguration(image: definition.image)
        configuration.cmd = definition.command
        configuration.entrypoint = definition.entryPoint
        var environment = (definition.environment ?? []).map { "\($0.name)=\($0.value)" }
        let named = Set((definition.environment ?? []).map(\.name))
        for variable in ["AWS_DEFAULT_REGION", "AWS_REGION"] where !named.contains(variable) {
            environment.append("\(variable)=\(context.region)")
        }
        if let endpoint = context.metadataEndpoint, endpoint.reachableFromBridge || networkMode != .bridge,
            let id = container.metadataID
        {
            for (variable, version) in metadataVariables where !named.contains(variable) {
                environment.append("\(variable)=\(endpoint.url)/\(version)/\(id)")
            }
        }
        configuration.env = environment
        configuration.workingDir = definition.workingDirectory
        configuration.user = definition.user
        if networkMode == .bridge { configuration.hostname = definition.hostname }
        configuration.tty = definition.pseudoTerminal
        configuration.openStdin = definition.interactive
        configuration.networkDisabled = definition.disableNetworking
        configuration.stopTimeout = definition.stopTimeout
        var labels = definition.dockerLabels ?? [:]
        labels[Label.taskArn] = record.arn
        labels[Label.containerName] = name
        labels[Label.family] = record.payload.family
        labels[Label.version] = String(record.payload.revision)
        labels[Label.cluster] = context.cluster
        configuration.labels = labels
        if let check = definition.healthCheck {
            configuration.healthcheck = DockerEngine.HealthCheck(
                test: check.command,
                interval: .seconds(check.interval ?? 30),
                timeout: .seconds(check.timeout ?? 5),
                retries: check.retries ?? 3,
                startPeriod: .seconds(check.startPeriod ?? 0)
            )
        }

        var host = HostConfiguration()
        host.networkMode = networkMode.rawValue
        // The agent restarts nothing behind ECS's back: a stopped container is reported, not revived.
        host.restartPolicy = RestartPolicy(name: "no")
        if let memory = definition.memory { host.memory = bytes(mebibytes: max(memory, 4)) }
        if let reservation = definition.memoryReservation { host.memoryReservation = bytes(mebibytes: reservation) }
        // ECS passes 0 or 1 CPU units as two shares, the least the kernel takes.
        host.cpuShares = min(max(definition.cpu ?? 0, 2), 262_144)
        host.privileged = definition.privileged
        host.readonlyRootfs = definition.readonlyRootFilesystem
        host.dns = definition.dnsServers
        host.dnsSearch = definition.dnsSearchDomains
        host.securityOpt = definition.dockerSecurityOptions
        host.extraHosts = definition.extraHosts?.map { "\($0.hostname):\($0.ipAddress)" }
        host.ulimits = definition.ulimits?.map {
            DockerEngine.Ulimit(name: $0.name, soft: Int64($0.softLimit), hard: Int64($0.hardLimit))
        }
        host.logConfig = definition.logConfiguration.map {
            DockerEngine.LogConfiguration(type: $0.logDriver.rawValue, config: $0.options)
        }
        if let controls = definition.systemControls, !controls.isEmpty {
            host.sysctls = Dictionary(controls.map { ($0.namespace, $0.value) }, uniquingKeysWith: { $1 })
        }

        host.links = try definition.links?.map { link throws(SpecError) in
            let parts = link.split(separator: ":", maxSplits: 1).map(String.init)
            let target = parts[0]
            guard let dockerName = record.container(named: target)?.dockerName else {
                throw SpecError("link target '\(target)' has not been created")
            }
            return "\(dockerName):\(parts.count > 1 ? parts[1] : target)"
        }
        host.volumesFrom = try definition.volumesFrom?.map { source throws(SpecError) in
            guard let dockerName = record.container(named: source.sourceContainer)?.dockerName else {
                throw SpecError("volumesFrom source '\(source.sourceContainer)' has not been created")
            }
            return source.readOnly == true ? "\(dockerName):ro" : dockerName
        }
        host.binds = try definition.mountPoints?.map { mount throws(SpecError) in
            let source: String
            if let volume = record.dockerVolumes.first(where: { $0.taskVolume == mount.sourceVolume }) {
                source = volume.dockerName
            } else if let path = record.payload.volumes.first(where: { $0.name == mount.sourceVolume })?.host?
                .sourcePath
            {
                source = path
            } else {
                throw SpecError("volume '\(mount.sourceVolume)' is not defined by the task")
            }
            return "\(source):\(mount.containerPath)" + (mount.readOnly == true ? ":ro" : "")
        }

        let mappings = definition.portMappings ?? []
        if !mappings.isEmpty, networkMode != .none {
            configuration.exposedPorts = Set(
                mappings.map { ContainerPort(UInt16($0.containerPort), $0.transport.rawValue) }
            )
        }
        if networkMode == .bridge, !mappings.isEmpty {
            var bindings: [ContainerPort: [PortBinding]] = [:]
            for mapping in mappings {
                let key = mapping.assignmentKey
                guard let hostPort = mapping.fixedHostPort ?? container.assignedHostPorts[key] else {
                    throw SpecError("no host port was chosen for \(key)")
                }
                bindings[ContainerPort(UInt16(mapping.containerPort), mapping.transport.rawValue), default: []].append(
                    PortBinding(hostPort: String(hostPort))
                )
            }
            host.portBindings = bindings
        }
        return ContainerCreateRequest(configuration: configuration, hostConfiguration: host)
    }

    /// The network bindings of a running container, as ECS reports them: IPv4 only, one per published port.
    public static func networkBindings(
        of inspect: ContainerInspect,
        definition: ContainerDefinition,
        networkMode: NetworkMode
    ) -> [NetworkBinding] {
        let mappings = definition.portMappings ?? []
        if networkMode == .host {
            return mappings.map {
                NetworkBinding(
                    bindIP: "0.0.0.0",
                    containerPort: $0.containerPort,
                    hostPort: $0.containerPort,
                    protocol: $0.transport
                )
            }
        }
        var bindings: [NetworkBinding] = []
        for mapping in mappings {
            let port = ContainerPort(UInt16(mapping.containerPort), mapping.transport.rawValue)
            for binding in inspect.networkSettings?.ports[port] ?? [] {
                guard let hostPort = binding.hostPortNumber else { continue }
                let address = binding.hostIp ?? ""
                if address.contains(":") { continue }  // IPv6, left out as ECS does by default
                bindings.append(
                    NetworkBinding(
                        bindIP: address.isEmpty ? "0.0.0.0" : address,
                        containerPort: mapping.containerPort,
                        hostPort: Int(hostPort),
                        protocol: mapping.transport
                    )
                )
            }
        }
        return bindings
    }

    /// What Docker's inspect says, in the state machine's terms.
    public static func observation(
        of inspect: ContainerInspect,
        definition: ContainerDefinition?,
        networkMode: NetworkMode
    ) -> ContainerObservation {
        let state = inspect.state
        let health = state.health.flatMap { HealthStatus(dockerStatus: $0.status) }
        if state.running || state.restarting || state.paused {
            return .running(
                dockerID: inspect.id,
                bindings: definition.map { networkBindings(of: inspect, definition: $0, networkMode: networkMode) }
                    ?? [],
                health: health,
                startedAt: Timestamp(rfc3339: state.startedAt)
            )
        }
        if state.status == "created" { return .created(dockerID: inspect.id) }
        return .exited(
            dockerID: inspect.id,
            exitCode: state.exitCode,
            reason: state.oomKilled ? outOfMemoryReason : nil,
            finishedAt: Timestamp(rfc3339: state.finishedAt)
        )
    }

    /// Whether an exit is held for Docker's `oom` event: one by SIGKILL (137) that the agent did not ask for
    /// and that Docker does not (yet) call out of memory. Docker hears of the kill and of the exit from
    /// containerd separately; under load the exit comes first, and its `die` shows `OOMKilled: false`.
    public static func awaitsOutOfMemoryEvent(_ observation: ContainerObservation, desiredStatus: DesiredStatus) -> Bool
    {
        guard case .exited(_, let exitCode, let reason, _) = observation else { return false }
        return exitCode == 137 && reason == nil && desiredStatus != .stopped
    }
}

/// A container definition that cannot be turned into a create request.
public struct SpecError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

extension HealthStatus {
    /// Docker's `healthy`, `unhealthy`, `starting`; nil for `none`.
    init?(dockerStatus: String) {
        switch dockerStatus {
        case "healthy": self = .healthy
        case "unhealthy": self = .unhealthy
        case "starting": self = .unknown
        default: return nil
        }
    }
}
