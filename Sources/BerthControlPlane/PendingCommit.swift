import BerthModel

/// Writes the control plane has applied in memory and not yet committed to its store, gathered from the
/// calls that decided while the store was busy (see ``ControlPlane/transact(_:)``): committed together,
/// and undone together if that fails.
final class PendingCommit {
    enum Outcome: Sendable, Hashable {
        case committed
        /// Another writer changed these records first.
        case conflict([RecordKind: Set<String>])
        /// Undone because the commit before it failed: it was decided on writes that did not land.
        case undone
        case failed
    }

    var writes: [RecordWrite] = []
    /// Each record as it was before the first write here, to put back if the commit fails.
    var before: [RecordSnapshot] = []
    private var touched: Set<String> = []
    private var resolved: Outcome?
    private var waiters: [CheckedContinuation<Outcome, Never>] = []

    /// Keeps `snapshot` unless a record's state before this commit is kept already.
    func remember(_ snapshot: RecordSnapshot) {
        guard touched.insert(snapshot.identity).inserted else { return }
        before.append(snapshot)
    }

    /// Whether a write here is to the record a snapshot of it would name (``RecordSnapshot/identity``).
    func touches(_ identity: String) -> Bool { touched.contains(identity) }

    func resolve(_ outcome: Outcome) {
        guard resolved == nil else { return }
        resolved = outcome
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.resume(returning: outcome) }
    }

    /// Waits until the commit is resolved. The control plane (an actor) owns this object: every use is in
    /// its isolation, which the wait keeps.
    func outcome(isolation: isolated (any Actor)? = #isolation) async -> Outcome {
        if let resolved { return resolved }
        return await withCheckedContinuation(isolation: isolation) { waiters.append($0) }
    }
}

/// A record as it stood (nil: absent), to put back.
enum RecordSnapshot {
    case cluster(String, ControlPlane.Versioned<Cluster>?)
    case instance(String, ControlPlane.Versioned<ContainerInstance>?)
    case definition(String, ControlPlane.Versioned<TaskDefinition>?)
    case task(String, ControlPlane.Versioned<ClusterTask>?)
    case token(String, ControlPlane.Versioned<ClientTokenRecord>?)
    case service(String, ControlPlane.Versioned<ClusterService>?)
    case replica(String, ControlPlane.Versioned<ReplicaRecord>?)
    case lease(String, ControlPlane.Versioned<LeaseRecord>?)

    var identity: String {
        switch self {
        case .cluster(let key, _): "cluster \(key)"
        case .instance(let key, _): "instance \(key)"
        case .definition(let key, _): "definition \(key)"
        case .task(let key, _): "task \(key)"
        case .token(let key, _): "token \(key)"
        case .service(let key, _): "service \(key)"
        case .replica(let key, _): "replica \(key)"
        case .lease(let key, _): "lease \(key)"
        }
    }
}
