import BerthAPI
import BerthControlPlane
import BerthFleetSimulator
import BerthModel
import BerthRemoteChannel
import BerthTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SigV4
import Testing

/// The simulated fleet against a live control plane over the network, signed: it registers, holds a
/// channel per instance, runs what it is sent and stops what it is told to, so the control plane's books
/// balance exactly as with real agents.
@Suite("Simulated fleet")
struct SimulatedFleetTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let key = SigV4Signer(accessKeyID: "AKIDSIMULATED", secretAccessKey: "simulated-secret", region: "us-east-1")
    static let verifier = SigV4Verifier(secrets: ["AKIDSIMULATED": "simulated-secret"])

    @Test("12 instances register and connect; 60 tasks placed run, 20 stopped stop; reservations equal live tasks")
    func fleetRunsAndStops() async throws {
        let plane = try await ControlPlane(
            store: InMemoryClusterStore(),
            settings: ControlPlane.Settings(region: "us-east-1", account: "123456789012"),
            logger: Self.logger
        )
        _ = try await plane.createCluster(name: "fleet")
        var web = ContainerDefinition(name: "app", image: "busybox")
        web.memory = 64
        var sidecar = ContainerDefinition(name: "sidecar", image: "busybox")
        sidecar.memory = 32
        _ = try await plane.registerTaskDefinition(
            TaskDefinitionRegistration(family: "web", containerDefinitions: [web, sidecar])
        )
        let channel = AgentChannelEndpoint(controlPlane: plane, verifier: Self.verifier, logger: Self.logger)
        let app = Application(
            router: ECSAPIRouter.make(
                controlPlane: plane,
                endpoint: "http://0.0.0.0:0",
                verifier: Self.verifier,
                channel: channel
            ),
            server: channel.serverBuilder(),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            services: [channel.keeper],
            logger: Self.logger
        )
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let baseURL = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let api = SignedECSClient(baseURL: baseURL, signer: Self.key, tls: nil, logger: Self.logger)
            let fleet = SimulatedFleet(
                settings: SimulatedFleet.Settings(cluster: "fleet", instances: 12, cpu: 4096, memory: 1024),
                logger: Self.logger
            ) {
                RemoteControlPlaneConnection(
                    api: api,
                    tls: nil,
                    identity: .init(agentVersion: "simulated"),
                    logger: Self.logger
                )
            }
            let running = Task { await fleet.simulate() }
            let outcome: Result<Void, any Error>
            do {
                try await Self.exercise(plane, fleet)
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            running.cancel()
            await running.value
            try await waitUntil("the control plane saw every simulated agent go") {
                try await plane.listInstances(cluster: "fleet", filter: "agentConnected == true", status: nil).isEmpty
            }
            try await api.shutdown()
            try outcome.get()
        }
    }

    static func exercise(_ plane: ControlPlane, _ fleet: SimulatedFleet) async throws {
        try await waitUntil("12 simulated instances connected") {
            let connected = try await plane.listInstances(
                cluster: "fleet",
                filter: "agentConnected == true",
                status: nil
            )
            return connected.count == 12
        }
        let placed = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await plane.launch(TaskLaunch(cluster: "fleet", taskDefinition: "web", count: 10)).tasks.map(
                        \.taskArn
                    )
                }
            }
            var all: [String] = []
            for try await arns in group { all += arns }
            return all
        }
        #expect(placed.count == 60)
        try await waitUntil("60 tasks RUNNING with their containers") {
            try await statuses(plane, placed).allSatisfy { $0 == ["RUNNING", "RUNNING", "RUNNING"] }
        }
        let stopping = Array(placed.prefix(20))
        for arn in stopping { _ = try await plane.stopTask(arn, cluster: "fleet", reason: "test") }
        try await waitUntil("20 tasks STOPPED") {
            try await statuses(plane, stopping).allSatisfy { $0.first == "STOPPED" }
        }
        #expect(try await statuses(plane, Array(placed.dropFirst(20))).allSatisfy { $0.first == "RUNNING" })
        #expect(fleet.current.running == 40)
        #expect(fleet.current.registered == 12)
        #expect(fleet.current.failedReports == 0)
        // The books balance: what each instance holds is its live tasks' memory, 96 MiB each.
        let arns = try await plane.listInstances(cluster: "fleet", filter: nil, status: nil).map(\.item)
        let described = try await plane.describeInstances(arns, cluster: "fleet").instances
        let live = try await plane.listTasks(TaskListFilter(cluster: "fleet")).map(\.item)
        let tasks = try await plane.describeTasks(live, cluster: "fleet").tasks
        #expect(tasks.count == 40)
        for summary in described {
            let here = tasks.filter { $0.containerInstanceArn == summary.instance.containerInstanceArn }
            #expect(summary.instance.reserved.memory == 96 * here.count)
            #expect(summary.runningTasksCount == here.count)
        }
    }

    /// Each task's status, then its containers'.
    static func statuses(_ plane: ControlPlane, _ arns: [String]) async throws -> [[String]] {
        var all: [[String]] = []
        for start in stride(from: 0, to: arns.count, by: 100) {
            let batch = Array(arns[start..<min(start + 100, arns.count)])
            all += try await plane.describeTasks(batch, cluster: "fleet").tasks.map {
                [$0.lastStatus] + $0.containers.map(\.lastStatus)
            }
        }
        return all
    }
}
