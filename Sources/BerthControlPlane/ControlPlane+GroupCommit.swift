import BerthModel
import Logging

extension ControlPlane {
    /// Applies a decision's writes here and adds them to the commit gathering; starts committing when the
    /// store is idle. The caller holds the commit turn.
    func enqueue(_ staged: [Staged], writes: [RecordWrite]) -> PendingCommit {
        let pending = openCommit ?? PendingCommit()
        openCommit = pending
        for (change, write) in zip(staged, writes) {
            pending.remember(snapshot(of: change))
            apply(change, version: write.newVersion)
        }
        pending.writes += writes
        if inflightCommit == nil { Task { await self.commitGathered() } }
        return pending
    }

    /// Commits what has gathered, one store commit at a time, until nothing is left. A commit that fails
    /// is undone here, and so is everything decided on top of it since.
    func commitGathered() async {
        while inflightCommit == nil, let next = openCommit {
            openCommit = nil
            inflightCommit = next
            let outcome: PendingCommit.Outcome
            do {
                try await store.commit(RecordWrite.coalesced(next.writes))
                storeFailedAt = nil
                outcome = .committed
            } catch {
                switch error {
                case .conflict(let keys): outcome = .conflict(keys)
                case .failed(let message):
                    logger.error("control plane store failed", metadata: ["error": "\(message)"])
                    storeFailedAt = .now
                    outcome = .failed
                }
            }
            inflightCommit = nil
            var undone: PendingCommit?
            if outcome != .committed {
                // Newest first: each puts back what the one before it had left.
                undone = openCommit
                openCommit = nil
                if let undone { undo(undone) }
                undo(next)
            }
            // The failed commit's callers first: after a conflict they reload what is stale, and the undone
            // ones, coming after, decide on that.
            next.resolve(outcome)
            undone?.resolve(.undone)
        }
    }

    /// Waits until every write applied here so far is committed or undone. The caller holds the commit
    /// turn, so that no new ones are made meanwhile.
    func settleInTurn() async {
        while let pending = openCommit ?? inflightCommit { _ = await pending.outcome() }
    }

    private func undo(_ pending: PendingCommit) {
        for snapshot in pending.before { restore(snapshot) }
        // Whether an agent is connected is this process's knowledge, not the record's.
        refreshAgentConnectivity()
    }

    func snapshot(of change: Staged) -> RecordSnapshot {
        switch change {
        case .cluster(let value): .cluster(value.clusterName, clusters[value.clusterName])
        case .instance(let value): .instance(value.containerInstanceArn, instances[value.containerInstanceArn])
        case .definition(let value): .definition(value.key, definitions[value.key])
        case .task(let value): .task(value.taskArn, tasks[value.taskArn])
        case .token(let value): .token(value.token, tokens[value.token])
        case .service(let value): .service(value.serviceArn, services[value.serviceArn])
        case .replica(let value): .replica(value.id, replicas[value.id])
        case .lease(let value): .lease(value.name, leases[value.name])
        case .remove(let kind, let key):
            switch kind {
            case .cluster: .cluster(key, clusters[key])
            case .containerInstance: .instance(key, instances[key])
            case .taskDefinition: .definition(key, definitions[key])
            case .task: .task(key, tasks[key])
            case .clientToken: .token(key, tokens[key])
            case .service: .service(key, services[key])
            case .replica: .replica(key, replicas[key])
            case .lease: .lease(key, leases[key])
            }
        }
    }

    private func restore(_ snapshot: RecordSnapshot) {
        switch snapshot {
        case .cluster(let key, let value): clusters[key] = value
        case .instance(let key, let value): instances[key] = value
        case .definition(let key, let value): definitions[key] = value
        case .task(let key, let value): tasks[key] = value
        case .token(let key, let value): tokens[key] = value
        case .service(let key, let value): services[key] = value
        case .replica(let key, let value): replicas[key] = value
        case .lease(let key, let value): leases[key] = value
        }
    }
}

extension ControlPlane {
    /// How many writes are gathering for the next store commit (tests watch it).
    var writesGathering: Int { openCommit?.writes.count ?? 0 }
}
