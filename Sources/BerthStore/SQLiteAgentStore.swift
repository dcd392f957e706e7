public import BerthAgent
import BerthModel
import Foundation
import GRDB

/// The agent's state in SQLite under `ECS_DATADIR` (`berth.db`, WAL, synchronous writes): a save has
/// reached the disk when it returns, so a crash or a power cut after it loses nothing the agent acted on.
///
/// Tasks are stored whole, as JSON, with their revision: a save never replaces a later revision, so
/// writes that race each other cannot put an older record back.
public final class SQLiteAgentStore: AgentStateStore {
    /// The file under the data directory.
    public static let fileName = "berth.db"

    private let database: any DatabaseWriter
    /// Where the database lives; nil when it is in memory (`ECS_CHECKPOINT=false`).
    public let path: String?

    /// Opens (or creates) the store in `directory`.
    public init(directory: String) throws(AgentError) {
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw AgentError(.store, "cannot create the data directory \(directory): \(error.localizedDescription)")
        }
        do {
            self.database = try DatabasePool(path: path, configuration: Self.configuration)
        } catch {
            throw AgentError(.store, "cannot open \(path): \(error)")
        }
        self.path = path
        try migrate()
    }

    /// A store that lives as long as the process: nothing survives a restart.
    public init() throws(AgentError) {
        do {
            self.database = try DatabaseQueue(configuration: Self.configuration)
        } catch {
            throw AgentError(.store, "cannot open an in-memory database: \(error)")
        }
        self.path = nil
        try migrate()
    }

    private static var configuration: Configuration {
        var configuration = Configuration()
        configuration.label = "berth-agent-state"
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // WAL with NORMAL survives a process crash but not a power cut; the agent's promise is both.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return configuration
    }

    private func migrate() throws(AgentError) {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE task (
                        arn TEXT PRIMARY KEY NOT NULL,
                        revision INTEGER NOT NULL,
                        received_at REAL NOT NULL,
                        record BLOB NOT NULL
                    );
                    CREATE TABLE image (
                        reference TEXT PRIMARY KEY NOT NULL,
                        record BLOB NOT NULL
                    );
                    CREATE TABLE metadata (
                        key TEXT PRIMARY KEY NOT NULL,
                        value TEXT NOT NULL
                    );
                    """
            )
        }
        do {
            try migrator.migrate(database)
        } catch {
            throw AgentError(.store, "cannot prepare the state database: \(error)")
        }
    }

    // MARK: Tasks

    public func loadTasks() async throws(AgentError) -> [TaskRecord] {
        let rows: [Data] = try await read { db in
            try Data.fetchAll(db, sql: "SELECT record FROM task ORDER BY received_at, arn")
        }
        var records: [TaskRecord] = []
        for row in rows {
            do {
                records.append(try JSONDecoder().decode(TaskRecord.self, from: row))
            } catch {
                throw AgentError(.store, "a saved task cannot be read: \(error)")
            }
        }
        return records
    }

    public func save(_ task: TaskRecord) async throws(AgentError) {
        let data = try encode(task)
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO task (arn, revision, received_at, record) VALUES (?, ?, ?, ?)
                    ON CONFLICT (arn) DO UPDATE SET revision = excluded.revision, record = excluded.record
                    WHERE excluded.revision > task.revision
                    """,
                arguments: [task.arn, task.revision, task.receivedAt.secondsSinceEpoch, data]
            )
        }
    }

    public func deleteTask(arn: String) async throws(AgentError) {
        try await write { db in try db.execute(sql: "DELETE FROM task WHERE arn = ?", arguments: [arn]) }
    }

    // MARK: Images

    public func loadImages() async throws(AgentError) -> [ImageRecord] {
        let rows: [Data] = try await read { db in
            try Data.fetchAll(db, sql: "SELECT record FROM image ORDER BY reference")
        }
        var records: [ImageRecord] = []
        for row in rows {
            do {
                records.append(try JSONDecoder().decode(ImageRecord.self, from: row))
            } catch {
                throw AgentError(.store, "a saved image record cannot be read: \(error)")
            }
        }
        return records
    }

    public func save(_ image: ImageRecord) async throws(AgentError) {
        let data = try encode(image)
        try await write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO image (reference, record) VALUES (?, ?)",
                arguments: [image.reference, data]
            )
        }
    }

    public func deleteImage(reference: String) async throws(AgentError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM image WHERE reference = ?", arguments: [reference])
        }
    }

    // MARK: Metadata

    public func metadata(_ key: AgentMetadataKey) async throws(AgentError) -> String? {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT value FROM metadata WHERE key = ?", arguments: [key.rawValue])
        }
    }

    public func setMetadata(_ key: AgentMetadataKey, _ value: String) async throws(AgentError) {
        try await write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO metadata (key, value) VALUES (?, ?)",
                arguments: [key.rawValue, value]
            )
        }
    }

    public func removeAll() async throws(AgentError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM task; DELETE FROM image; DELETE FROM metadata")
        }
    }

    // MARK: Plumbing

    private func encode(_ value: some Encodable) throws(AgentError) -> Data {
        do {
            return try JSONEncoder().encode(value)
        } catch {
            throw AgentError(.store, "cannot encode \(type(of: value)): \(error)")
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(AgentError) -> T {
        do {
            return try await database.read(body)
        } catch {
            throw AgentError(.store, "cannot read the state database: \(error)")
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(AgentError) -> T {
        do {
            return try await database.write(body)
        } catch {
            throw AgentError(.store, "cannot write the state database: \(error)")
        }
    }
}
