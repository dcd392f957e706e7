public import BerthAgentChannel
public import BerthModel
import Foundation
import Logging

/// The control plane's side of the agents' channel: registration, payload streams with acknowledgement,
/// and the state changes that drive what DescribeTasks shows.
extension ControlPlane: AgentSessionHandler {
    public func registerContainerInstance(
        _ registration: InstanceRegistration
    ) async throws(ControlPlaneError) -> RegisteredInstance {
        let request = InstanceRegistrationRequest(
            cluster: registration.cluster,
            containerInstanceArn: registration.containerInstanceArn,
            totalResources: registration.totalResources,
            attributes: registration.attributes,
            versionInfo: registration.versionInfo,
            instanceIdentityDocument: registration.instanceIdentityDocument
        )
        // ECS answers an unknown cluster with ClientException on the API; the agent needs to know which it is.
        guard let name = try? clusterName(registration.cluster), clusters[name]?.value.status == .active else {
            throw ControlPlaneError(.clusterNotFound, "cluster \(registration.cluster) does not exist")
        }
        do {
            let summary = try await registerInstance(request)
            return RegisteredInstance(
                containerInstanceArn: summary.instance.containerInstanceArn,
                clusterArn: summary.instance.clusterArn
            )
        } catch {
            throw Self.channelError(error)
        }
    }

    static func channelError(_ error: ClusterError) -> ControlPlaneError {
        switch error.code {
        case .server: ControlPlaneError(.unavailable, error.message)
        case .clusterNotFound: ControlPlaneError(.clusterNotFound, error.message)
        default: ControlPlaneError(.invalidRequest, error.message)
        }
    }

    func registeredInstance(_ arn: String) throws(ControlPlaneError) -> ContainerInstance {
        guard let instance = instances[arn]?.value else {
            throw ControlPlaneError(.instanceInactive, "container instance \(arn) is not registered")
        }
        guard instance.status != .inactive else {
            throw ControlPlaneError(.instanceInactive, "container instance \(arn) was deregistered")
        }
        return instance
    }

    /// Whether a caller may open the payload channel of `instanceArn`: the instance is registered and
    /// active, and (when the API checks signatures) the caller signed with the key that registered it.
    /// Returns the instance's cluster ARN.
    public func channelPeer(instanceArn: String, accessKeyID: String?) throws(ControlPlaneError) -> String {
        let instance = try registeredInstance(instanceArn)
        if let owner = instance.registeredBy, owner != accessKeyID {
            throw ControlPlaneError(
                .accessDenied,
                "container instance \(instanceArn) was registered with other credentials"
            )
        }
        return instance.clusterArn
    }

    /// Every task placed on `instanceArn` that has not been seen STOPPED, oldest first, with the status the
    /// control plane wants of it: what a TaskManifestMessage lists.
    public func taskManifest(instanceArn: String) throws(ControlPlaneError) -> [ManifestEntry] {
        _ = try registeredInstance(instanceArn)
        return liveTasks(onInstance: instanceArn).sorted { $0.createdAt < $1.createdAt }.map {
            ManifestEntry(taskArn: $0.taskArn, clusterArn: $0.clusterArn, desiredStatus: $0.desiredStatus)
        }
    }

    /// Of the tasks an agent runs that its manifest lacked, those it may stop: the ones this control plane
    /// does not place on `instanceArn` (it never did, or forgot them) or wants STOPPED. A task placed there
    /// since the manifest was made is kept, so a stale manifest can never stop a task.
    public func confirmedStops(_ candidates: [String], instanceArn: String) -> [String] {
        candidates.filter { arn in
            guard let task = tasks[arn]?.value, task.containerInstanceArn == instanceArn else { return true }
            return task.desiredStatus == .stopped
        }
    }

    /// ``confirmedStops(_:instanceArn:)``, as an in-process agent's channel asks it.
    public func confirmStops(_ candidates: [String], instanceArn: String) async -> [String] {
        confirmedStops(candidates, instanceArn: instanceArn)
    }

    public func agentConnected(instanceArn: String, session: any AgentSession) async throws(ControlPlaneError) {
        _ = try registeredInstance(instanceArn)
        // A connection speaks for one instance, and one connection at a time: a newer one replaces the older.
        if let previous = sessions[instanceArn], previous !== session {
            previous.close(reason: "replaced by a newer connection for \(instanceArn)")
            logger.info("agent connection replaced", metadata: ["instance": "\(instanceArn)"])
        }
        sessions[instanceArn] = session
        disconnectedSince[instanceArn] = nil
        instances[instanceArn]?.value.agentConnected = true
        logger.info("agent connected", metadata: ["instance": "\(instanceArn)"])
        await recordAgent(instanceArn, held: true)
        if let cluster = instances[instanceArn]?.value.clusterArn { servicesNeedPass(inCluster: cluster) }
        let unacknowledged = tasks(onInstance: instanceArn).filter { $0.acknowledgedDesiredStatus != $0.desiredStatus }
        await deliver(unacknowledged)
    }

    public func agentDisconnected(instanceArn: String, session: any AgentSession) async {
        guard let current = sessions[instanceArn], current === session else { return }
        sessions[instanceArn] = nil
        disconnectedSince[instanceArn] = settings.now()
        instances[instanceArn]?.value.agentConnected = false
        inflight = inflight.filter { $0.value.instanceArn != instanceArn }
        logger.info("agent disconnected", metadata: ["instance": "\(instanceArn)"])
        await recordAgent(instanceArn, held: false)
        if let cluster = instances[instanceArn]?.value.clusterArn { servicesNeedPass(inCluster: cluster) }
    }

    public func payloadAcknowledged(messageID: String, instanceArn: String) async throws(ControlPlaneError) {
        // A payload sent before this process started is unknown here; the agent gets it again on connect.
        guard let payload = inflight[messageID], payload.instanceArn == instanceArn else { return }
        inflight[messageID] = nil
        let sent = payload.desired
        do {
            try await transact { () throws(ClusterError) -> ([Staged], Void) in
                var staged: [Staged] = []
                for (arn, desired) in sent {
                    guard var task = tasks[arn]?.value, task.acknowledgedDesiredStatus != desired,
                        task.desiredStatus == desired
                    else { continue }
                    task.acknowledgedDesiredStatus = desired
                    staged.append(.task(task))
                }
                return (staged, ())
            }
        } catch {
            throw Self.channelError(error)
        }
    }

    public func heartbeat(instanceArn: String) async throws(ControlPlaneError) {
        _ = try registeredInstance(instanceArn)
    }

    /// Sends tasks to their instances' agents, one payload per instance. Agents not connected get them when
    /// they connect; tasks stay unacknowledged until then.
    func deliver(_ outgoing: [ClusterTask]) async {
        // Only what is durable goes out: a write still in the air may yet be undone (see ``transact(_:)``).
        // The tasks are sent as they are once it has landed.
        var outgoing = outgoing
        while let pending = [openCommit, inflightCommit].compactMap({ $0 }).first(where: { commit in
            outgoing.contains { commit.touches(RecordSnapshot.task($0.taskArn, nil).identity) }
        }) {
            _ = await pending.outcome()
            outgoing = outgoing.compactMap { tasks[$0.taskArn]?.value }
        }
        let byInstance = Dictionary(grouping: outgoing, by: \.containerInstanceArn)
        for (instanceArn, instanceTasks) in byInstance {
            guard let session = sessions[instanceArn] else { continue }
            var payloads: [TaskPayload] = []
            var sent: [String: DesiredStatus] = [:]
            for task in instanceTasks {
                guard let payload = payload(for: task) else { continue }
                payloads.append(payload)
                sent[task.taskArn] = task.desiredStatus
            }
            guard !payloads.isEmpty else { continue }
            let message = PayloadMessage(messageID: UUID().uuidString.lowercased(), tasks: payloads)
            inflight[message.messageID] = InflightPayload(
                instanceArn: instanceArn,
                sentAt: settings.now(),
                desired: sent
            )
            if await !session.deliver(message) {
                inflight[message.messageID] = nil
            }
        }
    }

    func payload(for task: ClusterTask) -> TaskPayload? {
        guard let definition = definitions["\(task.family):\(task.revision)"]?.value else { return nil }
        let taskLevel = Placement.taskLevelResources(of: definition, overrides: task.overrides)
        var payload = TaskPayload(
            taskArn: task.taskArn,
            clusterArn: task.clusterArn,
            family: task.family,
            revision: task.revision,
            desiredStatus: task.desiredStatus,
            containers: Placement.containers(of: definition, overrides: task.overrides),
            volumes: definition.volumes,
            networkMode: definition.networkMode,
            cpu: taskLevel.cpu,
            memory: taskLevel.memory
        )
        payload.stoppedReason = task.desiredStatus == .stopped ? task.stoppedReason : nil
        payload.stopCode = task.desiredStatus == .stopped ? task.stopCode : nil
        payload.containerArns = Dictionary(task.containers.map { ($0.name, $0.containerArn) }) { first, _ in first }
        return payload
    }

    public func taskStateChanged(_ change: TaskStateChange, instanceArn: String) async throws(ControlPlaneError) {
        try await fold(change, instanceArn: instanceArn, sequenced: true)
    }

    /// Folds a report into its task. An agent's reports are `sequenced`: each carries its number, a repeat
    /// or an overtaken one changes nothing. Reports through the public API carry none and take no number,
    /// so they can never make the agent's next report look old.
    func fold(_ change: TaskStateChange, instanceArn: String, sequenced: Bool) async throws(ControlPlaneError) {
        do {
            let released = try await transact { () throws(ClusterError) -> ([Staged], Bool) in
                guard var task = tasks[change.taskArn]?.value else {
                    // A task that expired or was never placed here: nothing to record, nothing to retry.
                    return ([], false)
                }
                guard task.containerInstanceArn == instanceArn else {
                    throw ClusterError.invalid("Task \(change.taskArn) does not run on \(instanceArn).")
                }
                // Sent again after a lost answer, or overtaken by a later one.
                guard !sequenced || change.sequence > task.lastSequence else { return ([], false) }
                let wasStopped = task.isStopped
                Self.record(change, on: &task, sequenced: sequenced)
                var staged: [Staged] = [.task(task)]
                if task.isStopped, !wasStopped, var instance = instances[task.containerInstanceArn]?.value {
                    instance.reserved = instance.reserved - task.reservation
                    staged.append(.instance(instance))
                }
                return (staged, task.isStopped && !wasStopped)
            }
            if released {
                logger.info(
                    "task stopped",
                    metadata: ["task.arn": "\(change.taskArn)", "reason": "\(change.reason ?? "")"]
                )
            }
            // A service's task changed (running, healthy, stopped): its scheduler pass comes now, so that a
            // stopped task's replacement is placed at once.
            if let task = tasks[change.taskArn]?.value {
                serviceNeedsPass(forTaskIn: task.group, cluster: task.clusterArn)
            }
        } catch {
            throw Self.channelError(error)
        }
    }

    /// Folds an agent's report into a task: statuses only move forward; the first reason and stop code stay.
    static func record(_ change: TaskStateChange, on task: inout ClusterTask, sequenced: Bool = true) {
        if sequenced { task.lastSequence = change.sequence }
        let rank = ["PROVISIONING": 0, "PENDING": 1, "RUNNING": 2, "STOPPED": 3]
        if rank[change.status.rawValue, default: 0] > rank[task.lastStatus, default: 0] {
            task.lastStatus = change.status.rawValue
            switch change.status {
            case .running:
                task.startedAt = task.startedAt ?? change.at
            case .stopped:
                task.stoppedAt = change.at
                task.executionStoppedAt = change.executionStoppedAt ?? change.at
                task.stoppingAt = task.stoppingAt ?? change.at
                task.desiredStatus = .stopped
                // The agent that stopped it knows: nothing to send it again on reconnect.
                task.acknowledgedDesiredStatus = .stopped
                task.stoppedReason = task.stoppedReason ?? change.reason
                task.stopCode = task.stopCode ?? change.stopCode
            case .pending:
                break
            }
        }
        task.pullStartedAt = task.pullStartedAt ?? change.pullStartedAt
        task.pullStoppedAt = change.pullStoppedAt ?? task.pullStoppedAt
        for report in change.containers {
            guard let index = task.containers.firstIndex(where: { $0.name == report.containerName }) else { continue }
            var container = task.containers[index]
            if rank[report.status.rawValue, default: 0] >= rank[container.lastStatus, default: 0] {
                container.lastStatus = report.status.rawValue
            }
            container.runtimeId = report.runtimeId ?? container.runtimeId
            container.exitCode = report.exitCode ?? container.exitCode
            container.reason = container.reason ?? report.reason
            container.imageDigest = report.imageDigest ?? container.imageDigest
            if let bindings = report.networkBindings, !bindings.isEmpty { container.networkBindings = bindings }
            container.healthStatus = report.healthStatus ?? container.healthStatus
            task.containers[index] = container
        }
        task.healthStatus = Self.taskHealth(task.containers)
        task.version += 1
    }
}

extension ControlPlane {
    /// SubmitTaskStateChange / SubmitContainerStateChange through the public API: the same fold as an agent's
    /// reports (statuses only move forward), outside the agent's numbering.
    public func submitExternalStateChange(
        task reference: String?,
        cluster clusterReference: String?,
        status: BackendStatus?,
        reason: String?,
        containers: [ContainerStateChange],
        pullStartedAt: Timestamp? = nil,
        pullStoppedAt: Timestamp? = nil,
        executionStoppedAt: Timestamp? = nil
    ) async throws(ClusterError) {
        let cluster = try cluster(clusterReference)
        guard let reference, let task = task(reference, in: cluster) else {
            throw ClusterError.invalid("The referenced task was not found.")
        }
        let change = TaskStateChange(
            taskArn: task.taskArn,
            sequence: 0,
            status: status ?? BackendStatus(rawValue: task.lastStatus) ?? .pending,
            reason: reason,
            at: settings.now(),
            pullStartedAt: pullStartedAt,
            pullStoppedAt: pullStoppedAt,
            executionStoppedAt: executionStoppedAt,
            containers: containers
        )
        do {
            try await fold(change, instanceArn: task.containerInstanceArn, sequenced: false)
        } catch {
            throw ClusterError(error.code == .unavailable ? .server : .invalidParameter, error.message)
        }
    }
}

extension ControlPlane {
    /// A remote agent's report through the signed API (SubmitTaskStateChange with the agent's sequence
    /// number): folded exactly as an in-process agent's, numbered, and only for a task placed on an instance
    /// the caller registered, so one host can never report for another's tasks.
    public func agentReported(
        _ change: TaskStateChange,
        cluster clusterReference: String?,
        caller: String?
    ) async throws(ClusterError) {
        let cluster = try cluster(clusterReference)
        // A task that expired or was never placed: nothing to record, nothing to retry (as in process).
        guard let task = task(change.taskArn, in: cluster) else { return }
        if let owner = instances[task.containerInstanceArn]?.value.registeredBy, owner != caller {
            throw ClusterError(
                .accessDenied,
                "Task \(task.taskArn) runs on a container instance registered with other credentials."
            )
        }
        var change = change
        change.taskArn = task.taskArn
        do {
            try await fold(change, instanceArn: task.containerInstanceArn, sequenced: true)
        } catch {
            throw ClusterError(error.code == .unavailable ? .server : .invalidParameter, error.message)
        }
    }
}

extension ControlPlane {
    /// A task's health, as ECS derives it from its essential containers with health checks: UNHEALTHY when
    /// any is, HEALTHY when all are, UNKNOWN otherwise; nil when none has a health check.
    static func taskHealth(_ containers: [TaskContainer]) -> HealthStatus? {
        let checked = containers.filter(\.essential).compactMap(\.healthStatus)
        guard !checked.isEmpty else { return nil }
        if checked.contains(.unhealthy) { return .unhealthy }
        return checked.allSatisfy { $0 == .healthy } ? .healthy : .unknown
    }
}

/// A task as a TaskManifestMessage names it.
public struct ManifestEntry: Sendable, Hashable {
    public var taskArn: String
    public var clusterArn: String
    public var desiredStatus: DesiredStatus

    public init(taskArn: String, clusterArn: String, desiredStatus: DesiredStatus) {
        self.taskArn = taskArn
        self.clusterArn = clusterArn
        self.desiredStatus = desiredStatus
    }
}
