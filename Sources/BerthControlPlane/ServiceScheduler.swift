public import BerthModel

/// The REPLICA service scheduler's decisions, as a pure function of a service and its tasks: which tasks to
/// stop, how many to start for which deployment, and the service as it now stands (counts, deployments,
/// rollout state, status). The control plane applies a plan and asks again; nothing is remembered between
/// two plans but what is stored, so a restart in the middle of a deployment resumes it.
///
/// The bounds are ECS's: the PRIMARY deployment is brought to `desiredCount`; while older deployments have
/// tasks, at most `maximumPercent` of desiredCount (rounded down) tasks are alive, and tasks are stopped only
/// while at least `minimumHealthyPercent` of desiredCount (rounded up) stay RUNNING.
public enum ServiceScheduler {
    public struct Plan: Sendable, Hashable {
        /// Tasks to stop, with the deployment that stops them (for the stop reason).
        public var stops: [(taskArn: String, deployment: String)]
        /// Tasks to start for a deployment.
        public var starts: [(deployment: String, taskDefinition: String, count: Int)]
        public var service: ClusterService
        /// Set when the bounds allow neither a start nor a stop while the rollout is not done.
        public var stuck: Bool

        public static func == (lhs: Plan, rhs: Plan) -> Bool {
            lhs.stops.map(\.taskArn) == rhs.stops.map(\.taskArn) && lhs.service == rhs.service
                && lhs.starts.map { "\($0.deployment) \($0.count)" }
                    == rhs.starts.map { "\($0.deployment) \($0.count)" }
                && lhs.stuck == rhs.stuck
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(stops.map(\.taskArn))
            hasher.combine(service)
        }
    }

    /// A task is alive while the scheduler still wants it: desired RUNNING and not yet STOPPED.
    static func isAlive(_ task: ClusterTask) -> Bool { task.desiredStatus == .running && !task.isStopped }

    static func isRunning(_ task: ClusterTask) -> Bool { task.lastStatus == "RUNNING" }

    /// The plan for `service` given every task of its group (stopped ones too, for the failure count).
    public static func plan(_ service: ClusterService, tasks: [ClusterTask], now: Timestamp) -> Plan {
        var service = service
        let desired = service.status == .active ? service.desiredCount : 0
        let configuration = service.deploymentConfiguration
        let alive = tasks.filter(isAlive)
        guard let primary = service.primary else {
            return Plan(stops: [], starts: [], service: service, stuck: false)
        }
        let isPrimary: (ClusterTask) -> Bool = { $0.startedBy == primary.id }
        // Oldest deployments' tasks go first; tasks of no known deployment count as the oldest.
        let order = Dictionary(service.deployments.enumerated().map { ($1.id, $0) }) { first, _ in first }
        let older = alive.filter { !isPrimary($0) }.sorted {
            (order[$0.startedBy ?? ""] ?? Int.max, $0.createdAt) > (order[$1.startedBy ?? ""] ?? Int.max, $1.createdAt)
        }
        var stops: [(taskArn: String, deployment: String)] = []
        var stopped = Set<String>()
        func stop(_ task: ClusterTask) {
            stops.append((task.taskArn, primary.id))
            stopped.insert(task.taskArn)
        }

        // Tasks that are not RUNNING count for nothing healthy: older ones and the PRIMARY's beyond desired
        // stop at once (the newest first).
        for task in older where !isRunning(task) { stop(task) }
        let primaryAlive = alive.filter(isPrimary)
        var primaryExcess = primaryAlive.count - desired
        for task in primaryAlive.sorted(by: { $0.createdAt > $1.createdAt }) where primaryExcess > 0 {
            if !isRunning(task) {
                stop(task)
                primaryExcess -= 1
            }
        }
        // RUNNING tasks stop only above the healthy floor.
        let minimumHealthy = configuration.minimumHealthyTasks(desired: desired)
        var stoppable = alive.filter { isRunning($0) && !stopped.contains($0.taskArn) }.count - minimumHealthy
        for task in older where isRunning(task) && stoppable > 0 {
            stop(task)
            stoppable -= 1
        }
        for task in primaryAlive.sorted(by: { $0.createdAt > $1.createdAt })
        where isRunning(task) && primaryExcess > 0 && !stopped.contains(task.taskArn) {
            stop(task)
            primaryExcess -= 1
        }

        // Starts fill the PRIMARY up to desired, within the ceiling on tasks alive.
        let aliveAfterStops = alive.count - stops.count
        let primaryAfterStops = primaryAlive.filter { !stopped.contains($0.taskArn) }.count
        let ceiling = configuration.maximumTasks(desired: desired)
        let startCount = max(0, min(desired - primaryAfterStops, ceiling - aliveAfterStops))
        let starts = startCount > 0 ? [(primary.id, primary.taskDefinition, startCount)] : []

        // The service as it now stands.
        var deployments: [ServiceDeployment] = []
        for var deployment in service.deployments {
            let mine = alive.filter { $0.startedBy == deployment.id && !stopped.contains($0.taskArn) }
            let running = mine.filter(isRunning).count
            let pending = mine.count - running
            let failed = tasks.filter {
                $0.startedBy == deployment.id && $0.isStopped && $0.stopCode != .serviceSchedulerInitiated
                    && $0.stopCode != .userInitiated && $0.startedAt == nil
            }.count
            if deployment.status != "PRIMARY" {
                // An older deployment leaves the list once its last task is told to stop.
                guard !mine.isEmpty else { continue }
            } else {
                deployment.desiredCount = desired
            }
            if (deployment.runningCount, deployment.pendingCount) != (running, pending)
                || deployment.failedTasks < failed
            {
                deployment.runningCount = running
                deployment.pendingCount = pending
                deployment.failedTasks = max(deployment.failedTasks, failed)
                deployment.updatedAt = now
            }
            deployments.append(deployment)
        }
        service.deployments = deployments
        let remaining = alive.filter { !stopped.contains($0.taskArn) }
        service.runningCount = remaining.filter(isRunning).count
        service.pendingCount = remaining.count - service.runningCount

        let steady =
            deployments.count == 1 && stops.isEmpty && starts.isEmpty && service.runningCount == desired
            && service.pendingCount == 0
        if steady, let index = deployments.firstIndex(where: { $0.status == "PRIMARY" }),
            service.deployments[index].rolloutState == .inProgress
        {
            service.deployments[index].rolloutState = .completed
            service.deployments[index].rolloutStateReason = "ECS deployment \(primary.id) completed."
            service.deployments[index].updatedAt = now
        }
        if service.status == .draining, alive.isEmpty {
            service.status = .inactive
            service.deployments = []
        }
        let stuck =
            !steady && stops.isEmpty && starts.isEmpty && remaining.allSatisfy(isRunning)
            && service.status == .active
        return Plan(stops: stops, starts: starts, service: service, stuck: stuck)
    }
}
