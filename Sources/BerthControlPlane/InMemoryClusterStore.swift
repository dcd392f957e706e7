import Foundation
import Synchronization

/// A store in memory: for tests, and for a control plane whose state need not outlive the process. Like
/// the PostgreSQL store it keeps tombstones and a change feed, so control planes sharing one in a test
/// behave as replicas do.
public actor InMemoryClusterStore: ClusterStore {
    private struct Key: Hashable {
        var kind: RecordKind
        var key: String
    }

    private struct Entry {
        var version: Int64
        /// Nil: a tombstone.
        var body: Data?
        var position: Int64
    }

    private var entries: [Key: Entry] = [:]
    private var position: Int64 = 0
    private nonisolated let listeners = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])

    public init() {}

    public func loadAll() -> [StoredRecord] {
        entries.compactMap { key, entry in
            entry.body.map { StoredRecord(kind: key.kind, key: key.key, version: entry.version, body: $0) }
        }
    }

    public func load(_ kind: RecordKind, keys: Set<String>) -> [StoredRecord] {
        keys.compactMap { key in
            guard let entry = entries[Key(kind: kind, key: key)], let body = entry.body else { return nil }
            return StoredRecord(kind: kind, key: key, version: entry.version, body: body)
        }
    }

    public func commit(_ writes: [RecordWrite]) throws(ClusterStoreError) {
        var conflicts: [RecordKind: Set<String>] = [:]
        for write in writes {
            let entry = entries[Key(kind: write.kind, key: write.key)]
            // Version 0 means "does not exist": never written, or a tombstone.
            let current = entry?.body == nil ? 0 : entry?.version ?? 0
            if current != write.expectedVersion { conflicts[write.kind, default: []].insert(write.key) }
        }
        guard conflicts.isEmpty else { throw .conflict(conflicts) }
        position += 1
        for write in writes where !write.checkOnly {
            let key = Key(kind: write.kind, key: write.key)
            let version = max((entries[key]?.version ?? 0) + 1, write.newVersion)
            entries[key] = Entry(version: version, body: write.body, position: position)
        }
        for listener in listeners.withLock({ Array($0.values) }) { listener.yield() }
    }

    public func feedPosition() -> Int64 { position }

    public func changes(after position: Int64) -> ChangeBatch {
        let changes = entries.filter { $0.value.position > position }
            .sorted { $0.value.position < $1.value.position }
            .map { RecordChange(kind: $0.key.kind, key: $0.key.key, version: $0.value.version, body: $0.value.body) }
        return ChangeBatch(changes: changes, position: self.position)
    }

    public nonisolated func changeSignals() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        listeners.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in self?.forget(listener: id) }
        return stream
    }

    private nonisolated func forget(listener id: UUID) {
        _ = listeners.withLock { $0.removeValue(forKey: id) }
    }
}
