public import BerthControlPlane
import Foundation
import GRDB

/// The control plane's state in SQLite under `ECS_DATADIR` (`control-plane.db`, WAL, synchronous writes):
/// a commit has reached the disk before the API answers, so an acknowledged write survives `kill -9`.
///
/// Records are JSON documents with a version; a commit checks every version inside one transaction, so
/// two writers (two control planes on one file, or interleaved calls of one) never both win.
public final class SQLiteClusterStore: ClusterStore {
    public static let fileName = "control-plane.db"

    private let database: any DatabaseWriter
    public let path: String

    public init(directory: String) throws(ClusterStoreError) {
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            var configuration = Configuration()
            configuration.label = "berth-control-plane"
            configuration.busyMode = .timeout(10)
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            database = try DatabasePool(path: path, configuration: configuration)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE record (
                            kind TEXT NOT NULL,
                            key TEXT NOT NULL,
                            version INTEGER NOT NULL,
                            body BLOB NOT NULL,
                            PRIMARY KEY (kind, key)
                        );
                        """
                )
            }
            try migrator.migrate(database)
        } catch {
            throw .failed("cannot open \(path): \(error)")
        }
        self.path = path
    }

    public func loadAll() async throws(ClusterStoreError) -> [StoredRecord] {
        do {
            return try await database.read { db in
                try Row.fetchAll(db, sql: "SELECT kind, key, version, body FROM record").compactMap(Self.record)
            }
        } catch {
            throw .failed("cannot read the control plane's records: \(error)")
        }
    }

    public func load(_ kind: RecordKind, keys: Set<String>) async throws(ClusterStoreError) -> [StoredRecord] {
        do {
            return try await database.read { db in
                try keys.compactMap { key in
                    try Row.fetchOne(
                        db,
                        sql: "SELECT kind, key, version, body FROM record WHERE kind = ? AND key = ?",
                        arguments: [kind.rawValue, key]
                    ).flatMap(Self.record)
                }
            }
        } catch {
            throw .failed("cannot read records: \(error)")
        }
    }

    public func commit(_ writes: [RecordWrite]) async throws(ClusterStoreError) {
        let outcome: [RecordKind: Set<String>]
        do {
            outcome = try await database.write { db -> [RecordKind: Set<String>] in
                var conflicts: [RecordKind: Set<String>] = [:]
                for write in writes {
                    let current =
                        try Int64.fetchOne(
                            db,
                            sql: "SELECT version FROM record WHERE kind = ? AND key = ?",
                            arguments: [write.kind.rawValue, write.key]
                        ) ?? 0
                    if current != write.expectedVersion { conflicts[write.kind, default: []].insert(write.key) }
                }
                // Returning without writing leaves the transaction empty: nothing of the commit lands.
                guard conflicts.isEmpty else { return conflicts }
                for write in writes where !write.checkOnly {
                    if let body = write.body {
                        try db.execute(
                            sql: """
                                INSERT INTO record (kind, key, version, body) VALUES (?, ?, ?, ?)
                                ON CONFLICT (kind, key) DO UPDATE SET version = excluded.version, body = excluded.body
                                """,
                            arguments: [write.kind.rawValue, write.key, write.newVersion, body]
                        )
                    } else {
                        try db.execute(
                            sql: "DELETE FROM record WHERE kind = ? AND key = ?",
                            arguments: [write.kind.rawValue, write.key]
                        )
                    }
                }
                return [:]
            }
        } catch {
            throw .failed("cannot commit \(writes.count) record(s): \(error)")
        }
        if !outcome.isEmpty { throw .conflict(outcome) }
    }

    private static func record(_ row: Row) -> StoredRecord? {
        guard let kind = RecordKind(rawValue: row["kind"]) else { return nil }
        return StoredRecord(kind: kind, key: row["key"], version: row["version"], body: row["body"])
    }
}
