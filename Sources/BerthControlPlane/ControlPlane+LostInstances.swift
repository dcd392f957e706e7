import BerthModel
import Foundation
import Logging

extension ControlPlane {
    /// Since when an instance's agent has been away: since it disconnected, or, when no agent has connected
    /// for it since this process started, since the start (or its registration, when later). A restart of
    /// the control plane therefore never makes a host look lost at once.
    ///
    /// With replicas, what the store says counts too: an agent another live replica holds is not away; one
    /// no replica holds is away since its last replica let it go, or died (its last heartbeat). Never
    /// before this process started, all the same.
    func awaySince(_ instance: ContainerInstance) -> Timestamp? {
        guard !agentIsConnected(instance) else { return nil }
        let arn = instance.containerInstanceArn
        guard settings.sharing != nil else { return disconnectedSince[arn] ?? max(startedAt, instance.registeredAt) }
        let since =
            instance.agentAwaySince ?? disconnectedSince[arn]
            ?? instance.agentReplica.flatMap { replicas[$0]?.value.heartbeatAt } ?? instance.registeredAt
        return max(startedAt, since)
    }

    /// Stops the service tasks of every instance whose agent has been away longer than `instanceLostAfter`:
    /// they are STOPPED at once ("Host lost: no contact since …"), their reservations released, and their
    /// services, now short, replace them on instances that are connected. Standalone tasks are left alone:
    /// no control plane reaches into a host it cannot see. When the host comes back, its agent is sent the
    /// stop of each task it still runs, as for any stop it has not acknowledged. Returns the tasks stopped.
    @discardableResult
    public func stopServiceTasksOfLostInstances() async throws(ClusterError) -> [ClusterTask] {
        let now = settings.now()
        let lostAfter = settings.instanceLostAfter
        let stopped = try await asSingleton(idle: []) { () throws(ClusterError) -> [ClusterTask] in
            try await stopLost(now: now, lostAfter: lostAfter)
        }
        for task in stopped {
            logger.warning(
                "task stopped: its host is lost",
                metadata: ["task.arn": "\(task.taskArn)", "instance": "\(task.containerInstanceArn)"]
            )
            serviceNeedsPass(forTaskIn: task.group, cluster: task.clusterArn)
        }
        return stopped
    }

    private func stopLost(now: Timestamp, lostAfter: Duration) async throws(ClusterError) -> [ClusterTask] {
        try await transact { () throws(ClusterError) -> ([Staged], [ClusterTask]) in
            var staged: [Staged] = []
            var stopped: [ClusterTask] = []
            for instance in instances.values.map(\.value) where instance.status != .inactive {
                guard let since = awaySince(instance), now.duration(since: since) >= lostAfter else { continue }
                var released = instance
                for var task in liveTasks(onInstance: instance.containerInstanceArn)
                where task.group.hasPrefix("service:") {
                    task.desiredStatus = .stopped
                    task.lastStatus = "STOPPED"
                    task.stoppingAt = task.stoppingAt ?? now
                    task.stoppedAt = now
                    task.stoppedReason = "Host lost: no contact since \(Self.isoTime(since))"
                    task.stopCode = .serviceSchedulerInitiated
                    task.version += 1
                    released.reserved = released.reserved - task.reservation
                    staged.append(.task(task))
                    stopped.append(task)
                }
                if released.reserved != instance.reserved { staged.append(.instance(released)) }
            }
            return (staged, stopped)
        }
    }

    static func isoTime(_ time: Timestamp) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: time.secondsSinceEpoch))
    }
}
