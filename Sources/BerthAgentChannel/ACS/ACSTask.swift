public import BerthModel

/// `Task` of a payload, as the ECS agent communication model shapes it: the revision as a string, the
/// task's CPU as a number, each container's Docker-only options in `dockerConfig`.
///
/// `stoppedReason` and `stopCode` are Berth's own members (the ECS agent never reports a stop reason the
/// control plane chose, Berth's agent reports StopTask's): decoders of the model ignore members they do
/// not know, so the frame stays one the ECS agent reads.
public struct ACSTask: Sendable, Hashable, Codable {
    public var arn: String
    public var taskClusterArn: String?
    public var family: String
    public var version: String
    public var desiredStatus: String
    public var containers: [ACSContainer]
    public var volumes: [ACSVolume]?
    public var networkMode: String?
    public var cpu: Double?
    public var memory: Int?
    public var stoppedReason: String?
    public var stopCode: String?

    public init(_ payload: TaskPayload) {
        arn = payload.taskArn
        taskClusterArn = payload.clusterArn
        family = payload.family
        version = String(payload.revision)
        desiredStatus = payload.desiredStatus.rawValue
        containers = payload.containers.map { ACSContainer($0, containerArn: payload.containerArns?[$0.name]) }
        volumes = payload.volumes.isEmpty ? nil : payload.volumes.map(ACSVolume.init)
        networkMode = payload.networkMode?.rawValue
        cpu = payload.cpu.map(Double.init)
        memory = payload.memory
        stoppedReason = payload.stoppedReason
        stopCode = payload.stopCode?.rawValue
    }

    /// The task as the agent runs it; the error names the member at fault, from the task down.
    func taskPayload(clusterArn payloadClusterArn: String?) throws(ControlPlaneError) -> TaskPayload {
        guard let revision = Int(version), revision > 0 else {
            throw ControlPlaneError(.badFrame, "version: \"\(version)\" is not a revision number")
        }
        guard let desired = DesiredStatus(rawValue: desiredStatus) else {
            throw ControlPlaneError(.badFrame, "desiredStatus: \"\(desiredStatus)\" is neither RUNNING nor STOPPED")
        }
        guard let clusterArn = taskClusterArn ?? payloadClusterArn else {
            throw ControlPlaneError(.badFrame, "taskClusterArn is missing, and the payload names no clusterArn")
        }
        var definitions: [ContainerDefinition] = []
        var containerArns: [String: String] = [:]
        for (index, container) in containers.enumerated() {
            do {
                definitions.append(try container.containerDefinition())
            } catch {
                throw ControlPlaneError(.badFrame, "containers[\(index)].\(error.message)")
            }
            if let arn = container.containerArn { containerArns[container.name] = arn }
        }
        var taskVolumes: [Volume] = []
        for (index, volume) in (volumes ?? []).enumerated() {
            do {
                taskVolumes.append(try volume.volume())
            } catch {
                throw ControlPlaneError(.badFrame, "volumes[\(index)].\(error.message)")
            }
        }
        var payload = TaskPayload(
            taskArn: arn,
            clusterArn: clusterArn,
            family: family,
            revision: revision,
            desiredStatus: desired,
            containers: definitions,
            volumes: taskVolumes
        )
        if let networkMode {
            guard let mode = NetworkMode(rawValue: networkMode) else {
                throw ControlPlaneError(.badFrame, "networkMode: \"\(networkMode)\" is not a network mode")
            }
            payload.networkMode = mode
        }
        if let cpu {
            guard cpu.isFinite, cpu >= 0, cpu <= Double(Int32.max) else {
                throw ControlPlaneError(.badFrame, "cpu: \(cpu) is not a number of CPU units")
            }
            payload.cpu = Int(cpu.rounded())
        }
        payload.memory = memory
        payload.stoppedReason = stoppedReason
        if let stopCode {
            guard let code = TaskStopCode(rawValue: stopCode) else {
                throw ControlPlaneError(.badFrame, "stopCode: \"\(stopCode)\" is not a task stop code")
            }
            payload.stopCode = code
        }
        payload.containerArns = containerArns.isEmpty ? nil : containerArns
        return payload
    }
}

/// `Container` of a payload's task.
public struct ACSContainer: Sendable, Hashable, Codable {
    public var name: String
    public var image: String
    public var containerArn: String?
    public var cpu: Int?
    public var memory: Int?
    public var essential: Bool?
    public var entryPoint: [String]?
    public var command: [String]?
    /// A map in the model: the definition's order of variables is not kept (Docker gives it no meaning).
    public var environment: [String: String]?
    public var links: [String]?
    public var portMappings: [ACSPortMapping]?
    public var mountPoints: [MountPoint]?
    public var volumesFrom: [VolumeFrom]?
    public var dependsOn: [ACSContainerDependency]?
    public var startTimeout: Int?
    public var stopTimeout: Int?
    public var privileged: Bool?
    public var dockerConfig: ACSDockerConfig?

    init(_ definition: ContainerDefinition, containerArn: String?) {
        name = definition.name
        image = definition.image
        self.containerArn = containerArn
        cpu = definition.cpu
        memory = definition.memory
        essential = definition.essential
        entryPoint = definition.entryPoint
        command = definition.command
        environment = definition.environment.map { variables in
            Dictionary(variables.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
        }
        links = definition.links
        portMappings = definition.portMappings?.map {
            ACSPortMapping(containerPort: $0.containerPort, hostPort: $0.hostPort, protocol: $0.protocol?.rawValue)
        }
        mountPoints = definition.mountPoints
        volumesFrom = definition.volumesFrom
        dependsOn = definition.dependsOn?.map {
            ACSContainerDependency(containerName: $0.containerName, condition: $0.condition.rawValue)
        }
        startTimeout = definition.startTimeout
        stopTimeout = definition.stopTimeout
        privileged = definition.privileged
        dockerConfig = ACSDockerConfig(definition)
    }

    func containerDefinition() throws(ControlPlaneError) -> ContainerDefinition {
        var definition = ContainerDefinition(name: name, image: image)
        definition.cpu = cpu
        definition.memory = memory
        definition.essential = essential
        definition.entryPoint = entryPoint
        definition.command = command
        definition.environment = environment.map { variables in
            variables.sorted { $0.key < $1.key }.map { KeyValuePair(name: $0.key, value: $0.value) }
        }
        definition.links = links
        if let portMappings {
            var mappings: [PortMapping] = []
            for (index, mapping) in portMappings.enumerated() {
                var transport: TransportProtocol?
                if let name = mapping.protocol {
                    guard let known = TransportProtocol(rawValue: name) else {
                        throw ControlPlaneError(
                            .badFrame,
                            "portMappings[\(index)].protocol: \"\(name)\" is neither tcp nor udp"
                        )
                    }
                    transport = known
                }
                mappings.append(
                    PortMapping(containerPort: mapping.containerPort, hostPort: mapping.hostPort, protocol: transport)
                )
            }
            definition.portMappings = mappings
        }
        definition.mountPoints = mountPoints
        definition.volumesFrom = volumesFrom
        if let dependsOn {
            var dependencies: [ContainerDependency] = []
            for (index, dependency) in dependsOn.enumerated() {
                guard let condition = ContainerCondition(rawValue: dependency.condition) else {
                    throw ControlPlaneError(
                        .badFrame,
                        "dependsOn[\(index)].condition: \"\(dependency.condition)\" is not a container condition"
                    )
                }
                dependencies.append(ContainerDependency(containerName: dependency.containerName, condition: condition))
            }
            definition.dependsOn = dependencies
        }
        definition.startTimeout = startTimeout
        definition.stopTimeout = stopTimeout
        definition.privileged = privileged
        if let dockerConfig {
            do {
                try dockerConfig.apply(to: &definition)
            } catch {
                throw ControlPlaneError(.badFrame, "dockerConfig.\(error.message)")
            }
        }
        return definition
    }
}

/// `PortMapping` (the protocol as the model's lower-case string).
public struct ACSPortMapping: Sendable, Hashable, Codable {
    public var containerPort: Int
    public var hostPort: Int?
    public var `protocol`: String?
}

/// `ContainerDependency`.
public struct ACSContainerDependency: Sendable, Hashable, Codable {
    public var containerName: String
    public var condition: String
}

/// `Volume` of a payload's task: `type` says which of `host` and `dockerVolumeConfiguration` applies.
public struct ACSVolume: Sendable, Hashable, Codable {
    public var name: String
    public var type: String?
    public var host: HostVolumeProperties?
    public var dockerVolumeConfiguration: DockerVolumeConfiguration?

    init(_ volume: Volume) {
        name = volume.name
        type = volume.dockerVolumeConfiguration == nil ? "host" : "docker"
        host = volume.host
        dockerVolumeConfiguration = volume.dockerVolumeConfiguration
    }

    func volume() throws(ControlPlaneError) -> Volume {
        switch type ?? "host" {
        case "host":
            // No source path: a scratch volume, as in the ECS API.
            return Volume(name: name, host: host)
        case "docker":
            guard let dockerVolumeConfiguration else {
                throw ControlPlaneError(.badFrame, "dockerVolumeConfiguration is missing for a docker volume")
            }
            return Volume(name: name, host: host, dockerVolumeConfiguration: dockerVolumeConfiguration)
        case let other:
            throw ControlPlaneError(.badFrame, "type: \"\(other)\" volumes are not supported on this host")
        }
    }
}
