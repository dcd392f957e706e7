import BerthAgentChannel
public import BerthModel
import Foundation
import Logging

/// What RunTask and StartTask carry.
public struct TaskLaunch: Sendable, Hashable {
    public var cluster: String?
    public var taskDefinition: String
    public var count: Int
    public var group: String?
    public var startedBy: String?
    public var overrides: TaskOverride
    public var placementConstraints: [PlacementConstraint]
    public var placementStrategy: [PlacementStrategy]
    public var clientToken: String?
    public var tags: [Tag]
    /// StartTask: the instances to start one task on each; nil for RunTask.
    public var containerInstances: [String]?
    /// The service scheduler's launches: a service keeps running on a deregistered revision.
    var forService = false

    public init(
        cluster: String? = nil,
        taskDefinition: String,
        count: Int = 1,
        group: String? = nil,
        startedBy: String? = nil,
        overrides: TaskOverride = TaskOverride(),
        placementConstraints: [PlacementConstraint] = [],
        placementStrategy: [PlacementStrategy] = [],
        clientToken: String? = nil,
        tags: [Tag] = [],
        containerInstances: [String]? = nil
    ) {
        self.cluster = cluster
        self.taskDefinition = taskDefinition
        self.count = count
        self.group = group
        self.startedBy = startedBy
        self.overrides = overrides
        self.placementConstraints = placementConstraints
        self.placementStrategy = placementStrategy
        self.clientToken = clientToken
        self.tags = tags
        self.containerInstances = containerInstances
    }
}

/// Filters of ListTasks.
public struct TaskListFilter: Sendable, Hashable {
    public var cluster: String?
    public var containerInstance: String?
    public var family: String?
    public var startedBy: String?
    public var desiredStatus: DesiredStatus?
    /// The service whose tasks to list (by name or ARN).
    public var serviceName: String?

    public init(
        cluster: String? = nil,
        containerInstance: String? = nil,
        family: String? = nil,
        startedBy: String? = nil,
        desiredStatus: DesiredStatus? = nil,
        serviceName: String? = nil
    ) {
        self.cluster = cluster
        self.containerInstance = containerInstance
        self.family = family
        self.startedBy = startedBy
        self.desiredStatus = desiredStatus
        self.serviceName = serviceName
    }
}

extension ControlPlane {
    /// How many tasks the service scheduler places in one decision.
    static let serviceLaunchBatch = 100

    /// Places `count` tasks on the cluster's instances (RunTask), or one on each named instance (StartTask),
    /// persists them PENDING with their reservations, and sends them to the instances' agents.
    public func launch(
        _ request: TaskLaunch
    ) async throws(ClusterError) -> (tasks: [ClusterTask], failures: [PlacementFailure]) {
        // The service scheduler places more at once than a caller may: each placement looks at every
        // instance, and a service of thousands placed ten at a time looked at them hundreds of times.
        let most = request.forService ? Self.serviceLaunchBatch : 10
        if let instances = request.containerInstances {
            guard (1...most).contains(instances.count) else {
                throw ClusterError.invalid("containerInstances must name between 1 and 10 instances.")
            }
        } else {
            guard (1...most).contains(request.count) else {
                throw ClusterError.invalid("The count must be between 1 and 10.")
            }
        }
        if let startedBy = request.startedBy, startedBy.count > 128 {
            throw ClusterError.invalid("startedBy can be at most 128 characters.")
        }
        if let group = request.group, group.count > 255 {
            throw ClusterError.invalid("group can be at most 255 characters.")
        }
        if let token = request.clientToken, !(1...64).contains(token.count) {
            throw ClusterError.invalid("clientToken must be 1 to 64 characters.")
        }
        try Placement.validate(request.placementStrategy)
        try Self.validate(tags: request.tags)
        // What a client token is checked against; only a call with a token needs it, and it is not cheap.
        let fingerprint = request.clientToken == nil ? "" : String(describing: request)
        let now = settings.now()
        let (placed, failures) = try await transact {
            () throws(ClusterError) -> ([Staged], ([ClusterTask], [PlacementFailure])) in
            let cluster = try cluster(request.cluster)
            if let token = request.clientToken, let earlier = tokens["\(cluster.clusterName)/\(token)"]?.value {
                guard earlier.request == fingerprint else {
                    throw ClusterError(.conflict, "The clientToken was already used with different parameters.")
                }
                return ([], (earlier.taskArns.compactMap { tasks[$0]?.value }, earlier.failures))
            }
            guard let definition = taskDefinition(request.taskDefinition) else {
                throw ClusterError(.client, "Unable to find task definition '\(request.taskDefinition)'.")
            }
            // Deregistered revisions keep their running tasks but start no new ones.
            guard definition.status == .active || request.forService else {
                throw ClusterError(.client, "TaskDefinition is inactive")
            }
            for override in request.overrides.containerOverrides ?? [] {
                guard let name = override.name, definition.containerDefinitions.contains(where: { $0.name == name })
                else {
                    throw ClusterError.invalid(
                        "Override for container named \(override.name ?? "") is not a container in the TaskDefinition."
                    )
                }
            }
            try Self.validate(request.overrides, of: definition)
            let constraints = try Placement.Constraints(definition.placementConstraints + request.placementConstraints)
            let demand = Placement.demand(of: definition, overrides: request.overrides)
            let group = request.group ?? "family:\(definition.family)"
            let decision: Placement.Decision
            var failures: [PlacementFailure] = []
            if let references = request.containerInstances {
                var chosen: [String] = []
                var candidates: [String: Placement.Candidate] = [:]
                for reference in references {
                    guard let instance = instance(reference, in: cluster) else {
                        failures.append(PlacementFailure(arn: reference, reason: "MISSING"))
                        continue
                    }
                    guard instance.status == .active else {
                        failures.append(
                            PlacementFailure(
                                arn: instance.containerInstanceArn,
                                reason: instance.status == .draining ? "DRAINING" : "INACTIVE"
                            )
                        )
                        continue
                    }
                    var candidate = candidates[instance.containerInstanceArn] ?? candidate(for: instance)
                    if let reason = Placement.refusal(
                        of: candidate,
                        demand: demand,
                        group: group,
                        constraints: constraints
                    ) {
                        failures.append(PlacementFailure(arn: instance.containerInstanceArn, reason: reason))
                        continue
                    }
                    candidate.instance.reserved = candidate.instance.reserved + demand
                    candidate.taskGroups[group, default: 0] += 1
                    candidates[instance.containerInstanceArn] = candidate
                    chosen.append(instance.containerInstanceArn)
                }
                decision = Placement.Decision(instances: chosen, failures: [])
            } else {
                if Placement.placesRandomly(request.placementStrategy, constraints) {
                    let shared = settings.sharing != nil
                    // Without looking at every instance: RunTask's cost stays that of the tasks it places.
                    decision = Placement.placeRandomly(
                        count: request.count,
                        demand: demand,
                        group: group,
                        instances: instances.keys(.cluster(cluster.clusterArn)),
                        candidate: { arn in
                            guard let instance = instances[arn]?.value, instance.status == .active else { return nil }
                            return candidate(for: instance, placing: group)
                        },
                        constraints: constraints,
                        // With replicas, the instances whose agents this one holds (its own sessions, not
                        // the records, which may lag a move): it delivers their tasks itself, and other
                        // replicas' placements seldom write those instances.
                        preferring: { arn in !shared || sessions[arn] != nil },
                        using: &generator
                    )
                    if decision.instances.isEmpty,
                        !instances.values(.cluster(cluster.clusterArn)).contains(where: { $0.status == .active })
                    {
                        throw ClusterError.invalid("No Container Instances were found in your cluster.")
                    }
                } else {
                    let active = instances(in: cluster).filter { $0.status == .active }
                    guard !active.isEmpty else {
                        throw ClusterError.invalid("No Container Instances were found in your cluster.")
                    }
                    decision = Placement.place(
                        count: request.count,
                        demand: demand,
                        group: group,
                        candidates: active.map {
                            // The whole of each instance only when a memberOf expression may ask for it.
                            constraints.memberOf.isEmpty ? candidate(for: $0, placing: group) : candidate(for: $0)
                        },
                        constraints: constraints,
                        strategies: request.placementStrategy,
                        using: &generator
                    )
                }
                failures = decision.failures
            }
            var staged: [Staged] = []
            var placed: [ClusterTask] = []
            var touched: [String: ContainerInstance] = [:]
            for instanceArn in decision.instances {
                guard var instance = touched[instanceArn] ?? instances[instanceArn]?.value else { continue }
                instance.reserved = instance.reserved + demand
                touched[instanceArn] = instance
                placed.append(
                    newTask(
                        definition,
                        on: instance,
                        cluster: cluster,
                        request: request,
                        group: group,
                        demand: demand,
                        now: now
                    )
                )
            }
            staged += touched.values.map { .instance($0) }
            staged += placed.map { .task($0) }
            if let token = request.clientToken {
                let record = ClientTokenRecord(
                    token: "\(cluster.clusterName)/\(token)",
                    request: fingerprint,
                    taskArns: placed.map(\.taskArn),
                    failures: failures,
                    createdAt: now
                )
                staged.append(.token(record))
            }
            return (staged, (placed, failures))
        }
        for task in placed {
            logger.info(
                "task placed",
                metadata: [
                    "task.arn": "\(task.taskArn)", "instance": "\(task.containerInstanceArn)",
                    "taskDefinition": "\(task.family):\(task.revision)",
                ]
            )
        }
        if !failures.isEmpty { logger.info("tasks not placed", metadata: ["failures": "\(failures.map(\.reason))"]) }
        await deliver(placed)
        return (placed, failures)
    }

    /// An instance as placing tasks of `group` sees it, from the indexes: that group's tasks alone, which is
    /// all that `distinctInstance` and `spread` count (cheap enough to ask of every instance per call).
    func candidate(for instance: ContainerInstance, placing group: String) -> Placement.Candidate {
        let arn = instance.containerInstanceArn
        let here = tasks.count(.liveGroupOnInstance(instance: arn, group: group))
        return Placement.Candidate(
            instance: instance,
            taskGroups: here > 0 ? [group: here] : [:],
            runningTasks: tasks.count(.runningOnInstance(arn))
        )
    }

    /// An instance with the groups of its unstopped tasks and its RUNNING count: what the query language
    /// sees of it (memberOf, ListContainerInstances' filter).
    func candidate(for instance: ContainerInstance) -> Placement.Candidate {
        var groups: [String: Int] = [:]
        var running = 0
        for task in liveTasks(onInstance: instance.containerInstanceArn) {
            groups[task.group, default: 0] += 1
            if task.lastStatus == "RUNNING" { running += 1 }
        }
        return Placement.Candidate(instance: instance, taskGroups: groups, runningTasks: running)
    }

    func newTask(
        _ definition: TaskDefinition,
        on instance: ContainerInstance,
        cluster: Cluster,
        request: TaskLaunch,
        group: String,
        demand: Reservation,
        now: Timestamp
    ) -> ClusterTask {
        let id = Self.newID()
        let containers = Placement.containers(of: definition, overrides: request.overrides).map { container in
            TaskContainer(
                containerArn: arn("container/\(cluster.clusterName)/\(id)/\(UUID().uuidString.lowercased())"),
                name: container.name,
                image: container.image,
                imageDigest: nil,
                runtimeId: nil,
                lastStatus: "PENDING",
                exitCode: nil,
                reason: nil,
                networkBindings: [],
                healthStatus: container.healthCheck == nil ? nil : .unknown,
                cpu: container.cpu,
                memory: container.memory,
                memoryReservation: container.memoryReservation,
                essential: container.isEssential
            )
        }
        return ClusterTask(
            taskArn: arn("task/\(cluster.clusterName)/\(id)"),
            clusterArn: cluster.clusterArn,
            taskDefinitionArn: definition.taskDefinitionArn,
            containerInstanceArn: instance.containerInstanceArn,
            family: definition.family,
            revision: definition.revision,
            lastStatus: "PENDING",
            desiredStatus: .running,
            containers: containers,
            overrides: request.overrides,
            group: group,
            startedBy: request.startedBy,
            cpu: String(demand.cpu),
            memory: String(demand.memory),
            tags: request.tags,
            createdAt: now,
            healthStatus: Self.taskHealth(containers),
            version: 1,
            reservation: demand,
            acknowledgedDesiredStatus: nil,
            lastSequence: 0
        )
    }

    /// ECS's limit on the overrides of RunTask and StartTask, JSON included.
    static let maximumOverridesSize = 8192

    /// Overrides keep the task within the bounds its definition had to meet.
    static func validate(_ overrides: TaskOverride, of definition: TaskDefinition) throws(ClusterError) {
        let size = encodedSize(overrides)
        guard size <= maximumOverridesSize else {
            throw ClusterError.invalid(
                "The overrides are \(size) characters of JSON; at most \(maximumOverridesSize) are allowed."
            )
        }
        if let cpu = overrides.cpu { _ = try TaskSize.cpu(cpu) }
        if let memory = overrides.memory { _ = try TaskSize.memory(memory) }
        for container in Placement.containers(of: definition, overrides: overrides) {
            try validateResources(
                of: container.name,
                cpu: container.cpu,
                memory: container.memory,
                memoryReservation: container.memoryReservation
            )
        }
    }

    static func newID() -> String {
        UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }

    public func describeTasks(
        _ references: [String],
        cluster reference: String?
    ) throws(ClusterError) -> (tasks: [ClusterTask], failures: [PlacementFailure]) {
        guard (1...100).contains(references.count) else {
            throw ClusterError.invalid("Between 1 and 100 tasks can be described per call.")
        }
        let cluster = try cluster(reference)
        var found: [ClusterTask] = []
        var failures: [PlacementFailure] = []
        for reference in references {
            if let task = task(reference, in: cluster) {
                found.append(task)
            } else {
                failures.append(PlacementFailure(arn: reference, reason: "MISSING"))
            }
        }
        return (found, failures)
    }

    /// Task ARNs by filter, oldest first; the desired status defaults to RUNNING, as in ECS. Read from the
    /// narrowest index the filter allows, so the STOPPED tasks kept for their retention cost nothing when
    /// RUNNING ones are listed.
    public func listTasks(_ filter: TaskListFilter) throws(ClusterError) -> [Listed<String>] {
        let cluster = try cluster(filter.cluster)
        var instanceArn: String?
        if let reference = filter.containerInstance {
            guard let instance = instance(reference, in: cluster) else {
                throw ClusterError.invalid("The referenced container instance was not found.")
            }
            instanceArn = instance.containerInstanceArn
        }
        let desired = filter.desiredStatus ?? .running
        let group = try filter.serviceName.map { name throws(ClusterError) in
            try serviceTaskGroup(name, cluster: filter.cluster)
        }
        let candidates: [ClusterTask]
        if let instanceArn {
            candidates = tasks(onInstance: instanceArn)
        } else if let group {
            candidates = tasks.values(.group(cluster: cluster.clusterArn, group: group))
        } else {
            candidates = tasks.values(.clusterDesired(cluster.clusterArn, desired))
        }
        return
            candidates
            .filter { task in
                task.desiredStatus == desired && task.clusterArn == cluster.clusterArn
                    && (group.map { $0 == task.group } ?? true)
                    && (filter.family.map { $0 == task.family } ?? true)
                    && (filter.startedBy.map { $0 == task.startedBy } ?? true)
            }
            .map { Listed($0.taskArn, at: ListPosition(time: $0.createdAt.secondsSinceEpoch, name: $0.taskArn)) }
            .sortedByPosition()
    }

    /// Asks a task to stop: desired STOPPED now, the agent stops its containers and reports STOPPED.
    public func stopTask(
        _ reference: String,
        cluster clusterReference: String?,
        reason: String?,
        stopCode: TaskStopCode = .userInitiated
    ) async throws(ClusterError) -> ClusterTask {
        if let reason, reason.count > 255 { throw ClusterError.invalid("The reason can be at most 255 characters.") }
        let now = settings.now()
        let stopped = try await transact { () throws(ClusterError) -> ([Staged], ClusterTask) in
            let cluster = try cluster(clusterReference)
            guard var task = task(reference, in: cluster) else {
                throw ClusterError.invalid("The referenced task was not found.")
            }
            guard task.desiredStatus == .running else { return ([], task) }
            task.desiredStatus = .stopped
            task.stoppingAt = now
            task.stoppedReason = reason ?? "Task stopped by user"
            task.stopCode = stopCode
            task.version += 1
            var staged: [Staged] = [.task(task)]
            // A task whose instance is gone has no agent to stop it: it is STOPPED at once.
            if let instance = instances[task.containerInstanceArn]?.value, instance.status == .inactive {
                task.lastStatus = "STOPPED"
                task.stoppedAt = now
                staged = [.task(task)]
            }
            return (staged, task)
        }
        logger.info("task stop requested", metadata: ["task.arn": "\(stopped.taskArn)"])
        if !stopped.isStopped { await deliver([stopped]) }
        serviceNeedsPass(forTaskIn: stopped.group, cluster: stopped.clusterArn)
        return stopped
    }
}
