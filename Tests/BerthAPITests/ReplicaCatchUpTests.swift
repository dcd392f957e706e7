import BerthAgentChannel
import BerthControlPlane
import BerthModel
import BerthTestSupport
import Foundation
import HTTPTypes
import Synchronization
import Testing

/// Replicas sharing a store: the API of one answers from every commit another acknowledged before the call,
/// not from what its follower happens to have read.
@Suite("ECS API on a replica: every call first catches up with the store")
struct ReplicaCatchUpTests {
    /// A store whose change feed can be made unreadable, as when the database is away.
    struct FeedFailingStore: ClusterStore {
        // Through the protocol: called on the actor itself, `try await` would pick the protocol
        // extension's feed (the one for stores without a feed).
        let base: any ClusterStore = InMemoryClusterStore()
        let failing = Failing()

        final class Failing: Sendable {
            let on = Mutex(false)
        }

        func loadAll() async throws(ClusterStoreError) -> [StoredRecord] { try await base.loadAll() }
        func load(_ kind: RecordKind, keys: Set<String>) async throws(ClusterStoreError) -> [StoredRecord] {
            try await base.load(kind, keys: keys)
        }
        func commit(_ writes: [RecordWrite]) async throws(ClusterStoreError) { try await base.commit(writes) }
        func feedPosition() async throws(ClusterStoreError) -> Int64 { try await base.feedPosition() }
        func changes(after position: Int64) async throws(ClusterStoreError) -> ChangeBatch {
            if failing.on.withLock({ $0 }) { throw .failed("connection refused") }
            return try await base.changes(after: position)
        }
    }

    static func replica(_ store: any ClusterStore) async throws -> ControlPlane {
        try await ControlPlane(
            store: store,
            settings: ControlPlane.Settings(
                region: "eu-west-1",
                account: "111122223333",
                sharing: ControlPlane.Sharing()
            ),
            logger: ECSAPITests.logger
        )
    }

    @Test(
        "a task placed through one replica is described and stopped through the other's API at once; with the feed unreadable, ServerException"
    )
    func callsCatchUp() async throws {
        let store = FeedFailingStore()
        let placing = try await Self.replica(store)
        let answering = try await Self.replica(store)
        _ = try await placing.createCluster(name: nil)
        var resources: [Resource] = [.integer("CPU", 1024), .integer("MEMORY", 1024)]
        resources += [.stringSet("PORTS", []), .stringSet("PORTS_UDP", [])]
        let instance = try await placing.registerContainerInstance(
            InstanceRegistration(
                cluster: "default",
                totalResources: resources,
                attributes: [],
                versionInfo: VersionInfo()
            )
        )
        try await placing.agentConnected(instanceArn: instance.containerInstanceArn, session: NullSession())
        var web = ContainerDefinition(name: "web", image: "busybox")
        web.memory = 64
        _ = try await placing.registerTaskDefinition(
            TaskDefinitionRegistration(family: "web", containerDefinitions: [web])
        )
        let task = try #require(try await placing.launch(TaskLaunch(taskDefinition: "web")).tasks.first)

        try await ECSAPITests.withAPI(on: answering) { call, _ in
            // No follower runs here: only the catch-up before each call can have brought the task.
            let described = try await call("DescribeTasks", #"{"tasks":["\#(task.taskArn)"]}"#, [:])
            let tasks = try #require(described.json["tasks"] as? [[String: Any]], "\(described.json)")
            #expect(tasks.map { $0["taskArn"] as? String } == [task.taskArn])
            #expect(tasks.first?["lastStatus"] as? String == "PENDING")

            let stopped = try await call("StopTask", #"{"task":"\#(task.taskArn)"}"#, [:])
            #expect(stopped.status == .ok, "\(stopped.json)")
            try await placing.followChanges()
            #expect(
                try await placing.describeTasks([task.taskArn], cluster: nil).tasks.first?.desiredStatus == .stopped
            )

            // A replica that cannot read the store does not answer from what it holds: the call is retryable.
            store.failing.on.withLock { $0 = true }
            let refused = try await call("DescribeTasks", #"{"tasks":["\#(task.taskArn)"]}"#, [:])
            #expect(refused.status == .internalServerError)
            #expect(refused.errorType == "ServerException")
            store.failing.on.withLock { $0 = false }
            let again = try await call("ListTasks", #"{"desiredStatus":"STOPPED"}"#, [:])
            #expect(again.status == .ok)
            #expect(again.json["taskArns"] as? [String] == [task.taskArn])
        }
    }
}
