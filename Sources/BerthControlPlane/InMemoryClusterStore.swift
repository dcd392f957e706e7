import Foundation

/// A store in memory: for tests, and for a control plane whose state need not outlive the process.
public actor InMemoryClusterStore: ClusterStore {
    private struct Key: Hashable {
        var kind: RecordKind
        var key: String
    }

    private var records: [Key: StoredRecord] = [:]

    public init() {}

    public func loadAll() -> [StoredRecord] { Array(records.values) }

    public func load(_ kind: RecordKind, keys: Set<String>) -> [StoredRecord] {
        keys.compactMap { records[Key(kind: kind, key: $0)] }
    }

    public func commit(_ writes: [RecordWrite]) throws(ClusterStoreError) {
        var conflicts: [RecordKind: Set<String>] = [:]
        for write in writes
        where (records[Key(kind: write.kind, key: write.key)]?.version ?? 0) != write.expectedVersion {
            conflicts[write.kind, default: []].insert(write.key)
        }
        guard conflicts.isEmpty else { throw .conflict(conflicts) }
        for write in writes {
            let key = Key(kind: write.kind, key: write.key)
            if let body = write.body {
                records[key] = StoredRecord(kind: write.kind, key: write.key, version: write.newVersion, body: body)
            } else {
                records[key] = nil
            }
        }
    }
}
