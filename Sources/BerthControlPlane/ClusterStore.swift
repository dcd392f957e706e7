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
    /// A control plane process sharing the store: who it is and when it was last alive.
    case replica
    /// A lease over the loops that must run on one replica at a time.
    case lease
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
/// deletes it. A check writes nothing: the commit only requires the record to be at that version (a
/// fence: a singleton loop's writes land only while the lease it holds is the current one).
public struct RecordWrite: Sendable, Hashable {
    public var kind: RecordKind
    public var key: String
    public var expectedVersion: Int64
    public var body: Data?
    public var checkOnly: Bool
    /// The version the record has after this write: one more than expected, or more when the write stands
    /// for several made one after another (the control plane's commits gathered into one).
    public var newVersion: Int64

    public init(kind: RecordKind, key: String, expectedVersion: Int64, body: Data?) {
        self.kind = kind
        self.key = key
        self.expectedVersion = expectedVersion
        self.body = body
        self.checkOnly = false
        self.newVersion = expectedVersion + 1
    }

    /// Requires `key` to be at `version`, writing nothing.
    public static func check(_ kind: RecordKind, _ key: String, at version: Int64) -> RecordWrite {
        var write = RecordWrite(kind: kind, key: key, expectedVersion: version, body: nil)
        write.checkOnly = true
        write.newVersion = version
        return write
    }

    /// Writes made one after another, as one write per record: each record's first expected version, and
    /// its last write's body and version (a check leaves what an earlier write set).
    public static func coalesced(_ writes: [RecordWrite]) -> [RecordWrite] {
        var order: [String] = []
        var merged: [String: RecordWrite] = [:]
        for write in writes {
            let identity = "\(write.kind.rawValue)\u{0}\(write.key)"
            guard var earlier = merged[identity] else {
                merged[identity] = write
                order.append(identity)
                continue
            }
            if !write.checkOnly {
                earlier.body = write.body
                earlier.checkOnly = false
                earlier.newVersion = write.newVersion
            }
            merged[identity] = earlier
        }
        return order.compactMap { merged[$0] }
    }
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

/// A record as the last commit that touched it left it: `body` nil when that commit deleted it.
public struct RecordChange: Sendable, Hashable {
    public var kind: RecordKind
    public var key: String
    public var version: Int64
    public var body: Data?

    public init(kind: RecordKind, key: String, version: Int64, body: Data?) {
        self.kind = kind
        self.key = key
        self.version = version
        self.body = body
    }
}

/// What the change feed holds after a position: every record a later commit touched, as it is now (a record
/// touched twice appears once), and the position the batch brings its reader to.
public struct ChangeBatch: Sendable, Hashable {
    public var changes: [RecordChange]
    public var position: Int64

    public init(changes: [RecordChange], position: Int64) {
        self.changes = changes
        self.position = position
    }
}

/// Where the control plane's state lives: SQLite for one host, PostgreSQL shared by replicas. A commit is
/// all or nothing and durable before it returns, and it fails with `.conflict` when any record's version
/// moved, so concurrent schedulers can never both reserve the same resources.
///
/// A store shared by replicas also keeps a change feed: each commit gets the next position, and commits
/// become visible in position order, so a reader that has seen position p has seen every commit up to p.
/// A replica follows it to decide from what every replica committed, not only from what it wrote itself.
public protocol ClusterStore: Sendable {
    func loadAll() async throws(ClusterStoreError) -> [StoredRecord]
    func load(_ kind: RecordKind, keys: Set<String>) async throws(ClusterStoreError) -> [StoredRecord]
    func commit(_ writes: [RecordWrite]) async throws(ClusterStoreError)

    /// The feed's position now: commits after it are what ``changes(after:)`` returns.
    func feedPosition() async throws(ClusterStoreError) -> Int64
    /// The records that commits after `position` touched.
    func changes(after position: Int64) async throws(ClusterStoreError) -> ChangeBatch
    /// Yields when another writer may have committed (and after the wake-ups themselves were interrupted,
    /// when some may have been missed). Readers also poll: a wake-up is a hint, never the only way.
    func changeSignals() -> AsyncStream<Void>
}

/// A store only one control plane writes (SQLite under ECS_DATADIR, memory) has no feed: nothing commits
/// that its writer has not seen.
extension ClusterStore {
    public func feedPosition() async throws(ClusterStoreError) -> Int64 { 0 }

    public func changes(after position: Int64) async throws(ClusterStoreError) -> ChangeBatch {
        ChangeBatch(changes: [], position: position)
    }

    public func changeSignals() -> AsyncStream<Void> { AsyncStream { _ in } }
}
