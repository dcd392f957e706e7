public import BerthModel

/// The life of one task as a pure state machine: events in (``apply(_:at:)``), Docker calls out
/// (``nextActions(at:)``), no I/O of its own. ``ManagedTask`` feeds it and carries out what it asks.
///
/// Rules it keeps:
/// - statuses only move forward, for the task and for every container;
/// - containers start in dependency order (links imply START, volumesFrom CREATE, plus dependsOn) and stop
///   in reverse; a dependency that can no longer be met stops the waiting container with the reason;
/// - when an essential container stops, the task stops; a non-essential one stops alone;
/// - the task's status is its least advanced container's;
/// - every change the control plane should hear of is queued, in order, until acknowledged.
public struct TaskStateMachine: Sendable {
    /// The host's settings that shape a task's life.
    public struct Policy: Sendable {
        /// SIGTERM → SIGKILL grace period when a container has no `stopTimeout` (ECS_CONTAINER_STOP_TIMEOUT).
        public var containerStopTimeout: Duration
        /// How long a stopped task's containers stay (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION).
        public var cleanupWait: Duration
        /// Wait before trying a failed stop or cleanup again.
        public var retryDelay: Duration
        /// How long an exit by SIGKILL that the agent did not ask for is held for Docker's `oom` event, which
        /// can come after the exit: the exit is then reported with OutOfMemoryError, not without a reason.
        public var outOfMemoryEventWait: Duration

        public init(
            containerStopTimeout: Duration = .seconds(30),
            cleanupWait: Duration = .seconds(3 * 3600),
            retryDelay: Duration = .seconds(5),
            outOfMemoryEventWait: Duration = .seconds(3)
        ) {
            self.containerStopTimeout = containerStopTimeout
            self.cleanupWait = cleanupWait
            self.retryDelay = retryDelay
            self.outOfMemoryEventWait = outOfMemoryEventWait
        }
    }

    public private(set) var record: TaskRecord
    public let policy: Policy
    private let dependencies: [String: [ContainerDependency]]
    /// For each container, the containers that depend on it (and must stop before it).
    private let dependents: [String: [String]]
    /// Random hex for Docker names (`ecs-FAMILY-REV-NAME-<hex>`).
    private let makeSuffix: @Sendable () -> String

    /// Resumes a task from its record.
    public init(record: TaskRecord, policy: Policy, makeSuffix: @escaping @Sendable () -> String) {
        self.record = record
        self.policy = policy
        self.makeSuffix = makeSuffix
        let dependencies = TaskValidation.dependencies(of: record.payload)
        self.dependencies = dependencies
        var dependents: [String: [String]] = [:]
        for (dependent, targets) in dependencies {
            for target in targets { dependents[target.containerName, default: []].append(dependent) }
        }
        self.dependents = dependents
    }

    /// A task the agent has just received. One that cannot run here is stopped at once, with the reason.
    public static func accept(
        _ payload: TaskPayload,
        policy: Policy,
        hostPolicy: TaskValidation.HostPolicy,
        at now: Timestamp,
        makeSuffix: @escaping @Sendable () -> String
    ) -> TaskStateMachine {
        var record = TaskRecord(payload: payload, receivedAt: now)
        for volume in payload.volumes {
            if let docker = volume.dockerVolumeConfiguration {
                let taskScoped = (docker.scope ?? .task) == .task
                record.dockerVolumes.append(
                    DockerVolumeRecord(
                        taskVolume: volume.name,
                        dockerName: taskScoped ? DockerNames.volume(payload, volume.name, makeSuffix()) : volume.name,
                        taskScoped: taskScoped,
                        driver: docker.driver,
                        driverOpts: docker.driverOpts,
                        labels: docker.labels,
                        autoprovision: docker.autoprovision ?? false
                    )
                )
            } else if volume.host?.sourcePath == nil {
                // An empty host volume: scratch space shared by the task's containers, gone with the task.
                record.dockerVolumes.append(
                    DockerVolumeRecord(
                        taskVolume: volume.name,
                        dockerName: DockerNames.volume(payload, volume.name, makeSuffix()),
                        taskScoped: true,
                        driver: "local"
                    )
                )
            }
        }
        var machine = TaskStateMachine(record: record, policy: policy, makeSuffix: makeSuffix)
        if let problem = TaskValidation.problem(with: payload, policy: hostPolicy) {
            machine.requestStop(reason: problem, code: .taskFailedToStart, at: now)
            for index in machine.record.containers.indices { machine.record.containers[index].reason = problem }
        }
        machine.settle(at: now)
        return machine
    }

    /// Forgets Docker calls that were in flight when the agent stopped: what they did is found out again
    /// by inspecting the containers, and what they did not do is done again (with the same names).
    public mutating func resumeAfterRestart() {
        for index in record.containers.indices { record.containers[index].transition = nil }
        for index in record.dockerVolumes.indices { record.dockerVolumes[index].inFlight = false }
        record.cleanupStarted = false
    }

    /// Records the revision the record was saved under.
    public mutating func setRevision(_ revision: Int) { record.revision = revision }

    // MARK: Events

    public mutating func apply(_ event: TaskEvent, at now: Timestamp) {
        switch event {
        case .admitted(let hostPorts):
            record.admitted = true
            for index in record.containers.indices {
                record.containers[index].assignedHostPorts = hostPorts[record.containers[index].name] ?? [:]
            }
        case .stopRequested(let reason, let code):
            requestStop(reason: reason ?? "Task stopped by the control plane", code: code ?? .userInitiated, at: now)
        case .volumeReady(let name):
            updateVolume(name) {
                $0.ready = true
                $0.inFlight = false
            }
        case .volumeFailed(let name, let reason):
            updateVolume(name) { $0.inFlight = false }
            requestStop(reason: reason, code: .taskFailedToStart, at: now)
            for index in record.containers.indices where record.containers[index].knownStatus < .created {
                record.containers[index].reason = record.containers[index].reason ?? reason
            }
        case .pulled(let name, let digest, let imageID):
            update(name) {
                $0.transition = nil
                if $0.knownStatus < .pulled { $0.knownStatus = .pulled }
                $0.imageDigest = digest ?? $0.imageDigest
                $0.imageID = imageID ?? $0.imageID
            }
        case .pullFailed(let name, let reason, let stopsTask):
            update(name) { $0.transition = nil }
            fail(name, reason: reason)
            if stopsTask { requestStop(reason: reason, code: .taskFailedToStart, at: now) }
        case .created(let name, let dockerID):
            update(name) {
                $0.transition = nil
                $0.dockerID = dockerID
                if $0.knownStatus < .created {
                    $0.knownStatus = .created
                    $0.createdAt = now
                }
            }
        case .createFailed(let name, let reason), .startFailed(let name, let reason):
            update(name) { $0.transition = nil }
            fail(name, reason: reason)
        case .started(let name, let observation):
            update(name) { $0.transition = nil }
            observe(name, observation, at: now)
        case .stopped(let name, let observation):
            update(name) { $0.transition = nil }
            observe(name, observation, at: now)
        case .stopFailed(let name, _):
            let retryAfter = now.adding(policy.retryDelay)
            update(name) {
                $0.transition = nil
                $0.retryAfter = retryAfter
            }
        case .observed(let name, let observation):
            observe(name, observation, at: now)
        case .acknowledged(let sequence):
            let acknowledged = record.outbox.filter { $0.sequence <= sequence }
            record.outbox.removeAll { $0.sequence <= sequence }
            if let highest = acknowledged.map(\.status).max(), highest > (record.acknowledgedStatus ?? .pending) {
                record.acknowledgedStatus = highest
            }
        case .cleanedUp:
            record.cleanedUp = true
        case .cleanupFailed:
            record.cleanupStarted = false
            record.cleanupRetryAfter = now.adding(policy.retryDelay)
        case .tick:
            break
        }
        settle(at: now)
    }

    /// The Docker calls to make now, marked in the record as in flight. Save the record before making them.
    public mutating func nextActions(at now: Timestamp) -> [TaskAction] {
        var actions: [TaskAction] = []
        // A round can stop containers (a dependency that will never be met), which can stop the task, which
        // asks for more stops: go round until nothing changes.
        for _ in 0...(record.containers.count * 5 + 5) {
            let before = record
            // Dependencies that can no longer be met first: they may stop the task, and then nothing
            // should be started in the same breath.
            failUnmeetableDependencies(at: now)
            settle(at: now)
            actions += round(at: now)
            settle(at: now)
            if record == before { break }
        }
        return actions
    }

    private mutating func failUnmeetableDependencies(at now: Timestamp) {
        guard record.admitted, !record.isStopped else { return }
        for container in record.containers
        where container.transition == nil && container.desiredStatus == .running
            && (container.knownStatus == .pulled || container.knownStatus == .created)
        {
            let target: ContainerStatus = container.knownStatus == .pulled ? .created : .running
            if case .failed(let reason) = dependencyState(of: container, toward: target, at: now) {
                fail(container.name, reason: "CannotStartContainerError: \(reason)")
            }
        }
    }

    /// The next instant at which time alone changes something: a dependency times out, a failed call may
    /// be retried, the task's containers are due for removal.
    public func nextDeadline(at now: Timestamp) -> Timestamp? {
        var deadlines: [Timestamp] = []
        if record.isStopped {
            if !record.cleanupStarted, !record.cleanedUp, record.acknowledgedStatus == .stopped {
                deadlines.append(record.cleanupRetryAfter ?? cleanupDue)
            }
            return deadlines.min()
        }
        for container in record.containers {
            if let retry = container.retryAfter { deadlines.append(retry) }
            if container.transition == nil, container.desiredStatus == .running,
                container.knownStatus == .pulled || container.knownStatus == .created,
                case .waiting(let until) = dependencyState(
                    of: container,
                    toward: container.knownStatus == .pulled ? .created : .running,
                    at: now
                ),
                let until
            {
                deadlines.append(until)
            }
        }
        return deadlines.filter { $0 > now }.min()
    }

    private var cleanupDue: Timestamp { (record.stoppedAt ?? record.receivedAt).adding(policy.cleanupWait) }

    // MARK: Rounds

    private mutating func round(at now: Timestamp) -> [TaskAction] {
        if record.isStopped {
            guard !record.cleanupStarted, !record.cleanedUp, record.acknowledgedStatus == .stopped,
                now >= (record.cleanupRetryAfter ?? cleanupDue)
            else { return [] }
            record.cleanupStarted = true
            record.cleanupRetryAfter = nil
            return [.cleanUp]
        }
        guard record.admitted else { return [] }
        var actions: [TaskAction] = []
        if record.desiredStatus == .running {
            for index in record.dockerVolumes.indices
            where !record.dockerVolumes[index].ready && !record.dockerVolumes[index].inFlight {
                record.dockerVolumes[index].inFlight = true
                actions.append(.createVolume(record.dockerVolumes[index]))
            }
        }
        for index in record.containers.indices {
            let container = record.containers[index]
            guard container.transition == nil, container.knownStatus != .stopped else { continue }
            if let retry = container.retryAfter, retry > now { continue }
            record.containers[index].retryAfter = nil
            if container.desiredStatus == .stopped {
                // Containers that never ran were settled as stopped; this one runs and is stopped once
                // every container depending on it has stopped.
                guard container.knownStatus == .running, let dockerID = container.dockerID else { continue }
                let waitingFor = (dependents[container.name] ?? []).filter {
                    self.record.container(named: $0)?.knownStatus != .stopped
                }
                guard waitingFor.isEmpty else { continue }
                record.containers[index].transition = .stopped
                actions.append(
                    .stop(container: container.name, dockerID: dockerID, timeout: stopTimeout(of: container))
                )
                continue
            }
            switch container.knownStatus {
            case .none:
                guard let definition = record.definition(of: container.name) else { continue }
                record.containers[index].transition = .pulled
                if record.pullStartedAt == nil { record.pullStartedAt = now }
                actions.append(.pull(container: container.name, image: definition.image))
            case .pulled, .created:
                let target: ContainerStatus = container.knownStatus == .pulled ? .created : .running
                switch dependencyState(of: container, toward: target, at: now) {
                case .waiting:
                    if container.waitingSince == nil { record.containers[index].waitingSince = now }
                case .failed(let reason):
                    fail(container.name, reason: "CannotStartContainerError: \(reason)")
                case .met:
                    record.containers[index].waitingSince = nil
                    if target == .created {
                        guard volumesReady(for: container.name) else { continue }
                        if container.dockerName == nil {
                            record.containers[index].dockerName = DockerNames.container(
                                record.payload,
                                container.name,
                                makeSuffix()
                            )
                        }
                        if container.metadataID == nil {
                            record.containers[index].metadataID = makeSuffix() + makeSuffix()
                        }
                        record.containers[index].transition = .created
                        actions.append(.create(container: container.name))
                    } else if let dockerID = container.dockerID {
                        record.containers[index].transition = .running
                        actions.append(.start(container: container.name, dockerID: dockerID))
                    }
                }
            case .running, .stopped:
                continue
            }
        }
        return actions
    }

    private func stopTimeout(of container: ContainerRecord) -> Duration {
        record.definition(of: container.name)?.stopTimeout.map { .seconds($0) } ?? policy.containerStopTimeout
    }

    private func volumesReady(for name: String) -> Bool {
        let mounted = Set(record.definition(of: name)?.mountPoints?.map(\.sourceVolume) ?? [])
        return record.dockerVolumes.allSatisfy { !mounted.contains($0.taskVolume) || $0.ready }
    }

    // MARK: Dependencies

    enum DependencyState: Equatable {
        case met
        /// Not yet; `until` is when waiting turns into failure, if ever.
        case waiting(until: Timestamp?)
        case failed(String)
    }

    func dependencyState(
        of container: ContainerRecord,
        toward target: ContainerStatus,
        at now: Timestamp
    )
        -> DependencyState
    {
        var earliestDeadline: Timestamp?
        for dependency in dependencies[container.name] ?? [] {
            guard let other = record.container(named: dependency.containerName) else {
                return .failed("container '\(dependency.containerName)' is not in the task")
            }
            let name = "dependency '\(other.name)' (\(dependency.condition))"
            let exists = other.dockerID != nil && other.knownStatus >= .created
            switch dependency.condition {
            case .create:
                if exists { continue }
                if other.knownStatus == .stopped { return .failed("\(name) cannot be met: it was never created") }
            case .start:
                if target == .created ? exists : other.knownStatus == .running { continue }
                if other.knownStatus == .stopped {
                    if other.startedAt != nil && target == .running { continue }
                    return .failed("\(name) cannot be met: it stopped before it started")
                }
            case .complete, .success:
                if other.knownStatus == .stopped {
                    guard let exitCode = other.exitCode, other.startedAt != nil || other.finishedAt != nil else {
                        return .failed("\(name) cannot be met: it stopped without running")
                    }
                    if dependency.condition == .complete || exitCode == 0 { continue }
                    return .failed("\(name) cannot be met: it exited with code \(exitCode)")
                }
            case .healthy:
                if other.healthStatus == .healthy { continue }
                if other.knownStatus == .stopped {
                    return .failed("\(name) cannot be met: it stopped before it was healthy")
                }
            }
            // Waiting. The dependency's startTimeout bounds the wait for COMPLETE, SUCCESS and HEALTHY.
            if dependency.condition != .create, dependency.condition != .start,
                let seconds = record.definition(of: other.name)?.startTimeout
            {
                let since = other.startedAt ?? container.waitingSince ?? now
                let deadline = since.adding(.seconds(seconds))
                if now >= deadline {
                    return .failed("\(name) was not met within its startTimeout of \(seconds)s")
                }
                earliestDeadline = min(earliestDeadline ?? deadline, deadline)
            }
            return .waiting(until: earliestDeadline)
        }
        return .met
    }

    // MARK: Changes

    private mutating func update(_ name: String, _ change: (inout ContainerRecord) -> Void) {
        guard let index = record.containers.firstIndex(where: { $0.name == name }) else { return }
        change(&record.containers[index])
    }

    private mutating func updateVolume(_ name: String, _ change: (inout DockerVolumeRecord) -> Void) {
        guard let index = record.dockerVolumes.firstIndex(where: { $0.taskVolume == name }) else { return }
        change(&record.dockerVolumes[index])
    }

    /// The container will not run: a Docker call failed or a dependency cannot be met.
    private mutating func fail(_ name: String, reason: String) {
        update(name) {
            guard $0.knownStatus != .stopped else { return }
            $0.knownStatus = .stopped
            $0.desiredStatus = .stopped
            $0.reason = reason
        }
    }

    private mutating func observe(_ name: String, _ observation: ContainerObservation, at now: Timestamp) {
        update(name) { container in
            switch observation {
            case .created(let dockerID):
                container.dockerID = dockerID
                if container.knownStatus < .created {
                    container.knownStatus = .created
                    container.createdAt = container.createdAt ?? now
                }
            case .running(let dockerID, let bindings, let health, let startedAt):
                container.dockerID = dockerID
                guard container.knownStatus < .running else {
                    if container.knownStatus == .running, let health { container.healthStatus = health }
                    return
                }
                container.knownStatus = .running
                container.startedAt = startedAt ?? now
                container.networkBindings = bindings
                if let health { container.healthStatus = health }
            case .exited(let dockerID, let exitCode, let reason, let finishedAt):
                container.dockerID = dockerID
                guard container.knownStatus < .stopped else { return }
                container.knownStatus = .stopped
                container.desiredStatus = .stopped
                container.exitCode = exitCode
                container.reason = reason ?? container.reason
                container.finishedAt = finishedAt ?? now
            case .health(let health):
                if container.knownStatus == .running { container.healthStatus = health }
            case .outOfMemory:
                // Before the exit, the inspect after it says so; after it, the reason is added to the exit.
                if container.knownStatus == .stopped, container.reason == nil, container.exitCode != 0 {
                    container.reason = ContainerSpec.outOfMemoryReason
                }
            case .missing:
                if container.knownStatus < .created {
                    // A create that was in flight did not happen: it will be made again, under the same name.
                    container.dockerID = nil
                } else if container.knownStatus < .stopped {
                    container.knownStatus = .stopped
                    container.desiredStatus = .stopped
                    container.reason =
                        "ContainerVanishedError: Docker no longer has container \(container.dockerName ?? container.name)"
                    container.finishedAt = now
                }
            }
        }
    }

    /// Asks for the task to stop; the first reason given is the one that stays.
    private mutating func requestStop(reason: String, code: TaskStopCode, at now: Timestamp) {
        guard record.desiredStatus == .running else { return }
        record.desiredStatus = .stopped
        record.stoppedReason = reason
        record.stopCode = code
        for index in record.containers.indices { record.containers[index].desiredStatus = .stopped }
    }

    /// Applies the rules that follow from the record alone, then queues what the control plane should hear.
    private mutating func settle(at now: Timestamp) {
        // Essential containers: when one stops, the task stops.
        if let essential = record.containers.first(where: {
            $0.knownStatus == .stopped && (record.definition(of: $0.name)?.isEssential ?? true)
        }) {
            if record.executionStoppedAt == nil { record.executionStoppedAt = now }
            if essential.startedAt == nil, let reason = essential.reason {
                requestStop(reason: reason, code: .taskFailedToStart, at: now)
            } else {
                requestStop(reason: "Essential container in task exited", code: .essentialContainerExited, at: now)
            }
        }
        // A container that is to stop and has not run is done with: nothing in Docker to stop.
        for index in record.containers.indices {
            let container = record.containers[index]
            if container.desiredStatus == .stopped, container.knownStatus < .running, container.transition == nil {
                record.containers[index].knownStatus = .stopped
            }
        }
        // The task is where its least advanced container is; it never goes back.
        let least = record.containers.map(\.knownStatus).min() ?? .stopped
        let status = TaskStatus(least)
        if status > record.knownStatus {
            record.knownStatus = status
            if status >= .running, record.startedAt == nil, status == .running { record.startedAt = now }
            if status == .stopped { record.stoppedAt = now }
        }
        if record.pullStartedAt != nil, record.pullStoppedAt == nil,
            !record.containers.contains(where: {
                $0.transition == .pulled || ($0.knownStatus == .none && $0.desiredStatus == .running)
            })
        {
            record.pullStoppedAt = now
        }
        queueStateChange(at: now)
    }

    private mutating func queueStateChange(at now: Timestamp) {
        var changes: [ContainerStateChange] = []
        for index in record.containers.indices {
            let container = record.containers[index]
            let status = container.knownStatus.backendStatus
            guard status != .pending else { continue }
            let hasHealthCheck = record.definition(of: container.name)?.healthCheck != nil
            let change = ContainerStateChange(
                containerName: container.name,
                runtimeId: container.dockerID,
                status: status,
                exitCode: status == .stopped ? container.exitCode : nil,
                reason: container.reason,
                networkBindings: container.networkBindings.isEmpty ? nil : container.networkBindings,
                imageDigest: container.imageDigest,
                healthStatus: hasHealthCheck && status == .running ? (container.healthStatus ?? .unknown) : nil
            )
            if change != container.queued {
                changes.append(change)
                record.containers[index].queued = change
            }
        }
        let status = record.knownStatus.backendStatus
        let taskChanged = status != (record.queuedStatus ?? .pending)
        guard taskChanged || !changes.isEmpty else { return }
        record.sequence += 1
        let stopped = status == .stopped
        record.outbox.append(
            TaskStateChange(
                taskArn: record.arn,
                sequence: record.sequence,
                status: status,
                reason: stopped ? record.stoppedReason : nil,
                stopCode: stopped ? record.stopCode : nil,
                at: now,
                pullStartedAt: record.pullStartedAt,
                pullStoppedAt: record.pullStoppedAt,
                executionStoppedAt: record.executionStoppedAt,
                containers: changes
            )
        )
        record.queuedStatus = status
    }
}
