import BerthModel
import Foundation
import Logging

extension ControlPlane {
    /// Brings this process up to what every writer of the store committed (replicas sharing PostgreSQL),
    /// from the store's change feed: records newer than the ones held replace them, deleted ones are
    /// forgotten. Then what this process owes the changes is done: tasks placed elsewhere for an agent
    /// connected here are sent to it, and the services concerned get a scheduler pass.
    ///
    /// Returns how many records changed.
    @discardableResult
    public func followChanges() async throws(ClusterError) -> Int {
        let applied: Int
        do {
            await commitTurn.acquire()
            defer { commitTurn.release() }
            // The feed is compared with what is held: with no write of this process still in the air.
            await settleInTurn()
            applied = try await applyFeedInTurn()
        }
        await deliverOwedTasks()
        return applied
    }

    /// Sends the tasks the feed showed are owed to agents connected here, as they are now: a call of this
    /// process may have changed them since.
    func deliverOwedTasks() async {
        guard !owedToAgents.isEmpty else { return }
        let owed = owedToAgents
        owedToAgents = []
        await deliver(owed.compactMap { tasks[$0]?.value })
    }

    /// Before an API call on a replica sharing the store: brings this replica up to every commit
    /// acknowledged before the call began, so that an answer never misses what a caller was told another
    /// replica did (RunTask through one, then StopTask or DescribeTasks through another). Calls that
    /// arrive together share one read of the feed: a read that started after a call began serves it. When
    /// the store cannot be read, the call fails with a retryable ServerException rather than answer from
    /// what may be old. Without sharing there is nothing to catch up.
    public func catchUp() async throws(ClusterError) {
        guard settings.sharing != nil else { return }
        // The round running now may have read the feed before this call began: the next one is needed.
        let needed = catchUpRoundsStarted + 1
        while true {
            if let round = catchUpRound {
                let outcome = await round.read.result
                if catchUpRound?.number == round.number { catchUpRound = nil }
                guard round.number >= needed else { continue }
                if case .failure(let error) = outcome {
                    throw error as? ClusterError ?? ClusterError(.server, "cannot catch up: \(error)")
                }
                return
            }
            catchUpRoundsStarted += 1
            catchUpRound = (catchUpRoundsStarted, Task { try await self.followChanges() })
        }
    }

    /// Reads the feed and applies it; the caller holds the commit turn, so that no commit of this process
    /// lands between the two: what is read is never older than what is held. Returns the records applied;
    /// the tasks now owed to agents connected here join ``owedToAgents``.
    @discardableResult
    func applyFeedInTurn() async throws(ClusterError) -> Int {
        let batch: ChangeBatch
        do {
            batch = try await store.changes(after: feedPosition)
        } catch {
            throw ClusterError(.server, "cannot read the store's change feed: \(error)")
        }
        guard batch.position > feedPosition else { return 0 }
        var changedTasks: [ClusterTask] = []
        var changedServices: Set<String> = []
        var applied = 0
        var replicasChanged = false
        for change in batch.changes where change.version > version(of: change.kind, change.key) ?? 0 {
            if let body = change.body {
                try absorb(StoredRecord(kind: change.kind, key: change.key, version: change.version, body: body))
            } else {
                forget(change.kind, change.key)
            }
            applied += 1
            switch change.kind {
            case .task: if let task = tasks[change.key]?.value { changedTasks.append(task) }
            case .service: changedServices.insert(change.key)
            case .containerInstance:
                if let cluster = instances[change.key]?.value.clusterArn { servicesNeedPass(inCluster: cluster) }
            case .cluster, .taskDefinition, .clientToken, .lease: break
            case .replica: replicasChanged = true
            }
        }
        feedPosition = batch.position
        if replicasChanged { refreshAgentConnectivity() }
        for service in changedServices { serviceNeedsPass(service) }
        for task in changedTasks { serviceNeedsPass(forTaskIn: task.group, cluster: task.clusterArn) }
        // An agent connected here learns of tasks another replica placed on (or stopped for) its instance.
        let alreadySent = Set(inflight.values.flatMap { $0.desired.map { "\($0.key) \($0.value)" } })
        let owed = changedTasks.filter {
            sessions[$0.containerInstanceArn] != nil && $0.acknowledgedDesiredStatus != $0.desiredStatus
                && !alreadySent.contains("\($0.taskArn) \($0.desiredStatus)")
        }
        if applied > 0 {
            logger.debug(
                "followed the change feed",
                metadata: ["records": "\(applied)", "position": "\(batch.position)"]
            )
        }
        owedToAgents.formUnion(owed.map(\.taskArn))
        return applied
    }
}
