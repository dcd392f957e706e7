import BerthAgentChannel
import BerthConfig
import BerthControlPlane
import BerthDaemon
import BerthModel
import BerthTestSupport
import Foundation
import Logging
import ServiceLifecycle

/// 5. API throughput: RunTask with count 10 from 8 concurrent clients over HTTP, against the control plane
/// as `berth control-plane` composes it (its store, API server, feed follower and replica duties) on
/// SQLite, on PostgreSQL, and as three replicas on one PostgreSQL database with the clients spread over
/// them. The agents are simulated in process (they acknowledge and report RUNNING through the replica
/// holding them), so that dockerd is not what is measured. All replicas share this machine's cores.
struct APIThroughputBench {
    static let cluster = "berth-bench-api"
    static let firstPort = 51693
    static let clients = 8
    static let callsPerClient = 25
    static let tasksPerCall = 10
    static let instances = 24

    /// Where the replicas keep their state.
    enum Backend: CustomStringConvertible {
        case sqlite
        case postgres(replicas: Int)

        var description: String {
            switch self {
            case .sqlite: "SQLite"
            case .postgres(let replicas): "PostgreSQL x \(replicas)"
            }
        }
    }

    struct Figures {
        /// Calls answered with ServerException.
        var refused: Int
        /// Calls answered with tasks, per second.
        var callsPerSecond: Double
        var median: Duration
        var p99: Duration
    }

    static var runTask: [String: Any] { ["cluster": cluster, "taskDefinition": "bench-api", "count": tasksPerCall] }

    static func run() async throws {
        say(
            "API throughput, RunTask count \(tasksPerCall) from \(clients) clients (\(clients * callsPerClient) calls, "
                + "\(instances) simulated agents):"
        )
        for backend in [Backend.sqlite, .postgres(replicas: 1), .postgres(replicas: 3)] {
            let figures = try await measure(backend)
            say(
                "  \(backend): "
                    + String(
                        format: "%.0f calls/s (%.0f tasks placed/s)",
                        figures.callsPerSecond,
                        figures.callsPerSecond * Double(tasksPerCall)
                    )
                    + ", latency median \(BerthBench.ms(figures.median)), p99 \(BerthBench.ms(figures.p99))"
                    + (figures.refused > 0 ? "; \(figures.refused) calls refused (conflicts)" : "")
            )
        }
    }

    /// Written at once (print is buffered when piped): each figure is there as soon as it is measured.
    static func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    static func measure(_ backend: Backend) async throws -> Figures {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-bench-api-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var database: TestDatabase?
        if case .postgres = backend { database = try await TestDatabase.create() }
        var logger = Logger(label: "bench-api")
        logger.logLevel = .error
        let count: Int
        switch backend {
        case .sqlite: count = 1
        case .postgres(let replicas): count = replicas
        }
        var planes: [ControlPlane] = []
        var groups: [ServiceGroup] = []
        var runs: [Task<Void, any Error>] = []
        var agents: [SimulatedAgent] = []
        defer {
            for agent in agents { agent.session.close(reason: "bench over") }
            for group in groups { Task { await group.triggerGracefulShutdown() } }
        }
        for replica in 0..<count {
            let file = directory.appendingPathComponent("ecs-\(replica).config")
            var lines = [
                "AWS_DEFAULT_REGION=us-east-1", "ECS_CLUSTER=\(cluster)",
                "ECS_DATADIR=\(directory.path)/data-\(replica)", "BERTH_API_LISTEN=127.0.0.1:\(firstPort + replica)",
            ]
            if let database { lines.append(database.configurationLine) }
            try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
            let configuration = try ConfigurationLoader.load(ConfigurationSource(path: file.path)).configuration
            let composed = try await ControlPlaneServices.make(
                configuration: configuration,
                verifier: nil,
                logger: logger
            )
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(services: composed.services, logger: logger)
            )
            planes.append(composed.controlPlane)
            groups.append(group)
            runs.append(Task { try await group.run() })
        }
        let apis = (0..<count).map { ECSClient(endpoint: "http://127.0.0.1:\(firstPort + $0)") }
        for api in apis { try await api.waitUntilAnswering() }
        _ = try await apis[0].call("CreateCluster", ["clusterName": cluster])
        _ = try await apis[0].call(
            "RegisterTaskDefinition",
            [
                "family": "bench-api",
                "containerDefinitions": [["name": "app", "image": BerthBench.image, "memory": 16, "cpu": 8]],
            ]
        )
        // Room for every task: the measure is the API's, not placement failing.
        let resources: [Resource] = [
            .integer("CPU", 1 << 20), .integer("MEMORY", 1 << 20), .stringSet("PORTS", ["22"]),
            .stringSet("PORTS_UDP", []),
        ]
        for index in 0..<instances {
            let registration = InstanceRegistration(
                cluster: cluster,
                totalResources: resources,
                attributes: [],
                versionInfo: VersionInfo()
            )
            let instance = try await planes[0].registerContainerInstance(registration)
            let plane = planes[index % count]
            try await plane.catchUp()
            let agent = SimulatedAgent(plane: plane, instanceArn: instance.containerInstanceArn)
            try await plane.agentConnected(instanceArn: instance.containerInstanceArn, session: agent.session)
            agents.append(agent)
        }
        let simulated = agents
        let agentRuns = Task {
            await withTaskGroup(of: Void.self) { group in
                for agent in simulated { group.addTask { await agent.run() } }
            }
        }
        // Warm-up: one call per client, left out.
        for client in 0..<clients { _ = try await apis[client % count].call("RunTask", runTask) }

        let clock = ContinuousClock()
        let started = clock.now
        // A call refused (ServerException: its change conflicted with other replicas' too often) is counted,
        // not retried: how often that happens is part of the figure.
        let (latencies, refused) = try await RunTaskClients(
            apis: apis,
            clients: clients,
            cluster: cluster,
            taskDefinition: "bench-api",
            count: tasksPerCall
        ).run(calls: clients * callsPerClient, refundRefused: false)
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18

        for agent in agents { agent.session.close(reason: "bench over") }
        await agentRuns.value
        for group in groups { await group.triggerGracefulShutdown() }
        for run in runs { try? await run.value }
        await database?.drop()
        guard !latencies.isEmpty else { throw BenchError("every RunTask call was refused") }
        return Figures(
            refused: refused,
            callsPerSecond: Double(latencies.count) / seconds,
            median: latencies[latencies.count / 2],
            p99: latencies[latencies.count * 99 / 100]
        )
    }
}
