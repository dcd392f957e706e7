import BerthConfig
import BerthControlPlane
import BerthTestSupport
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import BerthStore

/// The PostgreSQL store against the tests' own server (scripts/test-postgres.sh), a database per test.
@Suite("PostgreSQL cluster store")
struct PostgresClusterStoreTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs `body` with a store on a new database; closes the store and drops the database afterwards.
    static func withStore(_ body: (PostgresClusterStore, TestDatabase) async throws -> Void) async throws {
        let database = try await TestDatabase.create()
        do {
            let store = try await PostgresClusterStore.open(database.url, logger: logger)
            do {
                try await body(store, database)
            } catch {
                store.close()
                throw error
            }
            store.close()
        } catch {
            await database.drop()
            throw error
        }
        await database.drop()
    }

    static func write(_ key: String, expected: Int64, _ text: String?) -> RecordWrite {
        RecordWrite(kind: .cluster, key: key, expectedVersion: expected, body: text.map { Data($0.utf8) })
    }

    static func versions(_ store: PostgresClusterStore) async throws -> [String: Int64] {
        Dictionary(uniqueKeysWithValues: try await store.loadAll().map { ($0.key, $0.version) })
    }

    @Test("what is committed is loaded again, with its version; a stale version writes nothing of the commit")
    func commitsAllOrNothing() async throws {
        try await Self.withStore { store, _ in
            try await store.commit([Self.write("a", expected: 0, "a1"), Self.write("b", expected: 0, "b1")])
            try await store.commit([Self.write("a", expected: 1, "a2")])
            #expect(try await Self.versions(store) == ["a": 2, "b": 1])

            // b is current but a is not: neither changes.
            await #expect(throws: ClusterStoreError.conflict([.cluster: ["a"]])) {
                try await store.commit([Self.write("b", expected: 1, "b2"), Self.write("a", expected: 1, "a3")])
            }
            let records = try await store.load(.cluster, keys: ["a", "b", "missing"])
            #expect(Set(records.map { "\($0.key)=\(String(decoding: $0.body, as: UTF8.self))" }) == ["a=a2", "b=b1"])

            // Creating what exists is a conflict too.
            await #expect(throws: ClusterStoreError.conflict([.cluster: ["b"]])) {
                try await store.commit([Self.write("b", expected: 0, "again")])
            }
        }
    }

    @Test("a commit of many records writes every one; a record written twice in one commit keeps its last write")
    func manyRecordsOneCommit() async throws {
        try await Self.withStore { store, _ in
            let keys = (0..<30).map { "r\($0)" }
            try await store.commit(
                keys.map { Self.write($0, expected: 0, "\($0)-1") } + [Self.write("r0", expected: 0, "last")]
            )
            // r0 is left alone; r1 is written twice, and r2 written then deleted.
            try await store.commit(
                keys.dropFirst().map { Self.write($0, expected: 1, $0 == "r1" ? "first" : "\($0)-2") }
                    + [Self.write("r1", expected: 1, "last"), Self.write("r2", expected: 1, nil)]
            )
            var expected = Dictionary(uniqueKeysWithValues: keys.map { ($0, Int64(2)) })
            expected["r0"] = 1
            expected["r2"] = nil
            #expect(try await Self.versions(store) == expected)
            let records = try await store.load(.cluster, keys: ["r0", "r1", "r2", "r3"])
            #expect(
                Set(records.map { "\($0.key)=\(String(decoding: $0.body, as: UTF8.self))" })
                    == ["r0=last", "r1=last", "r3=r3-2"]
            )
        }
    }

    @Test("a delete leaves a tombstone: the key reads as absent, and created again its versions go on, never repeating")
    func tombstones() async throws {
        try await Self.withStore { store, _ in
            try await store.commit([Self.write("k", expected: 0, "first")])
            try await store.commit([Self.write("k", expected: 1, "second")])
            try await store.commit([Self.write("k", expected: 2, nil)])
            #expect(try await store.loadAll().isEmpty)
            #expect(try await store.load(.cluster, keys: ["k"]).isEmpty)
            // Updating the deleted record is a conflict; creating it again is not.
            await #expect(throws: ClusterStoreError.conflict([.cluster: ["k"]])) {
                try await store.commit([Self.write("k", expected: 2, "stale")])
            }
            try await store.commit([Self.write("k", expected: 0, "reborn")])
            #expect(try await Self.versions(store) == ["k": 4])
            // A writer still holding the old record's version 2, or the new one's presumed 1, is refused.
            for stale: Int64 in [1, 2] {
                await #expect(throws: ClusterStoreError.conflict([.cluster: ["k"]])) {
                    try await store.commit([Self.write("k", expected: stale, "stale")])
                }
            }
            try await store.commit([Self.write("k", expected: 4, "current")])
            #expect(try await Self.versions(store) == ["k": 5])
        }
    }

    @Test("many writers creating one key at once: exactly one wins, the rest are told it conflicted")
    func concurrentCreators() async throws {
        try await Self.withStore { store, _ in
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for writer in 0..<12 {
                    group.addTask {
                        do {
                            try await store.commit([Self.write("contested", expected: 0, "writer \(writer)")])
                            return true
                        } catch let error as ClusterStoreError {
                            if case .conflict = error { return false }
                            throw error
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1, "\(outcomes)")
            #expect(try await Self.versions(store) == ["contested": 1])
        }
    }

    @Test("opening again keeps the records; a schema newer than this build knows is refused with the reason")
    func schema() async throws {
        try await Self.withStore { store, database in
            try await store.commit([Self.write("kept", expected: 0, "x")])
            let again = try await PostgresClusterStore.open(database.url, logger: Self.logger)
            #expect(try await Self.versions(again) == ["kept": 1])
            try await again.client.query("UPDATE berth_schema SET version = 99")
            again.close()
            do {
                let newer = try await PostgresClusterStore.open(database.url, logger: Self.logger)
                newer.close()
                Issue.record("a database with a newer schema was opened")
            } catch {
                #expect(
                    "\(error)".contains(
                        "schema is version 99, newer than this Berth knows (\(PostgresClusterStore.schemaVersion))"
                    ),
                    "\(error)"
                )
            }
        }
    }

    @Test(
        "a database that cannot be reached, or refuses the role, is a clear error naming it with the reason, never its password"
    )
    func unreachable() async throws {
        let url = DatabaseURL(
            endpoint: .unixSocket(path: "/run/berth-test/no-such-postgres/.s.PGSQL.5432"),
            user: "berth",
            password: "do-not-show-me",
            database: "berth",
            tlsMode: .disable
        )
        do {
            let store = try await PostgresClusterStore.open(url, logger: Self.logger)
            store.close()
            Issue.record("an unreachable database was opened")
        } catch {
            #expect(
                "\(error)".contains("cannot connect to the database postgres://berth:<redacted>@/berth"),
                "\(error)"
            )
            #expect("\(error)".contains("No such file or directory"), "\(error)")
            #expect(!"\(error)".contains("do-not-show-me"))
        }
        // The server is there, but refuses the role: its reason is shown.
        let wrongRole = DatabaseURL(
            endpoint: .unixSocket(
                path: "\(TestEnvironment.postgresSocketDirectory)/.s.PGSQL.\(TestEnvironment.postgresPort)"
            ),
            user: "nobody_here",
            password: nil,
            database: "postgres",
            tlsMode: .disable
        )
        do {
            let store = try await PostgresClusterStore.open(wrongRole, logger: Self.logger)
            store.close()
            Issue.record("an unknown role was let in")
        } catch {
            #expect("\(error)".contains("role \"nobody_here\" does not exist"), "\(error)")
        }
    }

    @Test(
        "the change feed: every commit moves it on; a reader gets what changed after its position, deletions included"
    )
    func changeFeed() async throws {
        try await Self.withStore { store, _ in
            let start = try await store.feedPosition()
            try await store.commit([Self.write("a", expected: 0, "a1"), Self.write("b", expected: 0, "b1")])
            let afterFirst = try await store.feedPosition()
            #expect(afterFirst == start + 1)
            try await store.commit([Self.write("a", expected: 1, "a2")])
            try await store.commit([Self.write("b", expected: 1, nil)])
            // A refused commit takes no position.
            await #expect(throws: ClusterStoreError.self) {
                try await store.commit([Self.write("a", expected: 9, "x")])
            }

            let everything = try await store.changes(after: start)
            #expect(everything.position == start + 3)
            #expect(
                everything.changes.map {
                    "\($0.key)@\($0.version)=\($0.body.map { String(decoding: $0, as: UTF8.self) } ?? "deleted")"
                }
                    == ["a@2=a2", "b@2=deleted"]
            )
            let later = try await store.changes(after: afterFirst + 1)
            #expect(later.changes.map(\.key) == ["b"])
            let none = try await store.changes(after: everything.position)
            #expect(none == ChangeBatch(changes: [], position: everything.position))
        }
    }

    @Test("a commit through one store wakes another store's listener, also after its connection was cut")
    func changeSignals() async throws {
        try await Self.withStore { store, database in
            let other = try await PostgresClusterStore.open(database.url, logger: Self.logger)
            defer { other.close() }
            let woken = Counter()
            let listening = Task {
                for await _ in other.changeSignals() { woken.add() }
            }
            defer { listening.cancel() }
            // LISTEN takes effect once its connection is up: commit until a wake-up comes.
            var key = 0
            try await waitUntil("a commit wakes the other store", within: TestEnvironment.loadedWait) {
                key += 1
                try await store.commit([Self.write("k\(key)", expected: 0, "v")])
                return woken.value > 0
            }
            // The listening connection is ended by the server: the listener says so, listens again, and
            // is woken by the next commits.
            try await store.client.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
            )
            let before = woken.value
            try await waitUntil(
                "commits wake it again after its connection was cut",
                within: TestEnvironment.loadedWait
            ) {
                key += 1
                try await store.commit([Self.write("k\(key)", expected: 0, "v")])
                return woken.value > before + 1
            }
        }
    }

    @Test("writers committing at once through two stores: a reader following the feed as they go misses no commit")
    func feedMissesNothing() async throws {
        try await Self.withStore { store, database in
            let other = try await PostgresClusterStore.open(database.url, logger: Self.logger)
            defer { other.close() }
            let writers = 4
            let perWriter = 20
            let done = Counter()
            let writing = Task {
                defer { done.add() }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<writers {
                        let through = writer.isMultiple(of: 2) ? store : other
                        group.addTask {
                            for index in 0..<perWriter {
                                try await through.commit([Self.write("w\(writer)-\(index)", expected: 0, "v")])
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            // Each key is written once, so it is in the feed at one position only: a reader that moved
            // past a commit not yet visible would never see its key.
            var seen: Set<String> = []
            var position: Int64 = 0
            var reads = 0
            func follow() async throws {
                let batch = try await store.changes(after: position)
                #expect(batch.position >= position)
                position = batch.position
                seen.formUnion(batch.changes.map(\.key))
                reads += 1
            }
            // Paced, so that the reader does not starve the writers on a loaded machine.
            while done.value == 0 {
                try await follow()
                try await Task.sleep(for: .milliseconds(5))
            }
            try await writing.value
            try await follow()
            #expect(seen.count == writers * perWriter, "read the feed \(reads) times")
            #expect(position == (try await store.feedPosition()))
        }
    }

    @Test("a database of schema 1 is migrated to the change feed, its records kept")
    func migratesFromSchemaOne() async throws {
        try await Self.withStore { store, database in
            try await store.commit([Self.write("old", expected: 0, "x")])
            // Schema 1, as the first release left it.
            try await store.client.query("DROP TABLE berth_feed")
            try await store.client.query("DROP INDEX berth_record_position")
            try await store.client.query("ALTER TABLE berth_record DROP COLUMN position")
            try await store.client.query("UPDATE berth_schema SET version = 1")
            let migrated = try await PostgresClusterStore.open(database.url, logger: Self.logger)
            defer { migrated.close() }
            #expect(try await Self.versions(migrated) == ["old": 1])
            let start = try await migrated.feedPosition()
            try await migrated.commit([Self.write("old", expected: 1, "y")])
            #expect(try await migrated.changes(after: start).changes.map(\.key) == ["old"])
        }
    }
}

/// A count several tasks add to.
final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func add() { count.withLock { $0 += 1 } }
}

extension PostgresClusterStoreTests {
    @Test("a check writes nothing, and its commit lands only while the checked record is at that version")
    func checks() async throws {
        try await Self.withStore { store, _ in
            try await store.commit([Self.write("lease", expected: 0, "mine")])
            try await store.commit([Self.write("work", expected: 0, "1"), .check(.cluster, "lease", at: 1)])
            #expect(try await Self.versions(store) == ["lease": 1, "work": 1])
            try await store.commit([Self.write("lease", expected: 1, "theirs")])
            await #expect(throws: ClusterStoreError.conflict([.cluster: ["lease"]])) {
                try await store.commit([Self.write("work", expected: 1, "2"), .check(.cluster, "lease", at: 1)])
            }
            #expect(try await Self.versions(store) == ["lease": 2, "work": 1])
        }
    }
}
