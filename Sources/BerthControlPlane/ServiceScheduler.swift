public import BerthModel

/// The REPLICA service scheduler's decisions, as a pure function of a service and its tasks: which tasks to
/// stop, how many to start for which deployment, and the service as it now stands (counts, deployments,
/// rollout state, status). The control plane applies a plan and asks again; nothing is remembered between
/// two plans but what is stored, so a restart in the middle of a deployment resumes it.
///
/// The bounds are ECS's: the PRIMARY deployment is brought to `desiredCount`; while older deployments (or
/// DRAINING instances) have tasks, at most `maximumPercent` of desiredCount (rounded down) tasks are not yet
/// STOPPED (those told to stop hold their places until they have), and RUNNING tasks are stopped only while
/// at least `minimumHealthyPercent` of desiredCount (rounded up) healthy ones stay. A task is healthy when
/// RUNNING and, if its essential containers have health checks, when they pass; an UNHEALTHY one is replaced.
public enum ServiceScheduler {
    public struct Stop: Sendable, Hashable {
        public var taskArn: String
        public var reason: String
    }

    public struct Start: Sendable, Hashable {
        public var deployment: String
        public var taskDefinition: String
        public var count: Int
        /// DAEMON: the instances to start one task on each; nil lets placement choose.
        public var instances: [String]?
    }

    public struct Plan: Sendable, Hashable {
        public var stops: [Stop]
        public var starts: [Start]
        public var service: ClusterService
        /// Set when the bounds allow neither a start nor a stop while the rollout is not done.
        public var stuck: Bool
        /// What happened to the rollout on this pass, for the service's events.
        public var news: [String]
        /// Whether the service is where it should be: one deployment, every task it wants alive, RUNNING
        /// and healthy, nothing to start or stop.
        public var steady = false
    }

    /// The circuit breaker's threshold: half the desired count, at least 3 and at most 200.
    public static func failureThreshold(desired: Int) -> Int { min(200, max(3, (desired + 1) / 2)) }

    /// The wait before starting again after `failures` tasks in a row failed to run: none for the first
    /// three, then doubling from 10 seconds to 15 minutes.
    public static func restartDelay(failures: Int) -> Double {
        guard failures >= 3 else { return 0 }
        return min(900, 10 * Double(1 << min(failures - 3, 10)))
    }

    /// A task is alive while the scheduler still wants it: desired RUNNING and not yet STOPPED.
    static func isAlive(_ task: ClusterTask) -> Bool { task.desiredStatus == .running && !task.isStopped }

    /// A task is present until it is STOPPED, even once told to stop: its containers may still run, so it
    /// counts towards `maximumPercent` (ECS's "RUNNING or PENDING"), the counts and its deployment.
    static func isPresent(_ task: ClusterTask) -> Bool { !task.isStopped }

    static func isRunning(_ task: ClusterTask) -> Bool { task.lastStatus == "RUNNING" }

    static func isHealthy(_ task: ClusterTask) -> Bool {
        isRunning(task) && (task.healthStatus == nil || task.healthStatus == .healthy)
    }

    /// A task of the deployment that stopped by itself (not stopped by the scheduler or a user).
    static func failed(_ task: ClusterTask, of deployment: String) -> Bool {
        task.startedBy == deployment && task.isStopped && task.stopCode != .serviceSchedulerInitiated
            && task.stopCode != .userInitiated
    }

    /// The plan for `service` given every task of its group (stopped ones too, for the failure count) and
    /// the instances that are DRAINING.
    /// For a DAEMON service, `eligibleInstances` are the ACTIVE instances that meet its constraints: one task
    /// runs on each, and its desired count is their number.
    public static func plan(
        _ service: ClusterService,
        tasks: [ClusterTask],
        drainingInstances: Set<String> = [],
        eligibleInstances: [String] = [],
        now: Timestamp
    ) -> Plan {
        var service = service
        var news: [String] = []
        guard var primary = service.primary else {
            return Plan(stops: [], starts: [], service: service, stuck: false, news: [])
        }
        if service.schedulingStrategy == .daemon, service.status == .active {
            service.desiredCount = eligibleInstances.count
        }
        let desired = service.status == .active ? service.desiredCount : 0
        let configuration = service.deploymentConfiguration

        // Failures of the PRIMARY: the circuit breaker counts them all; the restart delay, those that never
        // reached RUNNING (a task that crashes after running is replaced at once, as in ECS).
        let failedTasks = tasks.filter { failed($0, of: primary.id) }
        if failedTasks.count > primary.failedTasks {
            primary.failedTasks = failedTasks.count
            primary.updatedAt = now
        }
        let neverRan = failedTasks.filter { $0.startedAt == nil }.count
        if neverRan > (primary.startFailures ?? 0) {
            service.consecutiveFailures = (service.consecutiveFailures ?? 0) + neverRan - (primary.startFailures ?? 0)
            primary.startFailures = neverRan
            let delay = restartDelay(failures: service.consecutiveFailures ?? 0)
            if delay > 0 {
                if (service.restartNotBefore ?? now) <= now {
                    news.append(
                        "is unable to consistently start tasks successfully. For more information, see the Troubleshooting section."
                    )
                }
                service.restartNotBefore = Timestamp(secondsSinceEpoch: now.secondsSinceEpoch + delay)
            }
        }
        if let breaker = configuration.deploymentCircuitBreaker, breaker.enable, primary.rolloutState == .inProgress,
            primary.failedTasks >= failureThreshold(desired: desired)
        {
            primary.rolloutState = .failed
            primary.rolloutStateReason = "ECS deployment circuit breaker: tasks failed to start."
            primary.updatedAt = now
            news.append("(deployment \(primary.id)) deployment failed: tasks failed to start.")
            if breaker.rollback, let previous = service.lastCompletedTaskDefinition,
                previous != primary.taskDefinition
            {
                news.append("(deployment \(primary.id)) rolling back to \(previous).")
                service.rollback = previous
            }
        }
        if let index = service.deployments.firstIndex(where: { $0.id == primary.id }) {
            service.deployments[index] = primary
        }
        // A FAILED deployment launches nothing (a rollback, when asked for, is a new deployment).
        let launching = primary.rolloutState != .failed && (service.restartNotBefore.map { $0 <= now } ?? true)

        let alive = tasks.filter(isAlive)
        let present = tasks.filter(isPresent)
        // Tasks the service must move off their instance: DRAINING ones; for DAEMON, any not eligible.
        let leaving: (ClusterTask) -> Bool = {
            service.schedulingStrategy == .daemon
                ? !eligibleInstances.contains($0.containerInstanceArn)
                : drainingInstances.contains($0.containerInstanceArn)
        }
        let (stops, starts) =
            service.schedulingStrategy == .daemon
            ? daemonDecisions(
                service,
                primary: primary,
                tasks: tasks,
                eligible: eligibleInstances,
                launching: launching
            )
            : replicaDecisions(
                service,
                primary: primary,
                alive: alive,
                present: present.count,
                leaving: leaving,
                launching: launching
            )
        let stopped = Set(stops.map(\.taskArn))

        service = counted(service, tasks: present, at: now)

        let remaining = alive.filter { !stopped.contains($0.taskArn) }
        let steady =
            service.status == .active && service.deployments.count == 1 && stops.isEmpty && starts.isEmpty
            && present.count == desired && remaining.count == desired && remaining.allSatisfy(isHealthy)
            && remaining.allSatisfy { !leaving($0) }
        if steady, let index = service.deployments.firstIndex(where: { $0.status == "PRIMARY" }),
            service.deployments[index].rolloutState == .inProgress
        {
            service.deployments[index].rolloutState = .completed
            service.deployments[index].rolloutStateReason = "ECS deployment \(primary.id) completed."
            service.deployments[index].updatedAt = now
            service.lastCompletedTaskDefinition = primary.taskDefinition
        }
        if steady {
            service.consecutiveFailures = 0
            service.restartNotBefore = nil
        }
        if service.status == .draining, present.isEmpty {
            service.status = .inactive
            service.inactiveSince = now
            service.deployments = []
        }
        let stuck =
            !steady && launching && stops.isEmpty && starts.isEmpty && remaining.allSatisfy(isRunning)
            && service.status == .active && desired > 0 && tasks.allSatisfy { isAlive($0) || $0.isStopped }
        return Plan(stops: stops, starts: starts, service: service, stuck: stuck, news: news, steady: steady)
    }

    /// The service as its tasks stand now: `runningCount` and `pendingCount` over its tasks not yet STOPPED,
    /// those told to stop included, as ECS counts them (a scale-down shows more running than desired until
    /// they have stopped); each deployment's own counts; and older deployments gone once their last task
    /// has STOPPED, so that `services-stable` means the old revision no longer runs. Every read of a service
    /// goes through this, so its counts are never older than its tasks. `now`, when given, dates the
    /// deployments whose counts moved.
    public static func counted(
        _ service: ClusterService,
        tasks: [ClusterTask],
        at now: Timestamp? = nil
    )
        -> ClusterService
    {
        var service = service
        let present = tasks.filter(isPresent)
        let desired = service.status == .active ? service.desiredCount : 0
        var deployments: [ServiceDeployment] = []
        for var deployment in service.deployments {
            let mine = present.filter { $0.startedBy == deployment.id }
            let running = mine.filter(isRunning).count
            if deployment.status != "PRIMARY" {
                guard !mine.isEmpty else { continue }
            } else {
                deployment.desiredCount = desired
            }
            if (deployment.runningCount, deployment.pendingCount) != (running, mine.count - running) {
                deployment.runningCount = running
                deployment.pendingCount = mine.count - running
                if let now { deployment.updatedAt = now }
            }
            deployments.append(deployment)
        }
        service.deployments = deployments
        service.runningCount = present.filter(isRunning).count
        service.pendingCount = present.count - service.runningCount
        return service
    }

    /// REPLICA: the PRIMARY brought to desired, older deployments' tasks and tasks on DRAINING instances
    /// replaced, within the percent bounds.
    static func replicaDecisions(
        _ service: ClusterService,
        primary: ServiceDeployment,
        alive: [ClusterTask],
        present: Int,
        leaving: (ClusterTask) -> Bool,
        launching: Bool
    ) -> (stops: [Stop], starts: [Start]) {
        let desired = service.status == .active ? service.desiredCount : 0
        let configuration = service.deploymentConfiguration
        let isPrimary: (ClusterTask) -> Bool = { $0.startedBy == primary.id }
        // To be replaced, oldest deployments first, then the PRIMARY's tasks on DRAINING instances; tasks of
        // no known deployment count as the oldest.
        let order = Dictionary(service.deployments.enumerated().map { ($1.id, $0) }) { first, _ in first }
        let replaced = alive.filter { !isPrimary($0) || leaving($0) }.sorted {
            let left = (isPrimary($0) ? -1 : order[$0.startedBy ?? ""] ?? Int.max, $0.createdAt)
            let right = (isPrimary($1) ? -1 : order[$1.startedBy ?? ""] ?? Int.max, $1.createdAt)
            return left > right
        }
        var stopping = Stopping()
        let scaling = "Scaling activity initiated by (deployment \(primary.id))"

        // What is not healthy counts for nothing: UNHEALTHY tasks, and tasks to be replaced that are not
        // RUNNING, stop at once; so do the PRIMARY's tasks beyond desired that are not RUNNING.
        for task in alive where isRunning(task) && task.healthStatus == .unhealthy {
            stopping.add(task, "Task failed container health checks")
        }
        for task in replaced where !isHealthy(task) { stopping.add(task, scaling) }
        let kept = alive.filter { isPrimary($0) && !leaving($0) }.sorted { $0.createdAt > $1.createdAt }
        var excess = kept.filter { !stopping.contains($0.taskArn) }.count - desired
        for task in kept where excess > 0 && !isRunning(task) && !stopping.contains(task.taskArn) {
            stopping.add(task, scaling)
            excess -= 1
        }
        // Healthy tasks stop only above the floor.
        let floor = configuration.minimumHealthyTasks(desired: desired)
        var stoppable = alive.filter { isHealthy($0) && !stopping.contains($0.taskArn) }.count - floor
        for task in replaced where stoppable > 0 && !stopping.contains(task.taskArn) {
            stopping.add(task, scaling)
            stoppable -= 1
        }
        for task in kept where excess > 0 && !stopping.contains(task.taskArn) {
            stopping.add(task, scaling)
            excess -= 1
        }

        // Starts fill the PRIMARY up to desired, within the ceiling on tasks present: a task told to stop
        // holds its place until it has STOPPED.
        let keptAfterStops = kept.filter { !stopping.contains($0.taskArn) }.count
        let ceiling = configuration.maximumTasks(desired: desired)
        let startCount = launching ? max(0, min(desired - keptAfterStops, ceiling - present)) : 0
        let starts =
            startCount > 0
            ? [Start(deployment: primary.id, taskDefinition: primary.taskDefinition, count: startCount)] : []
        return (stopping.stops, starts)
    }

    /// DAEMON: one task of the PRIMARY on each eligible instance. Tasks on other instances (DRAINING, gone,
    /// no longer matching) stop; an older deployment's task is replaced on its instance once it has stopped,
    /// stopping only while the healthy floor allows.
    static func daemonDecisions(
        _ service: ClusterService,
        primary: ServiceDeployment,
        tasks: [ClusterTask],
        eligible: [String],
        launching: Bool
    ) -> (stops: [Stop], starts: [Start]) {
        let active = service.status == .active
        let alive = tasks.filter(isAlive)
        let scaling = "Scaling activity initiated by (deployment \(primary.id))"
        var stopping = Stopping()
        let eligibleSet = active ? Set(eligible) : []
        for task in alive where !eligibleSet.contains(task.containerInstanceArn) { stopping.add(task, scaling) }
        for task in alive where isRunning(task) && task.healthStatus == .unhealthy {
            stopping.add(task, "Task failed container health checks")
        }
        // One task per instance: the PRIMARY's newest stays.
        let byInstance = Dictionary(
            grouping: alive.filter { !stopping.contains($0.taskArn) },
            by: \.containerInstanceArn
        )
        var outdated: [ClusterTask] = []
        for (_, onInstance) in byInstance {
            let ordered = onInstance.sorted {
                ($0.startedBy == primary.id ? 1 : 0, $0.createdAt) > ($1.startedBy == primary.id ? 1 : 0, $1.createdAt)
            }
            guard let keep = ordered.first else { continue }
            for extra in ordered.dropFirst() { stopping.add(extra, scaling) }
            if keep.startedBy != primary.id { outdated.append(keep) }
        }
        let floor = service.deploymentConfiguration.minimumHealthyTasks(desired: eligibleSet.count)
        var stoppable = alive.filter { isHealthy($0) && !stopping.contains($0.taskArn) }.count - floor
        for task in outdated.sorted(by: { $0.createdAt < $1.createdAt }) {
            if !isHealthy(task) {
                stopping.add(task, scaling)
            } else if stoppable > 0 {
                stopping.add(task, scaling)
                stoppable -= 1
            }
        }
        // An instance takes a new task once nothing of the service is left on it: a task told to stop,
        // now or before, keeps its instance until it is STOPPED.
        guard launching, active else { return (stopping.stops, []) }
        let occupied = Set(tasks.filter { !$0.isStopped }.map(\.containerInstanceArn))
        let free = eligible.filter { !occupied.contains($0) }
        guard !free.isEmpty else { return (stopping.stops, []) }
        return (
            stopping.stops,
            [Start(deployment: primary.id, taskDefinition: primary.taskDefinition, count: free.count, instances: free)]
        )
    }

    /// The stops a decision has made so far, each task once.
    struct Stopping {
        private(set) var stops: [Stop] = []
        private var arns = Set<String>()

        func contains(_ taskArn: String) -> Bool { arns.contains(taskArn) }

        mutating func add(_ task: ClusterTask, _ reason: String) {
            guard arns.insert(task.taskArn).inserted else { return }
            stops.append(Stop(taskArn: task.taskArn, reason: reason))
        }
    }
}
