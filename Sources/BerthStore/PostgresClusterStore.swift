public import BerthConfig
public import BerthControlPlane
import Foundation
public import Logging
import NIOSSL
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// The control plane's state in PostgreSQL (BERTH_DATABASE_URL), where replicas share it: the same records
/// and versions as ``SQLiteClusterStore``, committed all-or-nothing with every version checked in one
/// transaction (rows locked `FOR UPDATE`; a key that does not exist yet is claimed by its INSERT, so two
/// creators cannot both win).
///
/// A delete leaves a tombstone (the row without a body, its version moved on), and a key created again
/// continues from the tombstone's version: versions of a key never repeat, so a replica holding an old
/// copy can never mistake the new record for it. The control plane then holds a smaller version than the
/// row's, and its next write of that record conflicts once and reloads it.
///
/// The schema is Berth's own, versioned in `berth_schema`; a replica refuses a database whose schema is
/// newer than it knows.
public final class PostgresClusterStore: ClusterStore {
    /// The schema version this build writes and reads.
    public static let schemaVersion = 2

    let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger
    public let url: DatabaseURL

    private init(url: DatabaseURL, client: PostgresClient, runner: Task<Void, Never>, logger: Logger) {
        self.url = url
        self.client = client
        self.runner = runner
        self.logger = logger
    }

    /// Connects, and creates or migrates the schema. The client's connection pool runs until ``close()``.
    public static func open(_ url: DatabaseURL, logger: Logger) async throws(ClusterStoreError) -> PostgresClusterStore
    {
        let configuration = try clientConfiguration(url)
        try await probe(url, logger: logger)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let runner = Task { await client.run() }
        let store = PostgresClusterStore(url: url, client: client, runner: runner, logger: logger)
        do {
            try await store.migrate()
        } catch {
            store.close()
            throw error
        }
        return store
    }

    /// Ends the connection pool.
    public func close() { runner.cancel() }

    static func clientConfiguration(_ url: DatabaseURL) throws(ClusterStoreError) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch url.endpoint {
        case .unixSocket(let path):
            configuration = .init(
                unixSocketPath: path,
                username: url.user,
                password: url.password,
                database: url.database
            )
        case .tcp(let host, let port):
            let tls = try tlsConfiguration(url)
            let mode: PostgresClient.Configuration.TLS =
                switch url.tlsMode {
                case .disable: .disable
                case .prefer: .prefer(tls)
                case .require, .verifyCA, .verifyFull: .require(tls)
                }
            configuration = .init(
                host: host,
                port: port,
                username: url.user,
                password: url.password,
                database: url.database,
                tls: mode
            )
        }
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    /// TLS as libpq's sslmode means it: `prefer` and `require` do not check the certificate.
    static func tlsConfiguration(_ url: DatabaseURL) throws(ClusterStoreError) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        switch url.tlsMode {
        case .disable, .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        if let file = url.rootCertificateFile {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
            } catch {
                throw .failed("BERTH_DATABASE_URL: cannot read PEM certificates from sslrootcert \(file): \(error)")
            }
        }
        return tls
    }

    /// A connection of its own to the database (outside the pool).
    static func connectionConfiguration(
        _ url: DatabaseURL
    ) throws(ClusterStoreError) -> PostgresConnection.Configuration {
        let tlsConfiguration = try tlsConfiguration(url)
        var direct: PostgresConnection.Configuration
        switch url.endpoint {
        case .unixSocket(let path):
            direct = .init(unixSocketPath: path, username: url.user, password: url.password, database: url.database)
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS
            do {
                tls =
                    switch url.tlsMode {
                    case .disable: .disable
                    case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration))
                    case .require, .verifyCA, .verifyFull: .require(try NIOSSLContext(configuration: tlsConfiguration))
                    }
            } catch {
                throw .failed("BERTH_DATABASE_URL: cannot set up TLS: \(error)")
            }
            direct = .init(
                host: host,
                port: port,
                username: url.user,
                password: url.password,
                database: url.database,
                tls: tls
            )
        }
        direct.options.connectTimeout = .seconds(10)
        return direct
    }

    /// One connection made directly, so that a database that cannot be reached (or refuses the user) is
    /// reported at once with the server's reason; the pool would only keep retrying.
    private static func probe(
        _ url: DatabaseURL,
        logger: Logger
    ) async throws(ClusterStoreError) {
        let configuration = try connectionConfiguration(url)
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try await connection.close()
        } catch {
            throw .failed("cannot connect to the database \(url): \(describe(error))")
        }
    }

    // MARK: Schema

    private func migrate() async throws(ClusterStoreError) {
        let known = Self.schemaVersion
        do {
            try await client.withTransaction(logger: logger) { connection in
                // Replicas starting together migrate one at a time (a lock held to the end of this
                // transaction only, so no session can keep it by accident).
                try await connection.query("SELECT pg_advisory_xact_lock(727274)", logger: self.logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS berth_schema (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        version INTEGER NOT NULL
                    )
                    """,
                    logger: self.logger
                )
                var current = 0
                for try await version in try await connection.query(
                    "SELECT version FROM berth_schema WHERE id = 1",
                    logger: self.logger
                ).decode(Int.self) {
                    current = version
                }
                guard current <= known else { throw NewerSchema(found: current, known: known) }
                if current < 1 {
                    try await connection.query(
                        """
                        CREATE TABLE berth_record (
                            kind TEXT NOT NULL,
                            key TEXT NOT NULL,
                            version BIGINT NOT NULL,
                            body BYTEA,
                            PRIMARY KEY (kind, key)
                        )
                        """,
                        logger: self.logger
                    )
                }
                if current < 2 {
                    // The change feed: every commit takes the next position from the one feed row, whose
                    // lock it holds until it commits, so commits become visible in position order and a
                    // reader that sees position p has every commit up to p (a plain sequence would let a
                    // later value become visible before an earlier one, and the reader skip it for good).
                    try await connection.query(
                        """
                        CREATE TABLE berth_feed (
                            id INTEGER PRIMARY KEY CHECK (id = 1),
                            position BIGINT NOT NULL
                        )
                        """,
                        logger: self.logger
                    )
                    try await connection.query(
                        "INSERT INTO berth_feed (id, position) VALUES (1, 0)",
                        logger: self.logger
                    )
                    try await connection.query(
                        "ALTER TABLE berth_record ADD COLUMN position BIGINT NOT NULL DEFAULT 0",
                        logger: self.logger
                    )
                    try await connection.query(
                        "CREATE INDEX berth_record_position ON berth_record (position)",
                        logger: self.logger
                    )
                }
                if current < known {
                    try await connection.query(
                        """
                        INSERT INTO berth_schema (id, version) VALUES (1, \(known))
                        ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version
                        """,
                        logger: self.logger
                    )
                }
            }
        } catch {
            if let newer = (error as? PostgresTransactionError)?.closureError as? NewerSchema {
                throw .failed(
                    "the database's schema is version \(newer.found), newer than this Berth knows (\(newer.known)): run a newer Berth against it"
                )
            }
            throw .failed("cannot prepare the database \(url): \(Self.describe(error))")
        }
    }

    private struct NewerSchema: Error {
        let found: Int
        let known: Int
    }

    // MARK: ClusterStore

    public func loadAll() async throws(ClusterStoreError) -> [StoredRecord] {
        do {
            let logger = self.logger
            return try await withinDeadline { [client] in
                var records: [StoredRecord] = []
                let rows = try await client.query(
                    "SELECT kind, key, version, body FROM berth_record WHERE body IS NOT NULL",
                    logger: logger
                )
                for try await (kind, key, version, body) in rows.decode((String, String, Int64, Data).self) {
                    guard let kind = RecordKind(rawValue: kind) else { continue }
                    records.append(StoredRecord(kind: kind, key: key, version: version, body: body))
                }
                return records
            }
        } catch {
            throw .failed("cannot read the control plane's records: \(Self.describe(error))")
        }
    }

    public func load(_ kind: RecordKind, keys: Set<String>) async throws(ClusterStoreError) -> [StoredRecord] {
        guard !keys.isEmpty else { return [] }
        do {
            let logger = self.logger
            return try await withinDeadline { [client] in
                var records: [StoredRecord] = []
                let rows = try await client.query(
                    """
                    SELECT key, version, body FROM berth_record
                    WHERE kind = \(kind.rawValue) AND key = ANY(\(Array(keys))) AND body IS NOT NULL
                    """,
                    logger: logger
                )
                for try await (key, version, body) in rows.decode((String, Int64, Data).self) {
                    records.append(StoredRecord(kind: kind, key: key, version: version, body: body))
                }
                return records
            }
        } catch {
            throw .failed("cannot read records: \(Self.describe(error))")
        }
    }

    public func commit(_ writes: [RecordWrite]) async throws(ClusterStoreError) {
        guard !writes.isEmpty else { return }
        let logger = self.logger
        do {
            try await withinDeadline { [client] in
                try await Self.commit(writes, on: client, logger: logger)
            }
        } catch {
            let cause = (error as? PostgresTransactionError)?.closureError ?? error
            if let conflict = cause as? VersionConflict { throw .conflict(conflict.keys) }
            if let state = (cause as? PSQLError)?.serverInfo?[.sqlState],
                [PostgresError.Code.uniqueViolation.raw, "40P01", "40001"].contains(state)
            {
                // Another commit claimed a key first, or the server broke a lock cycle: decide again.
                var keys: [RecordKind: Set<String>] = [:]
                for write in writes { keys[write.kind, default: []].insert(write.key) }
                throw .conflict(keys)
            }
            throw .failed("cannot commit \(writes.count) record(s): \(Self.describe(error))")
        }
    }

    /// A fixed number of statements whatever the number of records (a RunTask of ten tasks writes twenty
    /// or so): each round trip is time the rows stay locked and other replicas' commits wait or conflict.
    private static func commit(_ writes: [RecordWrite], on client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            // Rows are locked in the statement's order, the same for every commit, so two commits over the
            // same records wait for each other rather than deadlock.
            var found: [RecordIdentity: (version: Int64, live: Bool)] = [:]
            let rows = try await connection.query(
                """
                SELECT r.kind, r.key, r.version, r.body IS NOT NULL FROM berth_record r
                JOIN unnest(\(writes.map(\.kind.rawValue))::text[], \(writes.map(\.key))::text[]) AS w(kind, key)
                ON r.kind = w.kind AND r.key = w.key
                ORDER BY r.kind COLLATE "C", r.key COLLATE "C"
                FOR UPDATE OF r
                """,
                logger: logger
            )
            for try await (kind, key, version, live) in rows.decode((String, String, Int64, Bool).self) {
                found[RecordIdentity(kind: kind, key: key)] = (version, live)
            }
            var conflicts: [RecordKind: Set<String>] = [:]
            for write in writes {
                let current = found[RecordIdentity(kind: write.kind.rawValue, key: write.key)]
                // Version 0 means "does not exist": no row, or a tombstone.
                let matches =
                    write.expectedVersion == 0
                    ? current?.live != true : current?.live == true && current?.version == write.expectedVersion
                if !matches { conflicts[write.kind, default: []].insert(write.key) }
            }
            guard conflicts.isEmpty else { throw VersionConflict(keys: conflicts) }
            // Taken last, once the versions are known to match, so that the feed row is locked only for
            // the writes themselves.
            var position: Int64 = 0
            for try await value in try await connection.query(
                "UPDATE berth_feed SET position = position + 1 WHERE id = 1 RETURNING position",
                logger: logger
            ).decode(Int64.self) {
                position = value
            }
            // A record written twice in one commit keeps its last write, as writing row by row would; one
            // UPDATE joining the row to both would keep either.
            var last: [RecordIdentity: Int] = [:]
            for (index, write) in writes.enumerated() where !write.checkOnly {
                last[RecordIdentity(kind: write.kind.rawValue, key: write.key)] = index
            }
            let changes = last.values.sorted().map { writes[$0] }
            let updates = changes.compactMap { write -> (RecordWrite, Int64)? in
                guard let existing = found[RecordIdentity(kind: write.kind.rawValue, key: write.key)] else {
                    return nil
                }
                // A tombstone's version goes on growing: a record deleted and made again is never at a
                // version it had before.
                return (write, max(existing.version + 1, write.newVersion))
            }
            if !updates.isEmpty {
                // A delete keeps the row as a tombstone: no body.
                try await connection.query(
                    """
                    UPDATE berth_record r
                    SET version = w.version, body = CASE WHEN w.gone THEN NULL ELSE w.body END, position = \(position)
                    FROM unnest(
                        \(updates.map(\.0.kind.rawValue))::text[], \(updates.map(\.0.key))::text[],
                        \(updates.map(\.1))::int8[], \(updates.map { ByteBuffer(bytes: $0.0.body ?? Data()) })::bytea[],
                        \(updates.map { $0.0.body == nil })::bool[]
                    ) AS w(kind, key, version, body, gone)
                    WHERE r.kind = w.kind AND r.key = w.key
                    """,
                    logger: logger
                )
            }
            // No row to lock: the INSERT claims the key, and a concurrent creator's INSERT fails on the
            // primary key (a conflict in ``commit(_:)``).
            let inserts = changes.filter {
                $0.body != nil && found[RecordIdentity(kind: $0.kind.rawValue, key: $0.key)] == nil
            }
            if !inserts.isEmpty {
                try await connection.query(
                    """
                    INSERT INTO berth_record (kind, key, version, body, position)
                    SELECT w.kind, w.key, w.version, w.body, \(position) FROM unnest(
                        \(inserts.map(\.kind.rawValue))::text[], \(inserts.map(\.key))::text[],
                        \(inserts.map(\.newVersion))::int8[], \(inserts.map { ByteBuffer(bytes: $0.body ?? Data()) })::bytea[]
                    ) AS w(kind, key, version, body)
                    """,
                    logger: logger
                )
            }
            // Delivered when (and only if) the transaction commits.
            try await connection.query(
                "SELECT pg_notify(\(Self.feedChannel), \(String(position)))",
                logger: logger
            )
        }
    }

    /// A record's row key, as the commit looks rows up.
    private struct RecordIdentity: Hashable {
        var kind: String
        var key: String
    }

    // MARK: Change feed

    /// The channel commits notify, with their feed position as the payload.
    static let feedChannel = "berth_changes"

    public func feedPosition() async throws(ClusterStoreError) -> Int64 {
        do {
            let logger = self.logger
            return try await withinDeadline { [client] in
                var position: Int64 = 0
                let rows = try await client.query("SELECT position FROM berth_feed WHERE id = 1", logger: logger)
                for try await value in rows.decode(Int64.self) { position = value }
                return position
            }
        } catch {
            throw .failed("cannot read the change feed's position: \(Self.describe(error))")
        }
    }

    /// One statement, so one snapshot: the commits it sees are a prefix of the feed (see the schema), and
    /// the highest position among the rows is how far the reader has come. A commit none of whose rows
    /// show any more was overwritten by a later one, which is among the rows.
    public func changes(after position: Int64) async throws(ClusterStoreError) -> ChangeBatch {
        do {
            let logger = self.logger
            return try await withinDeadline { [client] in
                var batch = ChangeBatch(changes: [], position: position)
                let rows = try await client.query(
                    """
                    SELECT kind, key, version, body, position FROM berth_record
                    WHERE position > \(position) ORDER BY position
                    """,
                    logger: logger
                )
                for try await (kind, key, version, body, at) in rows.decode((String, String, Int64, Data?, Int64).self)
                {
                    batch.position = max(batch.position, at)
                    guard let kind = RecordKind(rawValue: kind) else { continue }
                    batch.changes.append(RecordChange(kind: kind, key: key, version: version, body: body))
                }
                return batch
            }
        } catch {
            throw .failed("cannot read the change feed: \(Self.describe(error))")
        }
    }

    /// LISTEN on a connection of its own (a pooled one would go back to the pool, and its LISTEN with
    /// it). When the connection fails it is made again a second later, and the stream yields then too:
    /// notifications sent meanwhile are lost, so the reader must look.
    public func changeSignals() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let url = self.url
        let logger = self.logger
        let listener = Task {
            var connected = false
            while !Task.isCancelled {
                do {
                    let configuration = try Self.connectionConfiguration(url)
                    let connection = try await PostgresConnection.connect(
                        configuration: configuration,
                        id: 1,
                        logger: logger
                    )
                    do {
                        try await connection.listen(on: Self.feedChannel) { notifications in
                            if connected { continuation.yield() }
                            connected = true
                            for try await _ in notifications { continuation.yield() }
                        }
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                    try? await connection.close()
                } catch {
                    if Task.isCancelled { break }
                    logger.warning(
                        "the change feed's notifications stopped; listening again",
                        metadata: ["error": "\(Self.describe(error))"]
                    )
                    continuation.yield()
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        continuation.onTermination = { _ in listener.cancel() }
        return stream
    }

    private struct VersionConflict: Error {
        let keys: [RecordKind: Set<String>]
    }

    /// How long a call may wait for the database. One that is down must not hold the API: the call fails,
    /// and the API answers with a retryable ServerException. (A commit cut off here may still land; the
    /// control plane then finds the newer version on its next write of those records.)
    public static let callDeadline: Duration = .seconds(10)

    private struct DeadlinePassed: Error, CustomStringConvertible {
        var description: String { "the database did not answer within \(PostgresClusterStore.callDeadline)" }
    }

    /// Runs `work`, giving up after ``callDeadline``. The work runs apart and is only cancelled when the
    /// deadline passes, not awaited: a call stuck on a connection that ignores cancellation must not hold
    /// the API past the deadline.
    private func withinDeadline<Value: Sendable>(
        _ work: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let outcome = OnceOutcome<Value>()
        return try await withCheckedThrowingContinuation { continuation in
            outcome.arm(continuation)
            let worker = Task {
                do {
                    outcome.resolve(.success(try await work()))
                } catch {
                    outcome.resolve(.failure(error))
                }
            }
            Task {
                try? await Task.sleep(for: Self.callDeadline)
                if outcome.resolve(.failure(DeadlinePassed())) { worker.cancel() }
            }
        }
    }

    /// A database error in a line an operator can act on (PSQLError's own description hides the server's
    /// message by design).
    static func describe(_ error: any Error) -> String {
        let cause = (error as? PostgresTransactionError)?.closureError ?? error
        guard let error = cause as? PSQLError else { return "\(cause)" }
        if let message = error.serverInfo?[.message] {
            return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
        }
        return "\(error.code)\(error.underlying.map { ": \($0)" } ?? "")"
    }
}

/// Ends the store's connection pool on graceful shutdown, after the services that use it.
public struct PostgresStoreService: Service {
    let store: PostgresClusterStore

    public init(store: PostgresClusterStore) { self.store = store }

    public func run() async throws {
        try? await gracefulShutdown()
        store.close()
    }
}

/// The first outcome of a race, delivered once.
private final class OnceOutcome<Value: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Value, any Error>?, done: Bool)>((nil, false))

    func arm(_ continuation: CheckedContinuation<Value, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Resumes the waiter with `result` unless an earlier outcome did; true when this one did.
    @discardableResult
    func resolve(_ result: Result<Value, any Error>) -> Bool {
        let continuation = state.withLock { state -> CheckedContinuation<Value, any Error>? in
            guard !state.done else { return nil }
            state.done = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: result)
        return continuation != nil
    }
}
