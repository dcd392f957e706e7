public import BerthModel

/// The checks a task must pass before the agent touches Docker for it, and the dependency graph they
/// produce: links imply START, volumesFrom implies CREATE, dependsOn says what it says.
public struct TaskValidation: Sendable {
    /// What this host allows.
    public struct HostPolicy: Sendable, Hashable {
        public var privilegedDisabled: Bool
        public var availableLoggingDrivers: Set<LoggingDriver>

        public init(privilegedDisabled: Bool = false, availableLoggingDrivers: Set<LoggingDriver> = [.jsonFile, .none])
        {
            self.privilegedDisabled = privilegedDisabled
            self.availableLoggingDrivers = availableLoggingDrivers
        }
    }

    /// Every dependency of every container, explicit and implied, by dependent container name.
    public static func dependencies(of payload: TaskPayload) -> [String: [ContainerDependency]] {
        var result: [String: [ContainerDependency]] = [:]
        for container in payload.containers {
            var dependencies = container.dependsOn ?? []
            for link in container.links ?? [] {
                let target = String(link.prefix(while: { $0 != ":" }))
                dependencies.append(ContainerDependency(containerName: target, condition: .start))
            }
            for source in container.volumesFrom ?? [] {
                dependencies.append(ContainerDependency(containerName: source.sourceContainer, condition: .create))
            }
            result[container.name] = dependencies
        }
        return result
    }

    /// Returns why the task cannot run here, as an ECS-style reason (`TaskDependencyError: ...`), or nil.
    public static func problem(with payload: TaskPayload, policy: HostPolicy) -> String? {
        if let problem = structuralProblem(payload) { return "UnrecognizedTaskError: \(problem)" }
        if let problem = dependencyProblem(payload) { return "TaskDependencyError: \(problem)" }
        if let problem = hostProblem(payload, policy) { return "CannotCreateContainerError: \(problem)" }
        return nil
    }

    private static func structuralProblem(_ payload: TaskPayload) -> String? {
        if payload.containers.isEmpty { return "the task has no containers" }
        var names = Set<String>()
        for container in payload.containers {
            if container.name.isEmpty { return "a container has no name" }
            if container.image.isEmpty { return "container '\(container.name)' has no image" }
            if !names.insert(container.name).inserted { return "two containers are named '\(container.name)'" }
        }
        if !payload.containers.contains(where: \.isEssential) { return "the task has no essential container" }
        if payload.networkMode == .awsvpc { return "network mode awsvpc needs elastic network interfaces; use bridge" }
        var volumes = Set<String>()
        for volume in payload.volumes {
            if !volumes.insert(volume.name).inserted { return "two volumes are named '\(volume.name)'" }
            if volume.dockerVolumeConfiguration?.scope == .task, volume.dockerVolumeConfiguration?.autoprovision == true
            {
                return "volume '\(volume.name)': autoprovision applies to shared volumes only, not to task scope"
            }
        }
        for container in payload.containers {
            for mount in container.mountPoints ?? [] {
                if !volumes.contains(mount.sourceVolume) {
                    return
                        "container '\(container.name)' mounts volume '\(mount.sourceVolume)', which the task does not define"
                }
                if !mount.containerPath.hasPrefix("/") {
                    return "container '\(container.name)': mount path '\(mount.containerPath)' is not absolute"
                }
            }
            for mapping in container.portMappings ?? [] {
                guard (1...65535).contains(mapping.containerPort) else {
                    return "container '\(container.name)': container port \(mapping.containerPort) is not 1-65535"
                }
                if let host = mapping.hostPort, !(0...65535).contains(host) {
                    return "container '\(container.name)': host port \(host) is not 0-65535"
                }
                if payload.networkMode == .host, let host = mapping.fixedHostPort, host != mapping.containerPort {
                    return
                        "container '\(container.name)': in host network mode the host port must equal the container port"
                }
            }
            for link in container.links ?? [] {
                let parts = link.split(separator: ":", omittingEmptySubsequences: false)
                if parts.count > 2 || parts.contains(where: \.isEmpty) {
                    return "container '\(container.name)': link '\(link)' is not NAME or NAME:ALIAS"
                }
            }
            if let memory = container.memory, let reservation = container.memoryReservation, reservation > memory {
                return "container '\(container.name)': memoryReservation \(reservation) exceeds memory \(memory)"
            }
        }
        return nil
    }

    private static func dependencyProblem(_ payload: TaskPayload) -> String? {
        let graph = dependencies(of: payload)
        let byName = Dictionary(uniqueKeysWithValues: payload.containers.map { ($0.name, $0) })
        for container in payload.containers {
            for dependency in graph[container.name] ?? [] {
                guard let target = byName[dependency.containerName] else {
                    return
                        "container '\(container.name)' depends on '\(dependency.containerName)', which is not in the task"
                }
                if target.name == container.name { return "container '\(container.name)' depends on itself" }
                if dependency.condition == .healthy, target.healthCheck == nil {
                    return "container '\(container.name)' waits for '\(target.name)' to be HEALTHY, "
                        + "but '\(target.name)' has no health check"
                }
            }
        }
        if let cycle = cycle(in: graph) {
            return "the containers depend on each other in a cycle: \(cycle.joined(separator: " -> "))"
        }
        return nil
    }

    /// The longest path Linux resolves (PATH_MAX).
    static let maximumPathLength = 4096

    private static func hostProblem(_ payload: TaskPayload, _ policy: HostPolicy) -> String? {
        for container in payload.containers {
            // runc writes these back in its errors, and hangs for good on an error longer than a pipe holds
            // (64 KiB), taking the container's Docker calls with it; no longer one can name anything anyway.
            let executable = container.entryPoint?.first ?? container.command?.first
            if let executable, executable.utf8.count > maximumPathLength {
                return "container '\(container.name)': the executable's name is \(executable.utf8.count) bytes, "
                    + "longer than a path can be (\(maximumPathLength))"
            }
            if let directory = container.workingDirectory, directory.utf8.count > maximumPathLength {
                return "container '\(container.name)': the working directory is \(directory.utf8.count) bytes, "
                    + "longer than a path can be (\(maximumPathLength))"
            }
            if let user = container.user, user.utf8.count > 256 {
                return "container '\(container.name)': the user is \(user.utf8.count) bytes; a user or uid:gid "
                    + "is at most 256"
            }
            if container.privileged == true, policy.privilegedDisabled {
                return "container '\(container.name)' is privileged, but privileged containers are disabled on this "
                    + "instance (ECS_DISABLE_PRIVILEGED)"
            }
            if let driver = container.logConfiguration?.logDriver, !policy.availableLoggingDrivers.contains(driver) {
                return "container '\(container.name)' logs with '\(driver.rawValue)', which this instance does not "
                    + "offer (ECS_AVAILABLE_LOGGING_DRIVERS)"
            }
        }
        return nil
    }

    /// A cycle of container names, first name repeated at the end, or nil.
    static func cycle(in graph: [String: [ContainerDependency]]) -> [String]? {
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var path: [String] = []
        func visit(_ name: String) -> [String]? {
            switch marks[name] {
            case .done: return nil
            case .visiting:
                let start = path.firstIndex(of: name) ?? 0
                return Array(path[start...]) + [name]
            case nil: break
            }
            marks[name] = .visiting
            path.append(name)
            for dependency in graph[name] ?? [] {
                if let found = visit(dependency.containerName) { return found }
            }
            path.removeLast()
            marks[name] = .done
            return nil
        }
        for name in graph.keys.sorted() {
            if let found = visit(name) { return found }
        }
        return nil
    }
}
