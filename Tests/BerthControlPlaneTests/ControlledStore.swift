import BerthControlPlane

/// An in-memory store whose commits the test controls: held until the test lets them through or fails
/// them, or failed outright while the test says so, as in a database outage.
actor ControlledStore: ClusterStore {
    let base = InMemoryClusterStore()
    private(set) var commits = 0
    private var failing = false
    private var holding = false
    private var held: [CheckedContinuation<Bool, Never>] = []

    /// Commits fail from now until `fail(false)`.
    func fail(_ failing: Bool) { self.failing = failing }

    /// Commits wait from now until ``release(failing:)``.
    func hold() { holding = true }

    /// Lets the held commits go on; with `failing`, they fail as a broken store would.
    func release(failing: Bool) {
        holding = false
        let waiting = held
        held = []
        for commit in waiting { commit.resume(returning: failing) }
    }

    var waiting: Int { held.count }

    func loadAll() async throws(ClusterStoreError) -> [StoredRecord] { await base.loadAll() }

    func load(_ kind: RecordKind, keys: Set<String>) async throws(ClusterStoreError) -> [StoredRecord] {
        await base.load(kind, keys: keys)
    }

    func commit(_ writes: [RecordWrite]) async throws(ClusterStoreError) {
        if failing { throw .failed("the test failed this commit") }
        if holding {
            let fail = await withCheckedContinuation { held.append($0) }
            if fail { throw .failed("the test failed this commit") }
        }
        commits += 1
        try await base.commit(writes)
    }

    func feedPosition() async throws(ClusterStoreError) -> Int64 { try await base.feedPosition() }

    func changes(after position: Int64) async throws(ClusterStoreError) -> ChangeBatch {
        try await base.changes(after: position)
    }

    nonisolated func changeSignals() -> AsyncStream<Void> { base.changeSignals() }
}
