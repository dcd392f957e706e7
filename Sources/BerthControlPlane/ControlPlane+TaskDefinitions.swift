public import BerthModel
import Foundation
import Logging

/// What RegisterTaskDefinition carries.
public struct TaskDefinitionRegistration: Sendable, Hashable {
    public var family: String
    public var containerDefinitions: [ContainerDefinition]
    public var volumes: [Volume]
    public var networkMode: NetworkMode?
    public var cpu: String?
    public var memory: String?
    public var placementConstraints: [PlacementConstraint]
    public var requiresCompatibilities: [String]?
    public var taskRoleArn: String?
    public var executionRoleArn: String?
    public var tags: [Tag]

    public init(
        family: String,
        containerDefinitions: [ContainerDefinition],
        volumes: [Volume] = [],
        networkMode: NetworkMode? = nil,
        cpu: String? = nil,
        memory: String? = nil,
        placementConstraints: [PlacementConstraint] = [],
        requiresCompatibilities: [String]? = nil,
        taskRoleArn: String? = nil,
        executionRoleArn: String? = nil,
        tags: [Tag] = []
    ) {
        self.family = family
        self.containerDefinitions = containerDefinitions
        self.volumes = volumes
        self.networkMode = networkMode
        self.cpu = cpu
        self.memory = memory
        self.placementConstraints = placementConstraints
        self.requiresCompatibilities = requiresCompatibilities
        self.taskRoleArn = taskRoleArn
        self.executionRoleArn = executionRoleArn
        self.tags = tags
    }
}

public enum TaskDefinitionFilter: String, Sendable {
    case active = "ACTIVE"
    case inactive = "INACTIVE"
    case deleteInProgress = "DELETE_IN_PROGRESS"
    case all = "ALL"
}

extension ControlPlane {
    /// Registers the next revision of a family.
    public func registerTaskDefinition(
        _ registration: TaskDefinitionRegistration
    ) async throws(ClusterError) -> TaskDefinition {
        try Self.validate(registration)
        // Stored as ECS stores them: whole CPU units and MiB ("1 vCPU" becomes "1024").
        let cpu = try registration.cpu.map { text throws(ClusterError) in String(try TaskSize.cpu(text)) }
        let memory = try registration.memory.map { text throws(ClusterError) in String(try TaskSize.memory(text)) }
        let now = settings.now()
        let registered = try await transact { () throws(ClusterError) -> ([Staged], TaskDefinition) in
            let latest = definitions.values(.family(registration.family)).map(\.revision).max() ?? 0
            let revision = latest + 1
            let definition = TaskDefinition(
                taskDefinitionArn: arn("task-definition/\(registration.family):\(revision)"),
                family: registration.family,
                revision: revision,
                status: .active,
                containerDefinitions: registration.containerDefinitions,
                volumes: registration.volumes,
                networkMode: registration.networkMode,
                cpu: cpu,
                memory: memory,
                placementConstraints: registration.placementConstraints,
                requiresCompatibilities: registration.requiresCompatibilities,
                taskRoleArn: registration.taskRoleArn,
                executionRoleArn: registration.executionRoleArn,
                tags: registration.tags,
                registeredAt: now,
                deregisteredAt: nil
            )
            return ([.definition(definition)], definition)
        }
        logger.info("task definition registered", metadata: ["taskDefinition": "\(registered.key)"])
        return registered
    }

    static func validate(_ registration: TaskDefinitionRegistration) throws(ClusterError) {
        let family = registration.family
        guard (1...255).contains(family.count),
            family.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        else {
            throw ClusterError(
                .client,
                "Family name must be 1 to 255 letters (uppercase and lowercase), numbers, hyphens and underscores."
            )
        }
        let containers = registration.containerDefinitions
        guard !containers.isEmpty else {
            throw ClusterError(.client, "Container list cannot be empty.")
        }
        guard containers.count <= 10 else {
            throw ClusterError(.client, "Too many containers: a task definition can have at most 10.")
        }
        var names = Set<String>()
        for container in containers {
            guard !container.name.isEmpty, container.name.count <= 255 else {
                throw ClusterError(.client, "Container name must be 1 to 255 characters.")
            }
            guard names.insert(container.name).inserted else {
                throw ClusterError(.client, "Duplicate container name found: \(container.name).")
            }
            guard !container.image.isEmpty else {
                throw ClusterError(.client, "Container.image should not be null or empty.")
            }
            if registration.memory == nil, container.memory == nil, container.memoryReservation == nil {
                throw ClusterError(
                    .client,
                    "Invalid setting for container '\(container.name)'. At least one of 'memory' or 'memoryReservation' must be specified."
                )
            }
            try Self.validateResources(
                of: container.name,
                cpu: container.cpu,
                memory: container.memory,
                memoryReservation: container.memoryReservation
            )
            if let check = container.healthCheck { try Self.validate(check, of: container.name) }
            for mapping in container.portMappings ?? [] {
                guard (1...65535).contains(mapping.containerPort) else {
                    throw ClusterError(
                        .client,
                        "Invalid containerPort \(mapping.containerPort) in '\(container.name)'."
                    )
                }
                if let host = mapping.hostPort, !(0...65535).contains(host) {
                    throw ClusterError(.client, "Invalid hostPort \(host) in '\(container.name)'.")
                }
            }
            for mount in container.mountPoints ?? []
            where !registration.volumes.contains(where: { $0.name == mount.sourceVolume }) {
                throw ClusterError(
                    .client,
                    "Invalid 'mountPoints' setting for container '\(container.name)'. Unknown volume '\(mount.sourceVolume)'."
                )
            }
        }
        var fixedPorts = Set<String>()
        for container in containers {
            for mapping in container.portMappings ?? [] {
                guard let port = mapping.fixedHostPort else { continue }
                guard fixedPorts.insert("\(port)/\(mapping.transport.rawValue)").inserted else {
                    throw ClusterError(.client, "Host port \(port) is mapped more than once in the task definition.")
                }
            }
        }
        var volumeNames = Set<String>()
        for volume in registration.volumes where !volumeNames.insert(volume.name).inserted {
            throw ClusterError(.client, "Duplicate volume name found: \(volume.name).")
        }
        for constraint in registration.placementConstraints where constraint.type != "memberOf" {
            throw ClusterError(.client, "Task definitions only support memberOf placement constraints.")
        }
        _ = try Placement.Constraints(registration.placementConstraints)
        try validate(tags: registration.tags)
        let size = encodedSize(registration.containerDefinitions) + encodedSize(registration.volumes)
        guard size <= maximumTaskDefinitionSize else {
            throw ClusterError(
                .client,
                "The task definition's containers and volumes are \(size) bytes; ECS allows at most \(maximumTaskDefinitionSize)."
            )
        }
    }

    /// ECS's quota on a task definition's size.
    static let maximumTaskDefinitionSize = 65_536

    /// The size of a value as JSON; values that cannot be encoded count as too large.
    static func encodedSize(_ value: some Encodable) -> Int {
        (try? JSONEncoder().encode(value).count) ?? Int.max
    }

    /// A container's cpu and memory, as a definition or an override gives them: within what Docker takes.
    static func validateResources(
        of name: String,
        cpu: Int?,
        memory: Int?,
        memoryReservation: Int?
    ) throws(ClusterError) {
        if let cpu, !(0...TaskSize.cpuUnits.upperBound).contains(cpu) {
            throw ClusterError(
                .client,
                "Invalid setting for container '\(name)'. The cpu must be between 0 and \(TaskSize.cpuUnits.upperBound) units."
            )
        }
        if let memory, !TaskSize.memoryMiB.contains(memory) {
            throw ClusterError(
                .client,
                "Invalid setting for container '\(name)'. The memory must be at least 6 MiB."
            )
        }
        if let memoryReservation, !(1...TaskSize.memoryMiB.upperBound).contains(memoryReservation) {
            throw ClusterError(
                .client,
                "Invalid setting for container '\(name)'. The memoryReservation must be a positive number of MiB."
            )
        }
        if let memory, let memoryReservation, memoryReservation > memory {
            throw ClusterError(
                .client,
                "Invalid setting for container '\(name)'. memoryReservation must be less than or equal to memory."
            )
        }
    }

    /// A container health check's bounds, as ECS documents them.
    static func validate(_ check: HealthCheck, of name: String) throws(ClusterError) {
        let bounds: [(String, Int?, ClosedRange<Int>)] = [
            ("interval", check.interval, 5...300), ("timeout", check.timeout, 2...60),
            ("retries", check.retries, 1...10), ("startPeriod", check.startPeriod, 0...300),
        ]
        for (field, value, range) in bounds {
            if let value, !range.contains(value) {
                throw ClusterError(
                    .client,
                    "Invalid setting for container '\(name)'. The healthCheck \(field) must be between \(range.lowerBound) and \(range.upperBound)."
                )
            }
        }
        if check.command.isEmpty {
            throw ClusterError(.client, "Invalid setting for container '\(name)'. The healthCheck command is empty.")
        }
    }

    public func describeTaskDefinition(_ reference: String) throws(ClusterError) -> TaskDefinition {
        guard let definition = taskDefinition(reference) else {
            throw ClusterError(.client, "Unable to describe task definition.")
        }
        return definition
    }

    /// Task definition ARNs ordered by family then revision.
    public func listTaskDefinitions(
        familyPrefix: String?,
        status: TaskDefinitionFilter,
        descending: Bool
    ) -> [Listed<String>] {
        var listed: [Listed<String>] = []
        for definition in definitions.values.map(\.value) {
            if let familyPrefix, !definition.family.hasPrefix(familyPrefix) { continue }
            if status != .all, definition.status.rawValue != status.rawValue { continue }
            let position = ListPosition(name: definition.family, number: definition.revision)
            listed.append(Listed(definition.taskDefinitionArn, at: position))
        }
        return listed.sortedByPosition(descending: descending)
    }

    /// Families with an ACTIVE revision (ACTIVE), with none (INACTIVE), or all.
    public func listTaskDefinitionFamilies(familyPrefix: String?, status: TaskDefinitionFilter) -> [Listed<String>] {
        familyNames(familyPrefix: familyPrefix, status: status).map { Listed($0, at: ListPosition(name: $0)) }
    }

    private func familyNames(familyPrefix: String?, status: TaskDefinitionFilter) -> [String] {
        var active = Set<String>()
        var all = Set<String>()
        for definition in definitions.values.map(\.value) where familyPrefix.map(definition.family.hasPrefix) ?? true {
            all.insert(definition.family)
            if definition.status == .active { active.insert(definition.family) }
        }
        switch status {
        case .active: return active.sorted()
        case .inactive, .deleteInProgress: return all.subtracting(active).sorted()
        case .all: return all.sorted()
        }
    }

    /// Deregisters one revision: it becomes INACTIVE; tasks running from it go on; no new runs.
    public func deregisterTaskDefinition(_ reference: String) async throws(ClusterError) -> TaskDefinition {
        let now = settings.now()
        return try await transact { () throws(ClusterError) -> ([Staged], TaskDefinition) in
            guard reference.contains(":"), var definition = taskDefinition(reference) else {
                throw ClusterError(
                    .client,
                    "The specified task definition does not exist. Specify a valid family:revision or ARN."
                )
            }
            guard definition.status == .active else { return ([], definition) }
            definition.status = .inactive
            definition.deregisteredAt = now
            return ([.definition(definition)], definition)
        }
    }

    /// Deletes INACTIVE revisions (they then show DELETE_IN_PROGRESS); ACTIVE ones are failures.
    public func deleteTaskDefinitions(
        _ references: [String]
    ) async throws(ClusterError) -> (definitions: [TaskDefinition], failures: [PlacementFailure]) {
        guard (1...10).contains(references.count) else {
            throw ClusterError.invalid("Between 1 and 10 task definitions can be deleted per call.")
        }
        return try await transact {
            () throws(ClusterError) -> ([Staged], ([TaskDefinition], [PlacementFailure])) in
            var staged: [Staged] = []
            var deleted: [TaskDefinition] = []
            var failures: [PlacementFailure] = []
            for reference in references {
                guard reference.contains(":"), var definition = taskDefinition(reference) else {
                    failures.append(PlacementFailure(arn: reference, reason: "TASK_DEFINITION_NOT_FOUND"))
                    continue
                }
                guard definition.status != .active else {
                    failures.append(
                        PlacementFailure(
                            arn: definition.taskDefinitionArn,
                            reason:
                                "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
                        )
                    )
                    continue
                }
                definition.status = .deleteInProgress
                staged.append(.definition(definition))
                deleted.append(definition)
            }
            return (staged, (deleted, failures))
        }
    }
}
