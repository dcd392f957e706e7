import BerthModel

extension ControlPlane {
    /// What one expiry pass forgot, by kind.
    public struct Expired: Sendable, Hashable {
        public var stoppedTasks = 0
        public var clientTokens = 0
        public var inactiveClusters = 0
        public var inactiveInstances = 0
        public var inactiveServices = 0

        public var total: Int { stoppedTasks + clientTokens + inactiveClusters + inactiveInstances + inactiveServices }

        public init(
            stoppedTasks: Int = 0,
            clientTokens: Int = 0,
            inactiveClusters: Int = 0,
            inactiveInstances: Int = 0,
            inactiveServices: Int = 0
        ) {
            self.stoppedTasks = stoppedTasks
            self.clientTokens = clientTokens
            self.inactiveClusters = inactiveClusters
            self.inactiveInstances = inactiveInstances
            self.inactiveServices = inactiveServices
        }
    }

    /// Forgets what only history holds once its retention has passed, so that what the control plane keeps
    /// grows with what runs, not with every request ever made: STOPPED tasks, deleted clusters, deregistered
    /// instances and INACTIVE services after `stoppedTaskRetention`; RunTask clientTokens after
    /// `clientTokenRetention`; unacknowledged payloads after ten minutes. A record deleted before its
    /// deletion was dated counts from its creation. A STOPPED task whose agent has not acknowledged the
    /// stop stays while its instance is registered.
    @discardableResult
    public func expireRetainedRecords() async throws(ClusterError) -> Expired {
        let now = settings.now()
        func due(_ since: Timestamp?, _ retention: Duration) -> Bool {
            guard let since else { return false }
            return now.duration(since: since) >= retention
        }
        // Payloads an agent never acknowledged, though connected: it gets the tasks again when it reconnects.
        inflight = inflight.filter { !due($0.value.sentAt, Self.inflightRetention) }
        // What follows is stored state: with replicas, the lease holder's to forget.
        return try await asSingleton(idle: Expired()) { () throws(ClusterError) -> Expired in
            try await forgetExpired(now: now, due: due)
        }
    }

    private func forgetExpired(
        now: Timestamp,
        due: (Timestamp?, Duration) -> Bool
    ) async throws(ClusterError) -> Expired {
        let retention = settings.stoppedTaskRetention
        return try await transact { () throws(ClusterError) -> ([Staged], Expired) in
            var staged: [Staged] = []
            var expired = Expired()
            // A task stopped while its host was away is kept until its agent has been told, or its instance is
            // gone: forgotten sooner, a host coming back would run it on with no one to stop it.
            for task in tasks.values.lazy.map(\.value)
            where task.isStopped && due(task.stoppedAt, retention)
                && (task.acknowledgedDesiredStatus == .stopped
                    || instances[task.containerInstanceArn].map { $0.value.status == .inactive } ?? true)
            {
                staged.append(.remove(.task, task.taskArn))
                expired.stoppedTasks += 1
            }
            for token in tokens.values.map(\.value) where due(token.createdAt, settings.clientTokenRetention) {
                staged.append(.remove(.clientToken, token.token))
                expired.clientTokens += 1
            }
            // A deleted record, dated from its deletion or, when that was not recorded, from its creation.
            func forget<Record>(
                _ records: some Sequence<Record>,
                _ kind: RecordKind,
                key: (Record) -> String,
                deletedSince: (Record) -> Timestamp?
            ) -> Int {
                let gone = records.filter { due(deletedSince($0), retention) }
                staged += gone.map { .remove(kind, key($0)) }
                return gone.count
            }
            expired.inactiveClusters = forget(clusters.values.map(\.value), .cluster, key: \.clusterName) {
                $0.status == .inactive ? $0.inactiveSince ?? $0.createdAt : nil
            }
            expired.inactiveInstances = forget(
                instances.values.map(\.value),
                .containerInstance,
                key: \.containerInstanceArn
            ) { $0.status == .inactive ? $0.inactiveSince ?? $0.registeredAt : nil }
            expired.inactiveServices = forget(services.values.map(\.value), .service, key: \.serviceArn) {
                $0.status == .inactive ? $0.inactiveSince ?? $0.createdAt : nil
            }
            // Replicas dead that long.
            _ = forget(replicas.values.map(\.value), .replica, key: \.id) { $0.heartbeatAt }
            return (staged, expired)
        }
    }
}
