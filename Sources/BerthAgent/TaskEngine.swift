public import BerthAgentChannel
public import BerthModel
public import DockerEngine
import Foundation
import Logging

/// All the tasks of this host: it accepts tasks from the control plane, admits them as the host's
/// resources allow (in arrival order), routes Docker's events to them, checks them against Docker
/// periodically, and after a restart takes back what the last run left.
public actor TaskEngine: ManagedTaskOwner {
    private let environment: TaskEnvironment
    private let hostPolicy: TaskValidation.HostPolicy
    private var resources: HostResources
    private let logger: Logger
    private var tasks: [String: ManagedTask] = [:]
    private var runs: [String: Task<Void, Never>] = [:]
    private var records: [String: TaskRecord] = [:]
    /// Tasks waiting for resources, oldest first.
    private var admissionQueue: [String] = []
    private var lastWaitReason: [String: String] = [:]
    /// Exits held for Docker's `oom` event, by Docker ID (see `ContainerSpec.awaitsOutOfMemoryEvent`).
    private var exitsAwaitingOOM: [String: HeldExit] = [:]
    private var accepting = true

    private struct HeldExit {
        let arn: String
        let container: String
        let observation: ContainerObservation
    }

    public init(environment: TaskEnvironment, hostPolicy: TaskValidation.HostPolicy, resources: HostResources) {
        self.environment = environment
        self.hostPolicy = hostPolicy
        self.resources = resources
        self.logger = environment.logger
    }

    /// The tasks the agent tracks, as last saved.
    public var taskRecords: [TaskRecord] { records.values.sorted { $0.receivedAt < $1.receivedAt } }

    public var hostResources: HostResources { resources }

    /// Images of the tasks still tracked: image cleanup leaves them alone.
    public var referencedImages: Set<String> {
        Set(records.values.flatMap { $0.payload.containers.map(\.image) })
    }

    // MARK: Tasks from the control plane

    /// Stops tasks on the agent's own account: a task manifest wants them STOPPED, or the control plane
    /// confirmed it no longer places them here.
    public func stop(_ taskArns: [String], reason: String) async {
        for arn in taskArns {
            guard let task = tasks[arn] else { continue }
            logger.info(
                "Stopping a task on the manifest's word",
                metadata: ["task.arn": "\(arn)", "reason": "\(reason)"]
            )
            await task.apply(.stopRequested(reason: reason, code: nil))
        }
    }

    /// Takes a payload's tasks; returns once each is saved, so the payload may be acknowledged. Tasks to stop
    /// are applied first, as the ECS agent does.
    public func accept(_ message: PayloadMessage) async throws(AgentError) {
        guard accepting else { throw AgentError(.store, "the agent is shutting down") }
        let ordered =
            message.tasks.filter { $0.desiredStatus == .stopped }
            + message.tasks.filter {
                $0.desiredStatus == .running
            }
        for payload in ordered {
            if let task = tasks[payload.taskArn] {
                if payload.desiredStatus == .stopped {
                    await task.apply(.stopRequested(reason: payload.stoppedReason, code: payload.stopCode))
                }
                continue
            }
            let now = environment.now()
            var machine = TaskStateMachine.accept(
                payload,
                policy: environment.policy,
                hostPolicy: hostPolicy,
                at: now,
                makeSuffix: environment.makeSuffix
            )
            if payload.desiredStatus == .stopped {
                // Never seen and already stopped: say so, so the control plane can close it.
                machine.apply(.stopRequested(reason: payload.stoppedReason, code: payload.stopCode), at: now)
            }
            machine.setRevision(1)
            try await environment.store.save(machine.record)
            if machine.record.isStopped, let reason = machine.record.stoppedReason {
                logger.warning("Task refused", metadata: ["task.arn": "\(payload.taskArn)", "reason": "\(reason)"])
            } else {
                logger.info(
                    "Task received",
                    metadata: [
                        "task.arn": "\(payload.taskArn)", "family": "\(payload.family):\(payload.revision)",
                        "containers": "\(payload.containers.map(\.name).joined(separator: ","))",
                    ]
                )
            }
            launch(machine, events: [])
        }
    }

    private func launch(_ machine: TaskStateMachine, events: [TaskEvent]) {
        let task = ManagedTask(machine: machine, saved: true, environment: environment, owner: self)
        records[task.arn] = machine.record
        tasks[task.arn] = task
        for event in events { task.send(event) }
        runs[task.arn] = Task { await task.run() }
        admitIfWaiting(machine.record)
    }

    // MARK: Admission

    func taskChanged(_ record: TaskRecord) async {
        records[record.arn] = record
        if record.isStopped {
            admissionQueue.removeAll { $0 == record.arn }
            if resources.holdings[record.arn] != nil {
                resources.release(record.arn)
                admitWaitingTasks()
            }
        } else {
            admitIfWaiting(record)
        }
    }

    func taskEnded(_ arn: String) async {
        tasks[arn] = nil
        runs[arn] = nil
        records[arn] = nil
    }

    private func admitIfWaiting(_ record: TaskRecord) {
        guard !record.isStopped, !record.admitted, record.desiredStatus == .running,
            resources.holdings[record.arn] == nil, !admissionQueue.contains(record.arn)
        else { return }
        admissionQueue.append(record.arn)
        admitWaitingTasks()
    }

    /// Admits queued tasks in order while they fit; the first that does not fit holds the others back.
    private func admitWaitingTasks() {
        while let arn = admissionQueue.first {
            guard let record = records[arn], let task = tasks[arn], record.desiredStatus == .running else {
                admissionQueue.removeFirst()
                continue
            }
            switch resources.admit(record.payload) {
            case .admitted(let hostPorts):
                admissionQueue.removeFirst()
                lastWaitReason[arn] = nil
                task.send(.admitted(hostPorts: hostPorts))
            case .wait(let reason):
                if lastWaitReason[arn] != reason {
                    logger.info(
                        "Task waits for host resources",
                        metadata: ["task.arn": "\(arn)", "reason": "\(reason)"]
                    )
                    lastWaitReason[arn] = reason
                }
                return
            case .impossible(let reason):
                admissionQueue.removeFirst()
                logger.warning("Task cannot run on this host", metadata: ["task.arn": "\(arn)", "reason": "\(reason)"])
                task.send(.stopRequested(reason: "TaskResourceError: \(reason)", code: .taskFailedToStart))
            }
        }
    }

    // MARK: Docker

    /// Routes a Docker event to the task whose container it is about.
    public func handle(_ event: DockerEvent) async {
        guard event.type == "container", let arn = event.attributes[ContainerSpec.Label.taskArn],
            let name = event.attributes[ContainerSpec.Label.containerName],
            let task = tasks[arn], let record = records[arn], let container = record.container(named: name),
            container.dockerID == event.actorID || container.dockerName == event.attributes["name"]
        else { return }
        let action = event.action
        if action.hasPrefix("health_status") {
            let status = action.split(separator: ":").last.map { String($0).trimmingCharacters(in: .whitespaces) }
            if let status, let health = HealthStatus(dockerStatus: status) {
                task.send(.observed(container: name, .health(health)))
            }
            return
        }
        switch action {
        case "start" where container.knownStatus == .stopped:
            stopStray(event.actorID, task: arn, container: name)
        case "die", "start", "stop":
            guard exitsAwaitingOOM[event.actorID] == nil else { return }
            let observation = await observe(event.actorID, record: record, name: name, exitCode: event.exitCode)
            deliver(observation, of: event.actorID, task: arn, container: name)
        case "oom":
            if let held = exitsAwaitingOOM.removeValue(forKey: event.actorID),
                case .exited(let dockerID, let exitCode, _, let finishedAt) = held.observation
            {
                let reason = ContainerSpec.outOfMemoryReason
                let exit = ContainerObservation.exited(
                    dockerID: dockerID,
                    exitCode: exitCode,
                    reason: reason,
                    finishedAt: finishedAt
                )
                task.send(.observed(container: name, exit))
            } else {
                task.send(.observed(container: name, .outOfMemory))
            }
        case "destroy":
            if container.knownStatus < .stopped { task.send(.observed(container: name, .missing)) }
        default:
            break
        }
    }

    /// Hands a task what Docker shows of one of its containers; an exit that Docker may yet call out of
    /// memory is held until it does or the wait ends, and is then handed on.
    private func deliver(_ observation: ContainerObservation, of dockerID: String, task arn: String, container: String)
    {
        // Looked at again: what was seen during an await may already be held.
        guard exitsAwaitingOOM[dockerID] == nil, let task = tasks[arn], let record = records[arn],
            let desired = record.container(named: container)?.desiredStatus
        else { return }
        if ContainerSpec.awaitsOutOfMemoryEvent(observation, desiredStatus: desired) {
            hold(observation, of: dockerID, record: record, container: container)
        } else {
            task.send(.observed(container: container, observation))
        }
    }

    private func hold(_ observation: ContainerObservation, of dockerID: String, record: TaskRecord, container: String) {
        exitsAwaitingOOM[dockerID] = HeldExit(arn: record.arn, container: container, observation: observation)
        logger.debug(
            "Exit by SIGKILL held for Docker's oom event",
            metadata: ["task.arn": "\(record.arn)", "container": "\(container)", "docker.id": "\(dockerID)"]
        )
        let wait = environment.policy.outOfMemoryEventWait
        Task {
            try? await Task.sleep(for: wait)
            await self.releaseHeldExit(dockerID)
        }
    }

    /// No `oom` event came in time: the exit is handed on as it was seen, or as Docker shows it now if it
    /// says out of memory there (the event may have been missed while the event stream reconnected).
    private func releaseHeldExit(_ dockerID: String) async {
        guard let held = exitsAwaitingOOM[dockerID], let record = records[held.arn] else {
            exitsAwaitingOOM[dockerID] = nil
            return
        }
        let again = await observe(dockerID, record: record, name: held.container, exitCode: nil)
        // The event may have come during the inspect, and handed the exit on.
        guard exitsAwaitingOOM.removeValue(forKey: dockerID) != nil else { return }
        var observation = held.observation
        if case .exited(_, _, let reason, _) = again, reason != nil { observation = again }
        tasks[held.arn]?.send(.observed(container: held.container, observation))
    }

    private func observe(
        _ dockerID: String,
        record: TaskRecord,
        name: String,
        exitCode: Int?
    ) async
        -> ContainerObservation
    {
        do {
            let inspect = try await environment.docker.inspectContainer(dockerID)
            return ContainerSpec.observation(
                of: inspect,
                definition: record.definition(of: name),
                networkMode: record.payload.networkMode ?? .bridge
            )
        } catch  where error.code == .notFound {
            return exitCode.map {
                .exited(dockerID: dockerID, exitCode: $0, reason: nil, finishedAt: environment.now())
            } ?? .missing
        } catch {
            // Unseen for now; the periodic check will look again.
            return .health(.unknown)
        }
    }

    /// Compares every container the agent believes exists with what Docker has, and tells the tasks of any
    /// difference: catches events missed while the event stream was down (or dockerd restarted).
    public func reconcile() async {
        let listed: [ContainerSummary]
        do {
            listed = try await listClusterContainers()
        } catch {
            logger.warning("Cannot list containers to check the tasks", metadata: ["error": "\(error)"])
            return
        }
        let byID = Dictionary(listed.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        stopStrays(listed)
        for (arn, record) in records where !record.isStopped {
            guard let task = tasks[arn] else { continue }
            for container in record.containers
            where container.transition == nil && container.knownStatus >= .created && container.knownStatus < .stopped {
                guard let dockerID = container.dockerID, exitsAwaitingOOM[dockerID] == nil else { continue }
                guard let summary = byID[dockerID] else {
                    task.send(.observed(container: container.name, .missing))
                    continue
                }
                let running = summary.state == "running" || summary.state == "restarting" || summary.state == "paused"
                if running != (container.knownStatus == .running) {
                    let observation = await observe(dockerID, record: record, name: container.name, exitCode: nil)
                    deliver(observation, of: dockerID, task: arn, container: container.name)
                }
            }
        }
    }

    /// Every container, running or not, that the agent made for its cluster.
    private func listClusterContainers() async throws(DockerError) -> [ContainerSummary] {
        try await environment.docker.listContainers(
            all: true,
            filters: ContainerSpec.clusterFilter(environment.specContext.cluster)
        )
    }

    /// A container the agent counts as stopped but Docker runs: a start made just before a crash, finished
    /// by dockerd after the agent had taken the container for stopped. Statuses do not go back; the
    /// container is stopped again.
    private func stopStrays(_ listed: [ContainerSummary]) {
        for summary in listed where summary.state == "running" {
            guard let arn = summary.labels[ContainerSpec.Label.taskArn],
                let name = summary.labels[ContainerSpec.Label.containerName],
                let container = records[arn]?.container(named: name), container.knownStatus == .stopped,
                container.dockerID == summary.id
                    || (container.dockerID == nil
                        && container.dockerName.map { summary.names.contains("/\($0)") } == true)
            else { continue }
            stopStray(summary.id, task: arn, container: name)
        }
    }

    private func stopStray(_ dockerID: String, task arn: String, container name: String) {
        logger.warning(
            "Stopping a container that runs after its task counted it stopped",
            metadata: ["task.arn": "\(arn)", "container": "\(name)", "docker.id": "\(dockerID)"]
        )
        let docker = environment.docker
        let timeout = environment.policy.containerStopTimeout
        Task { _ = try? await docker.stopContainer(dockerID, gracePeriod: timeout) }
    }

    // MARK: Recovery

    /// What recovery found.
    public struct RecoveryReport: Sendable, Hashable {
        public var tasks = 0
        public var adoptedContainers = 0
        public var vanishedContainers = 0
        public var removedContainers: [String] = []
    }

    /// Takes back the tasks of the last run: containers are found by their saved ID or name; what they did
    /// while the agent was away is applied; containers vanished are stopped; containers labelled for this
    /// cluster that no task claims are removed (created for nothing, or left by a crash). Unacknowledged
    /// state changes are sent again. Call once, before anything else.
    public func recover(_ saved: [TaskRecord]) async throws(AgentError) -> RecoveryReport {
        var report = RecoveryReport()
        let listed: [ContainerSummary]
        do {
            listed = try await listClusterContainers()
        } catch {
            throw AgentError(.docker, "cannot list containers to recover the tasks: \(error)")
        }
        var claimed = Set<String>()
        for record in saved.sorted(by: { $0.receivedAt < $1.receivedAt }) {
            var machine = TaskStateMachine(
                record: record,
                policy: environment.policy,
                makeSuffix: environment.makeSuffix
            )
            machine.resumeAfterRestart()
            var events: [TaskEvent] = []
            for container in record.containers where container.dockerID != nil || container.dockerName != nil {
                let match =
                    listed.first { $0.id == container.dockerID }
                    ?? listed.first { summary in
                        container.dockerName.map { summary.names.contains("/\($0)") } ?? false
                    }
                if let match {
                    claimed.insert(match.id)
                    report.adoptedContainers += 1
                    if container.knownStatus < .stopped {
                        let observation = await observe(match.id, record: record, name: container.name, exitCode: nil)
                        events.append(.observed(container: container.name, observation))
                    }
                } else if container.knownStatus < .stopped,
                    container.knownStatus >= .created || container.transition == .created
                {
                    if container.knownStatus >= .created { report.vanishedContainers += 1 }
                    events.append(.observed(container: container.name, .missing))
                }
            }
            if record.admitted, !record.isStopped { resources.restore(record) }
            report.tasks += 1
            launch(machine, events: events)
        }
        stopStrays(listed)
        for orphan in listed where !claimed.contains(orphan.id) {
            do {
                try await environment.docker.removeContainer(orphan.id, removeVolumes: true, force: true)
                report.removedContainers.append(orphan.names.first ?? orphan.id)
                logger.warning(
                    "Removed a container no task claims",
                    metadata: [
                        "docker.id": "\(orphan.id)", "name": "\(orphan.names.first ?? "")",
                        "task.arn": "\(orphan.labels[ContainerSpec.Label.taskArn] ?? "-")",
                    ]
                )
            } catch  where error.code == .notFound {
            } catch {
                logger.error(
                    "Cannot remove an unclaimed container",
                    metadata: ["docker.id": "\(orphan.id)", "error": "\(error)"]
                )
            }
        }
        return report
    }

    // MARK: Shutdown

    /// Stops the tasks' actors, leaving their containers running (they are taken back on the next start).
    public func shutDown() async {
        accepting = false
        for task in tasks.values { task.shutDown() }
        for run in runs.values { await run.value }
        tasks.removeAll()
        runs.removeAll()
    }
}

/// Reports state changes through the agent channel.
public struct ChannelReporter: StateChangeSink {
    public let connection: any ControlPlaneConnection
    public let instanceArn: String

    public init(connection: any ControlPlaneConnection, instanceArn: String) {
        self.connection = connection
        self.instanceArn = instanceArn
    }

    public func submit(_ change: TaskStateChange) async throws(ControlPlaneError) {
        try await connection.submit(change, instanceArn: instanceArn)
    }
}
