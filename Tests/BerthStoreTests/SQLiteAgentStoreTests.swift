import BerthAgent
import BerthModel
import BerthStore
import Foundation
import Testing

@Suite("SQLite agent store")
struct SQLiteAgentStoreTests {
    /// A fresh data directory, removed afterwards.
    static func withDirectory(_ body: (String) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "berth-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await body(directory)
    }

    static func record(_ arn: String, revision: Int, receivedAt: Double = 100) -> TaskRecord {
        let payload = TaskPayload(
            taskArn: arn,
            clusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/default",
            family: "web",
            revision: 1,
            containers: [ContainerDefinition(name: "app", image: "busybox")]
        )
        var record = TaskRecord(payload: payload, receivedAt: Timestamp(secondsSinceEpoch: receivedAt))
        record.revision = revision
        return record
    }

    @Test("what is saved is there after the store is opened again, tasks in the order they arrived")
    func survivesReopen() async throws {
        try await Self.withDirectory { directory in
            do {
                let store = try SQLiteAgentStore(directory: directory)
                var second = Self.record("arn:task/b", revision: 1, receivedAt: 200)
                second.containers[0].dockerName = "ecs-web-1-app-ab12"
                try await store.save(second)
                try await store.save(Self.record("arn:task/a", revision: 1, receivedAt: 100))
                try await store.setMetadata(.containerInstanceArn, "arn:aws:ecs:us-east-1:1:container-instance/x")
                try await store.save(
                    ImageRecord(
                        reference: "busybox",
                        imageID: "sha256:1",
                        pulledAt: Timestamp(secondsSinceEpoch: 1),
                        lastUsedAt: Timestamp(secondsSinceEpoch: 2)
                    )
                )
            }
            let reopened = try SQLiteAgentStore(directory: directory)
            let tasks = try await reopened.loadTasks()
            #expect(tasks.map(\.arn) == ["arn:task/a", "arn:task/b"])
            #expect(tasks.last?.containers.first?.dockerName == "ecs-web-1-app-ab12")
            #expect(
                try await reopened.metadata(.containerInstanceArn) == "arn:aws:ecs:us-east-1:1:container-instance/x"
            )
            #expect(try await reopened.metadata(.clusterArn) == nil)
            #expect(try await reopened.loadImages().map(\.imageID) == ["sha256:1"])
            #expect(reopened.path == directory + "/berth.db")
        }
    }

    @Test("a save never replaces a later revision of the task")
    func revisionGuard() async throws {
        let store = try SQLiteAgentStore()
        var newer = Self.record("arn:task/a", revision: 5)
        newer.knownStatus = .running
        try await store.save(newer)
        var older = Self.record("arn:task/a", revision: 4)
        older.knownStatus = .pulled
        try await store.save(older)
        #expect(try await store.loadTasks().first?.knownStatus == .running)
        var latest = Self.record("arn:task/a", revision: 6)
        latest.knownStatus = .stopped
        try await store.save(latest)
        #expect(try await store.loadTasks().first?.knownStatus == .stopped)
        try await store.deleteTask(arn: "arn:task/a")
        #expect(try await store.loadTasks().isEmpty)
    }

    @Test("a data directory that cannot be created is an error naming it")
    func unusableDirectory() async throws {
        try await Self.withDirectory { directory in
            try Data("not a directory".utf8).write(to: URL(fileURLWithPath: directory))
            #expect {
                _ = try SQLiteAgentStore(directory: directory + "/sub")
            } throws: { error in
                (error as? AgentError)?.code == .store && "\(error)".contains(directory)
            }
        }
    }
}
