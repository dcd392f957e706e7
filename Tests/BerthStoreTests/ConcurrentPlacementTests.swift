import BerthAgentChannel
import BerthControlPlane
import BerthModel
import BerthStore
import BerthTestSupport
import Foundation
import Logging
import PropertyBased
import Testing

/// Two control planes on one SQLite file or one PostgreSQL database, each believing what it loaded, take
/// RunTask calls at the same time: version checks in the store must keep them from ever reserving more
/// than an instance has, or a host port twice.
@Suite("Control planes sharing a store: concurrent RunTask never over-commits")
struct ConcurrentPlacementTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func plane(_ store: any ClusterStore) async throws -> ControlPlane {
        try await ControlPlane(
            store: store,
            settings: ControlPlane.Settings(region: "us-east-1", account: "123456789012"),
            logger: logger
        )
    }

    static func definition(_ family: String, memory: Int, cpu: Int, port: Int?) -> TaskDefinitionRegistration {
        var container = ContainerDefinition(name: "main", image: "busybox")
        container.memory = memory
        container.cpu = cpu
        if let port { container.portMappings = [PortMapping(containerPort: 80, hostPort: port)] }
        return TaskDefinitionRegistration(family: family, containerDefinitions: [container])
    }

    /// Families the calls choose from: memory-heavy, CPU-heavy, and two that hold fixed ports.
    static let families = [
        definition("memory", memory: 300, cpu: 10, port: nil),
        definition("cpu", memory: 10, cpu: 400, port: nil),
        definition("port-a", memory: 50, cpu: 10, port: 8080),
        definition("port-b", memory: 50, cpu: 10, port: 9090),
    ]

    /// Where the two control planes keep their state.
    enum Backend: String, Sendable, CaseIterable, CustomTestStringConvertible {
        case sqlite = "one SQLite file"
        case postgres = "one PostgreSQL database"

        var testDescription: String { rawValue }
    }

    /// Opens a store on the shared state; each call is another replica's own connection to it.
    struct SharedState: Sendable {
        let backend: Backend
        let directory: URL
        let database: TestDatabase?

        func open() async throws -> any ClusterStore {
            switch backend {
            case .sqlite: try SQLiteClusterStore(directory: directory.path)
            case .postgres:
                try await PostgresClusterStore.open(
                    try #require(database).url,
                    logger: ConcurrentPlacementTests.logger
                )
            }
        }
    }

    @Test(
        "reservations always equal the sum over live tasks and never exceed what instances registered",
        arguments: Backend.allCases
    )
    func neverOverCommits(_ backend: Backend) async throws {
        // Each number is one RunTask call: which family, how many tasks, and which replica takes it.
        let calls = Gen.int(in: 0...1_000_000).array(of: 8...24)
        await propertyCheck(count: backend == .sqlite ? 25 : 10, input: calls) { numbers in
            let calls = numbers.map { ($0 % 4, ($0 / 4) % 4 + 1, ($0 / 16) % 2 == 0) }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "berth-cp-\(UUID().uuidString)"
            )
            defer { try? FileManager.default.removeItem(at: directory) }
            var stores: [any ClusterStore] = []
            var database: TestDatabase?
            do {
                if backend == .postgres { database = try await TestDatabase.create() }
                let shared = SharedState(backend: backend, directory: directory, database: database)
                for _ in 0..<3 { stores.append(try await shared.open()) }
                let first = try await Self.plane(stores[0])
                _ = try await first.createCluster(name: nil)
                for _ in 0..<2 {
                    let instance = try await first.registerContainerInstance(
                        ReplicaCluster.registration(memory: 1024, cpu: 1024)
                    )
                    try await first.agentConnected(instanceArn: instance.containerInstanceArn, session: NullSession())
                }
                for family in Self.families { _ = try await first.registerTaskDefinition(family) }
                // The second replica loads what the first wrote, then both take calls at once.
                let second = try await Self.plane(stores[1])
                for arn in try await second.listInstances(cluster: nil, filter: nil, status: nil).map(\.item) {
                    try await second.agentConnected(instanceArn: arn, session: NullSession())
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (family, count, onFirst) in calls {
                        let plane = onFirst ? first : second
                        group.addTask {
                            _ = try await plane.launch(
                                TaskLaunch(taskDefinition: Self.families[family].family, count: count)
                            )
                        }
                    }
                    try await group.waitForAll()
                }

                let judge = try await Self.plane(stores[2])
                let state = try await ClusterState.read(judge)
                for violation in state.violations(instanceMemory: 1024, instanceCPU: 1024) {
                    Issue.record("\(violation)")
                }
            } catch {
                Issue.record("\(error)")
            }
            for store in stores { (store as? PostgresClusterStore)?.close() }
            await database?.drop()
        }
    }
}
