public import Foundation

/// The kinds of record the control plane keeps. Each record is a JSON document under a key, with a version
/// that grows by one on every write.
public enum RecordKind: String, Sendable, Hashable, CaseIterable, Codable {
    case cluster
    case containerInstance = "container-instance"
    case taskDefinition = "task-definition"
    case task
    /// RunTask client tokens, so a retried call answers with the tasks the first one placed.
    case clientToken = "client-token"
    case service
}

/// One stored record.
public struct StoredRecord: Sendable, Hashable {
    public var kind: RecordKind
    public var key: String
    public var version: Int64
    public var body: Data

    public init(kind: RecordKind, key: String, version: Int64, body: Data) {
        self.kind = kind
        self.key = key
        self.version = version
        self.body = body
    }
}

/// A write in a commit: the record must still be at `expectedVersion` (0: must not exist yet); `body` nil
/// deletes it.
public struct RecordWrite: Sendable, Hashable {
    public var kind: RecordKind
    public var key: String
    public var expectedVersion: Int64
    public var body: Data?

    public init(kind: RecordKind, key: String, expectedVersion: Int64, body: Data?) {
        self.kind = kind
        self.key = key
        self.expectedVersion = expectedVersion
        self.body = body
    }

    /// The version the record has after this write.
    public var newVersion: Int64 { expectedVersion + 1 }
}

/// Why a commit did not happen.
public enum ClusterStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Another writer changed these records first: reload them and decide again (optimistic concurrency).
    case conflict([RecordKind: Set<String>])
    /// The store failed; nothing of the commit was written.
    case failed(String)

    public var description: String {
        switch self {
        case .conflict(let keys): "version conflict on \(keys.values.map(\.count).reduce(0, +)) record(s)"
        case .failed(let message): "store failed: \(message)"
        }
    }
}

/// Where the control plane's state lives: SQLite for one host, PostgreSQL shared by replicas. A commit is
/// all or nothing and durable before it returns, and it fails with `.conflict` when any record's version
/// moved, so concurrent schedulers can never both reserve the same resources.
public protocol ClusterStore: Sendable {
    func loadAll() async throws(ClusterStoreError) -> [StoredRecord]
    func load(_ kind: RecordKind, keys: Set<String>) async throws(ClusterStoreError) -> [StoredRecord]
    func commit(_ writes: [RecordWrite]) async throws(ClusterStoreError)
}
