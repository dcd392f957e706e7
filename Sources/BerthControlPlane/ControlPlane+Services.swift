import BerthModel
import Foundation
import Logging

/// What CreateService carries.
public struct ServiceRequest: Sendable, Hashable {
    public var cluster: String?
    public var serviceName: String
    public var taskDefinition: String
    public var desiredCount: Int
    public var schedulingStrategy: SchedulingStrategy
    public var deploymentConfiguration: DeploymentConfiguration?
    public var placementConstraints: [PlacementConstraint]
    public var placementStrategy: [PlacementStrategy]
    public var tags: [Tag]

    public init(
        cluster: String? = nil,
        serviceName: String,
        taskDefinition: String,
        desiredCount: Int,
        schedulingStrategy: SchedulingStrategy = .replica,
        deploymentConfiguration: DeploymentConfiguration? = nil,
        placementConstraints: [PlacementConstraint] = [],
        placementStrategy: [PlacementStrategy] = [],
        tags: [Tag] = []
    ) {
        self.cluster = cluster
        self.serviceName = serviceName
        self.taskDefinition = taskDefinition
        self.desiredCount = desiredCount
        self.schedulingStrategy = schedulingStrategy
        self.deploymentConfiguration = deploymentConfiguration
        self.placementConstraints = placementConstraints
        self.placementStrategy = placementStrategy
        self.tags = tags
    }
}

/// What UpdateService carries: nil leaves a setting as it is.
public struct ServiceUpdate: Sendable, Hashable {
    public var cluster: String?
    public var service: String
    public var desiredCount: Int?
    public var taskDefinition: String?
    public var forceNewDeployment: Bool
    public var deploymentConfiguration: DeploymentConfiguration?
    public var placementConstraints: [PlacementConstraint]?
    public var placementStrategy: [PlacementStrategy]?

    public init(
        cluster: String? = nil,
        service: String,
        desiredCount: Int? = nil,
        taskDefinition: String? = nil,
        forceNewDeployment: Bool = false,
        deploymentConfiguration: DeploymentConfiguration? = nil,
        placementConstraints: [PlacementConstraint]? = nil,
        placementStrategy: [PlacementStrategy]? = nil
    ) {
        self.cluster = cluster
        self.service = service
        self.desiredCount = desiredCount
        self.taskDefinition = taskDefinition
        self.forceNewDeployment = forceNewDeployment
        self.deploymentConfiguration = deploymentConfiguration
        self.placementConstraints = placementConstraints
        self.placementStrategy = placementStrategy
    }
}

extension ControlPlane {
    // MARK: Operations

    public func createService(_ request: ServiceRequest) async throws(ClusterError) -> ClusterService {
        let name = request.serviceName
        guard (1...255).contains(name.count),
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        else {
            throw ClusterError.invalid(
                "Service names can have up to 255 letters (uppercase and lowercase), numbers, hyphens and underscores."
            )
        }
        try Self.validate(desiredCount: request.desiredCount)
        let daemon = request.schedulingStrategy == .daemon
        // DAEMON: at most one task per instance, so never more than 100%; none need stay up by default.
        let configuration =
            request.deploymentConfiguration
            ?? (daemon
                ? DeploymentConfiguration(maximumPercent: 100, minimumHealthyPercent: 0) : DeploymentConfiguration())
        if daemon {
            guard configuration.maximumPercent == 100 else {
                throw ClusterError.invalid("The maximumPercent of a DAEMON service must be 100.")
            }
            guard request.placementStrategy.isEmpty else {
                throw ClusterError.invalid(
                    "Placement strategies are not supported with the DAEMON scheduling strategy."
                )
            }
        }
        try Self.validate(configuration)
        try Placement.validate(request.placementStrategy)
        _ = try Placement.Constraints(request.placementConstraints)
        try Self.validate(tags: request.tags)
        let now = settings.now()
        let created = try await transact { () throws(ClusterError) -> ([Staged], ClusterService) in
            let cluster = try cluster(request.cluster)
            let arn = arn("service/\(cluster.clusterName)/\(name)")
            if let existing = services[arn]?.value, existing.status != .inactive {
                throw ClusterError.invalid("Creation of service was not idempotent.")
            }
            guard let definition = taskDefinition(request.taskDefinition) else {
                throw ClusterError(.client, "Unable to find task definition '\(request.taskDefinition)'.")
            }
            guard definition.status == .active else { throw ClusterError(.client, "TaskDefinition is inactive") }
            var service = ClusterService(
                serviceArn: arn,
                serviceName: name,
                clusterArn: cluster.clusterArn,
                status: .active,
                desiredCount: daemon ? 0 : request.desiredCount,
                taskDefinition: definition.taskDefinitionArn,
                schedulingStrategy: request.schedulingStrategy,
                deploymentConfiguration: configuration,
                placementConstraints: request.placementConstraints,
                placementStrategy: request.placementStrategy,
                deployments: [],
                events: [],
                tags: request.tags,
                createdAt: now,
                steady: false,
                runningCount: 0,
                pendingCount: 0
            )
            service.deployments = [newDeployment(definition.taskDefinitionArn, desired: request.desiredCount, now: now)]
            return ([.service(service)], service)
        }
        logger.info("service created", metadata: ["service": "\(created.serviceArn)"])
        serviceNeedsPass(created.serviceArn)
        return counted(created)
    }

    public func updateService(_ update: ServiceUpdate) async throws(ClusterError) -> ClusterService {
        if let count = update.desiredCount { try Self.validate(desiredCount: count) }
        if let configuration = update.deploymentConfiguration { try Self.validate(configuration) }
        if let strategies = update.placementStrategy { try Placement.validate(strategies) }
        if let constraints = update.placementConstraints { _ = try Placement.Constraints(constraints) }
        let now = settings.now()
        let updated = try await transact { () throws(ClusterError) -> ([Staged], ClusterService) in
            var service = try activeService(update.service, cluster: update.cluster)
            if service.schedulingStrategy == .daemon {
                if update.desiredCount != nil {
                    throw ClusterError.invalid("The desiredCount of a DAEMON service follows its instances.")
                }
                if let configuration = update.deploymentConfiguration, configuration.maximumPercent != 100 {
                    throw ClusterError.invalid("The maximumPercent of a DAEMON service must be 100.")
                }
            }
            if let count = update.desiredCount { service.desiredCount = count }
            if let configuration = update.deploymentConfiguration { service.deploymentConfiguration = configuration }
            if let constraints = update.placementConstraints { service.placementConstraints = constraints }
            if let strategies = update.placementStrategy { service.placementStrategy = strategies }
            var definitionArn = service.taskDefinition
            if let reference = update.taskDefinition {
                guard let definition = taskDefinition(reference) else {
                    throw ClusterError(.client, "Unable to find task definition '\(reference)'.")
                }
                guard definition.status == .active else { throw ClusterError(.client, "TaskDefinition is inactive") }
                definitionArn = definition.taskDefinitionArn
            }
            if definitionArn != service.taskDefinition || update.forceNewDeployment {
                // A new PRIMARY; the old one becomes ACTIVE and drains as the new one comes up.
                for index in service.deployments.indices where service.deployments[index].status == "PRIMARY" {
                    service.deployments[index].status = "ACTIVE"
                    service.deployments[index].updatedAt = now
                }
                service.taskDefinition = definitionArn
                service.deployments.insert(newDeployment(definitionArn, desired: service.desiredCount, now: now), at: 0)
            } else if let index = service.deployments.firstIndex(where: { $0.status == "PRIMARY" }) {
                service.deployments[index].desiredCount = service.desiredCount
                service.deployments[index].updatedAt = now
            }
            service.steady = false
            return ([.service(service)], service)
        }
        logger.info("service updated", metadata: ["service": "\(updated.serviceArn)"])
        serviceNeedsPass(updated.serviceArn)
        return counted(updated)
    }

    /// DeleteService: DRAINING until its tasks are stopped, then INACTIVE. A service still scaled above 0
    /// needs `force`.
    public func deleteService(
        _ reference: String,
        cluster: String?,
        force: Bool
    ) async throws(ClusterError)
        -> ClusterService
    {
        let deleted = try await transact { () throws(ClusterError) -> ([Staged], ClusterService) in
            var service = try activeService(reference, cluster: cluster)
            if service.desiredCount > 0, !force {
                throw ClusterError.invalid(
                    "The service cannot be stopped while it is scaled above 0."
                )
            }
            service.status = .draining
            service.desiredCount = 0
            service.steady = false
            return ([.service(service)], service)
        }
        logger.info("service deleted", metadata: ["service": "\(deleted.serviceArn)"])
        serviceNeedsPass(deleted.serviceArn)
        return counted(deleted)
    }

    public func describeServices(
        _ references: [String],
        cluster clusterReference: String?
    ) throws(ClusterError)
        -> (services: [ClusterService], failures: [PlacementFailure])
    {
        guard (1...10).contains(references.count) else {
            throw ClusterError.invalid("services must name between 1 and 10 services.")
        }
        let cluster = try cluster(clusterReference)
        var found: [ClusterService] = []
        var failures: [PlacementFailure] = []
        for reference in references {
            if let service = service(reference, in: cluster) {
                found.append(counted(service))
            } else {
                failures.append(PlacementFailure(arn: serviceArn(reference, in: cluster), reason: "MISSING"))
            }
        }
        return (found, failures)
    }

    /// The ARNs of the cluster's ACTIVE and DRAINING services, by name.
    public func listServices(
        cluster clusterReference: String?,
        schedulingStrategy: SchedulingStrategy? = nil
    ) throws(ClusterError) -> [Listed<String>] {
        let cluster = try cluster(clusterReference)
        return services.values.map(\.value)
            .filter { $0.clusterArn == cluster.clusterArn && $0.status != .inactive }
            .filter { service in schedulingStrategy.map { $0 == service.schedulingStrategy } ?? true }
            .map { Listed($0.serviceArn, at: ListPosition(name: $0.serviceName)) }
            .sortedByPosition()
    }

    /// The ARNs of the service's tasks (ListTasks with serviceName), with the other filters applied after.
    func serviceTaskGroup(_ reference: String, cluster clusterReference: String?) throws(ClusterError) -> String {
        let cluster = try cluster(clusterReference)
        guard let service = service(reference, in: cluster), service.status != .inactive else {
            throw ClusterError(.serviceNotFound, "Service not found.")
        }
        return service.taskGroup
    }

    // MARK: Lookups

    func serviceArn(_ reference: String, in cluster: Cluster) -> String {
        reference.hasPrefix("arn:") ? reference : arn("service/\(cluster.clusterName)/\(reference)")
    }

    func service(_ reference: String, in cluster: Cluster) -> ClusterService? {
        guard let service = services[serviceArn(reference, in: cluster)]?.value,
            service.clusterArn == cluster.clusterArn
        else { return nil }
        return service
    }

    func activeService(
        _ reference: String,
        cluster clusterReference: String?
    ) throws(ClusterError)
        -> ClusterService
    {
        let cluster = try cluster(clusterReference)
        guard let service = service(reference, in: cluster) else {
            throw ClusterError(.serviceNotFound, "Service not found.")
        }
        guard service.status == .active else { throw ClusterError(.serviceNotActive, "Service was not ACTIVE.") }
        return service
    }

    func newDeployment(_ taskDefinition: String, desired: Int, now: Timestamp) -> ServiceDeployment {
        var digits = ""
        for _ in 0..<19 { digits += String(Int.random(in: 0...9, using: &generator)) }
        return ServiceDeployment(
            id: "ecs-svc/\(digits)",
            status: "PRIMARY",
            taskDefinition: taskDefinition,
            desiredCount: desired,
            pendingCount: 0,
            runningCount: 0,
            failedTasks: 0,
            createdAt: now,
            updatedAt: now,
            rolloutState: .inProgress,
            rolloutStateReason: "ECS deployment ecs-svc/\(digits) in progress."
        )
    }

    /// ECS's quota of tasks per service.
    public static let maximumDesiredCount = 5000

    static func validate(desiredCount: Int) throws(ClusterError) {
        guard desiredCount >= 0 else { throw ClusterError.invalid("desiredCount cannot be negative.") }
        guard desiredCount <= maximumDesiredCount else {
            // InvalidParameter, not LimitExceeded, which botocore retries as throttling.
            throw ClusterError.invalid(
                "desiredCount \(desiredCount) is above the limit of \(maximumDesiredCount) tasks per service."
            )
        }
    }

    static func validate(_ configuration: DeploymentConfiguration) throws(ClusterError) {
        guard (0...100).contains(configuration.minimumHealthyPercent) else {
            throw ClusterError.invalid("minimumHealthyPercent must be between 0 and 100.")
        }
        // Bounded so that desiredCount × maximumPercent stays far from overflowing.
        guard (100...Int(Int32.max)).contains(configuration.maximumPercent) else {
            throw ClusterError.invalid("maximumPercent must be between 100 and \(Int32.max).")
        }
    }

    // MARK: The scheduler

    /// The service with its counts and deployments as its tasks stand at this moment (never as the last
    /// scheduler pass left them).
    func counted(_ service: ClusterService) -> ClusterService {
        ServiceScheduler.counted(service, tasks: tasks(of: service))
    }

    /// Every task of the service's group, stopped ones included.
    func tasks(of service: ClusterService) -> [ClusterTask] {
        let group = service.taskGroup
        return tasks.values(.group(cluster: service.clusterArn, group: group))
    }

    /// Asks the scheduler for a pass over one service, at once rather than at its next tick.
    func serviceNeedsPass(_ arn: String) {
        servicesDue.insert(arn)
        serviceWork.signal()
    }

    /// A pass over the service a task belongs to, if it belongs to one.
    func serviceNeedsPass(forTaskIn group: String, cluster clusterArn: String) {
        guard group.hasPrefix("service:") else { return }
        let name = group.dropFirst("service:".count)
        guard let cluster = ARN(clusterArn)?.resourceID else { return }
        serviceNeedsPass(arn("service/\(cluster)/\(name)"))
    }

    /// A pass over every live service of a cluster: its instances changed (state, attributes, agents).
    func servicesNeedPass(inCluster clusterArn: String) {
        for (arn, service) in services where service.value.clusterArn == clusterArn && service.value.status != .inactive
        {
            servicesDue.insert(arn)
        }
        serviceWork.signal()
    }

    /// One pass of the scheduler over every ACTIVE or DRAINING service, or (`dueOnly`) over those something
    /// happened to since their last pass; DAEMON services first, as in ECS.
    ///
    /// With replicas, only the holder of the singleton lease schedules, and its writes require the lease.
    public func reconcileServices(dueOnly: Bool = false) async {
        guard runsSingletonLoops else { return }
        await Self.$actingAsSingleton.withValue(true) { await passOverServices(dueOnly: dueOnly) }
    }

    private func passOverServices(dueOnly: Bool) async {
        let due = servicesDue
        servicesDue = []
        let live = services.values.map(\.value).filter {
            $0.status != .inactive && (!dueOnly || due.contains($0.serviceArn))
        }
        let ordered =
            live.filter { $0.schedulingStrategy == .daemon } + live.filter { $0.schedulingStrategy != .daemon }
        for service in ordered { await reconcileService(service.serviceArn) }
    }

    /// The ACTIVE instances of a DAEMON service's cluster that meet its constraints and its task definition's.
    func daemonInstances(_ service: ClusterService) throws(ClusterError) -> [String] {
        guard let cluster = clusters.values.map(\.value).first(where: { $0.clusterArn == service.clusterArn }) else {
            return []
        }
        let definitionConstraints = taskDefinition(service.taskDefinition)?.placementConstraints ?? []
        let constraints = try Placement.Constraints(service.placementConstraints + definitionConstraints)
        return instances(in: cluster).filter { $0.status == .active }
            .filter { instance in
                let subject = candidate(for: instance).querySubject
                return constraints.memberOf.allSatisfy { $0.matches(subject) }
            }
            .map(\.containerInstanceArn).sorted()
    }

    /// Brings one service a step closer to what it asks for: records its counts and deployments as they
    /// stand, stops what its plan stops, starts what it starts, and says so in its events. Two passes over
    /// the same service never run at once (the actor lets calls interleave at every await): a second one
    /// waits for the first to finish, then decides from what it left.
    func reconcileService(_ arn: String) async {
        while servicesInPass.contains(arn) {
            await withCheckedContinuation { passWaiters[arn, default: []].append($0) }
        }
        servicesInPass.insert(arn)
        defer {
            servicesInPass.remove(arn)
            if var waiting = passWaiters[arn], !waiting.isEmpty {
                waiting.removeFirst().resume()
                passWaiters[arn] = waiting.isEmpty ? nil : waiting
            }
        }
        await passOverService(arn)
    }

    private func passOverService(_ arn: String) async {
        let now = settings.now()
        let decided: ServiceScheduler.Plan?
        do {
            decided = try await transact { () throws(ClusterError) -> ([Staged], ServiceScheduler.Plan?) in
                guard let service = services[arn]?.value, service.status != .inactive else { return ([], nil) }
                let mine = tasks(of: service)
                let draining = Set(
                    instances.values(.cluster(service.clusterArn)).filter { $0.status == .draining }
                        .map(\.containerInstanceArn)
                )
                var plan = ServiceScheduler.plan(
                    service,
                    tasks: mine,
                    drainingInstances: draining,
                    eligibleInstances: service.schedulingStrategy == .daemon ? try daemonInstances(service) : [],
                    now: now
                )
                for news in plan.news { plan.service.record(news, at: now, id: Self.newID()) }
                if let previous = plan.service.rollback {
                    // The circuit breaker's rollback: the last completed task definition, as a new deployment.
                    for index in plan.service.deployments.indices
                    where plan.service.deployments[index].status == "PRIMARY" {
                        plan.service.deployments[index].status = "ACTIVE"
                    }
                    plan.service.deployments.insert(
                        newDeployment(previous, desired: plan.service.desiredCount, now: now),
                        at: 0
                    )
                    plan.service.taskDefinition = previous
                    plan.service.rollback = nil
                    plan.service.consecutiveFailures = 0
                    plan.service.restartNotBefore = nil
                }
                if plan.stuck {
                    plan.service.record(
                        "was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.",
                        at: now,
                        id: Self.newID(),
                        unlessRecentWithin: 300
                    )
                }
                // Said once each time the service gets there (healthy tasks included).
                if plan.steady, !plan.service.steady {
                    plan.service.record("has reached a steady state.", at: now, id: Self.newID())
                }
                plan.service.steady = plan.steady
                return (plan.service == service ? [] : [.service(plan.service)], plan)
            }
        } catch {
            logger.warning("service scheduler pass failed", metadata: ["service": "\(arn)", "error": "\(error)"])
            return
        }
        guard let plan = decided else { return }
        let service = plan.service
        if service.status == .inactive { logger.info("service inactive", metadata: ["service": "\(arn)"]) }

        var stoppedIDs: [String] = []
        for stop in plan.stops {
            do {
                let task = try await stopTask(
                    stop.taskArn,
                    cluster: service.clusterArn,
                    reason: stop.reason,
                    stopCode: .serviceSchedulerInitiated
                )
                if stop.reason == "Task failed container health checks" {
                    await recordEvent(arn, "(task \(task.id)) failed container health checks.")
                }
                stoppedIDs.append(task.id)
            } catch {
                logger.warning(
                    "cannot stop a service task",
                    metadata: ["task.arn": "\(stop.taskArn)", "error": "\(error)"]
                )
            }
        }
        if !stoppedIDs.isEmpty {
            await recordEvent(
                arn,
                "has stopped \(stoppedIDs.count) running tasks: \(stoppedIDs.map { "(task \($0))" }.joined(separator: " "))."
            )
        }

        for start in plan.starts {
            var remaining = start.count
            var started: [ClusterTask] = []
            var unplaced: String?
            while remaining > 0 {
                let batch = min(remaining, Self.serviceLaunchBatch)
                let done = start.count - remaining
                var launch = TaskLaunch(
                    cluster: service.clusterArn,
                    taskDefinition: start.taskDefinition,
                    count: batch,
                    group: service.taskGroup,
                    startedBy: start.deployment,
                    placementConstraints: service.placementConstraints,
                    // ECS spreads a service's tasks across instances unless told otherwise.
                    placementStrategy: service.placementStrategy.isEmpty
                        ? [PlacementStrategy(type: "spread", field: "instanceId")] : service.placementStrategy
                )
                launch.forService = true
                if let instances = start.instances {
                    launch.containerInstances = Array(instances[done..<done + batch])
                }
                do {
                    let (placed, failures) = try await self.launch(launch)
                    started += placed
                    if placed.count < batch {
                        unplaced = Self.placementFailureEvent(failures.first { $0.arn != nil } ?? failures.first)
                        if start.instances == nil { break }
                    }
                } catch {
                    unplaced =
                        error.message.hasPrefix("No Container Instances")
                        ? "was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster. For more information, see the Troubleshooting section."
                        : "was unable to place a task: \(error.message)"
                    break
                }
                remaining -= batch
            }
            if !started.isEmpty {
                await recordEvent(
                    arn,
                    "has started \(started.count) tasks: \(started.map { "(task \($0.id))" }.joined(separator: " "))."
                )
            }
            if let unplaced { await recordEvent(arn, unplaced, unlessRecentWithin: 60) }
        }
    }

    /// ECS's words for a task no instance could take, naming the closest instance and what it lacks.
    static func placementFailureEvent(_ failure: PlacementFailure?) -> String {
        let lead = "was unable to place a task because no container instance met all of its requirements."
        guard let failure, let arn = failure.arn else {
            return "\(lead) Reason: No Container Instances were found in your cluster."
        }
        let id = ARN(arn)?.resourceID ?? arn
        let lack: String
        switch failure.reason {
        case "RESOURCE:CPU": lack = "has insufficient CPU units available"
        case "RESOURCE:MEMORY": lack = "has insufficient memory available"
        case "RESOURCE:PORTS", "RESOURCE:PORTS_UDP": lack = "is already using a port required by your task"
        case "AGENT": lack = "has its agent disconnected"
        default: lack = "is missing an attribute required by your task"
        }
        return
            "\(lead) The closest matching (container-instance \(id)) \(lack). For more information, see the Troubleshooting section."
    }

    /// Adds an event to a service (newest first).
    func recordEvent(_ arn: String, _ message: String, unlessRecentWithin seconds: Double? = nil) async {
        let now = settings.now()
        do {
            try await transact { () throws(ClusterError) -> ([Staged], Void) in
                guard var service = services[arn]?.value else { return ([], ()) }
                let newest = service.events.first?.id
                if let seconds {
                    service.record(message, at: now, id: Self.newID(), unlessRecentWithin: seconds)
                } else {
                    service.record(message, at: now, id: Self.newID())
                }
                return (service.events.first?.id == newest ? [] : [.service(service)], ())
            }
        } catch {
            logger.warning("cannot record a service event", metadata: ["service": "\(arn)", "error": "\(error)"])
        }
    }
}

extension ClusterService {
    /// Records `message` unless the same one was recorded within `seconds`: a condition that lasts is said
    /// once in a while, not on every pass.
    mutating func record(_ message: String, at now: Timestamp, id: String, unlessRecentWithin seconds: Double) {
        let full = "(service \(serviceName)) \(message)"
        if events.contains(where: {
            $0.message == full && now.secondsSinceEpoch - $0.createdAt.secondsSinceEpoch < seconds
        }) {
            return
        }
        record(message, at: now, id: id)
    }
}
