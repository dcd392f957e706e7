import BerthFleetSimulator
import BerthRemoteChannel
import BerthTestSupport
import Foundation
import Logging
import SigV4

/// `make bench-scale` (`berth-bench scale`): the control plane with thousands of simulated hosts. For each
/// fleet size and store, `berth control-plane` processes of the release binary (one on SQLite, one or
/// three on one PostgreSQL database) and a ``SimulatedFleet`` in this process, one WebSocket per instance:
///
/// - registration of the fleet, and the control plane at rest with every agent connected (RSS, CPU);
/// - placements: RunTask count 10 from 8 clients (spread over the replicas) until `tasks` are placed, with
///   p50 / p99 latency, then the time until all report RUNNING, and the RSS holding them;
/// - a service of `serviceTasks` from CreateService to all RUNNING, and its rolling update to a new revision;
/// - no over-commit: every instance's reserved memory equals its live tasks'.
///
/// The fleet shares this machine's cores with the control plane, so the figures are the control plane's
/// with its agents' work on the same cores.
struct ScaleBench {
    static let cluster = "berth-bench-scale"
    static let firstPort = 51711
    static let clients = 8
    static let tasksPerCall = 10
    /// MiB per task: the smallest that still reserves something, so the books can be checked.
    static let taskMemory = 16

    struct Options {
        var instanceCounts = [100, 1000, 5000]
        var backends: [APIThroughputBench.Backend] = [.sqlite, .postgres(replicas: 1), .postgres(replicas: 3)]
        var tasks = 50_000
        var serviceTasks = 5000
        var idle: Duration = .seconds(30)
    }

    struct Row {
        var instances: Int
        var backend: String
        var registration: Duration
        var idleRSS: Double
        var idleCPU: Double
        var placementsPerSecond: Double
        var p50: Duration
        var p99: Duration
        var refused: Int
        var allRunning: Duration
        /// CPU seconds per task, from the first RunTask until all are RUNNING: the control plane's
        /// processes, and this one's (the simulated fleet and the clients), which share the machine.
        var controlPlaneCPUPerTask: Double
        var benchCPUPerTask: Double
        var loadedRSS: Double
        var bytesPerTask: Double
        var service: Duration
        var rollout: Duration
        var overCommitted: Int
    }

    static let usage = """
        usage: berth-bench scale [--instances N,N,...] [--backends sqlite,pg1,pg3] [--tasks N]
                 [--service-tasks N] [--idle-seconds N]
        """

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var index = 0
        while index < arguments.count {
            let known = ["--instances", "--backends", "--tasks", "--service-tasks", "--idle-seconds"]
            guard known.contains(arguments[index]) else { throw BenchError("unknown argument '\(arguments[index])'") }
            guard index + 1 < arguments.count else { throw BenchError("\(arguments[index]) needs a value") }
            let value = arguments[index + 1]
            switch arguments[index] {
            case "--instances":
                options.instanceCounts = try value.split(separator: ",").map {
                    guard let count = Int($0), count > 0 else { throw BenchError("--instances: '\($0)' is no count") }
                    return count
                }
            case "--backends":
                options.backends = try value.split(separator: ",").map {
                    switch $0 {
                    case "sqlite": return .sqlite
                    case "pg1": return .postgres(replicas: 1)
                    case "pg3": return .postgres(replicas: 3)
                    default: throw BenchError("--backends: '\($0)' is none of sqlite, pg1, pg3")
                    }
                }
            case "--tasks":
                guard let count = Int(value), count >= tasksPerCall else { throw BenchError("--tasks: '\(value)'") }
                options.tasks = count
            case "--service-tasks":
                guard let count = Int(value), count > 0 else { throw BenchError("--service-tasks: '\(value)'") }
                options.serviceTasks = count
            case "--idle-seconds":
                guard let seconds = Int(value), seconds > 0 else { throw BenchError("--idle-seconds: '\(value)'") }
                options.idle = .seconds(seconds)
            default:
                throw BenchError("unknown argument '\(arguments[index])'")
            }
            index += 2
        }
        return options
    }

    static func run(_ arguments: [String]) async throws {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(usage)
            return
        }
        let options: Options
        do {
            options = try parse(arguments)
        } catch {
            FileHandle.standardError.write(Data("berth-bench scale: \(error)\n\(usage)\n".utf8))
            exit(2)
        }
        BerthBench.raiseOpenFileLimit()
        say(
            "scale: \(ProcessInfo.processInfo.activeProcessorCount) cores; binary \(RemoteAgentBench.binary.path); "
                + "\(options.tasks) tasks by RunTask count \(tasksPerCall) from \(clients) clients; "
                + "a service of \(options.serviceTasks)"
        )
        var rows: [Row] = []
        for instances in options.instanceCounts {
            for backend in options.backends {
                let row = try await measure(instances: instances, backend: backend, options: options)
                rows.append(row)
                say(line(row))
            }
        }
        say("")
        say(
            "| instances | store | register all | idle RSS | idle CPU | placements/s | p50 | p99 | all RUNNING after "
                + "| CPU/task control plane | CPU/task fleet+clients | RSS with tasks | bytes/task | service of \(options.serviceTasks) | rolling update | over-committed |"
        )
        say("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for row in rows {
            say(
                "| \(row.instances) | \(row.backend) | \(seconds(row.registration)) | "
                    + String(format: "%.1f MiB | %.1f%% | %.0f", row.idleRSS, row.idleCPU, row.placementsPerSecond)
                    + (row.refused > 0 ? " (\(row.refused) refused)" : "")
                    + " | \(BerthBench.ms(row.p50)) | \(BerthBench.ms(row.p99)) | \(seconds(row.allRunning)) | "
                    + String(
                        format: "%.2f ms | %.2f ms | ",
                        row.controlPlaneCPUPerTask * 1000,
                        row.benchCPUPerTask * 1000
                    )
                    + String(format: "%.1f MiB | %.0f", row.loadedRSS, row.bytesPerTask)
                    + " | \(seconds(row.service)) | \(seconds(row.rollout)) | \(row.overCommitted) |"
            )
        }
    }

    static func line(_ row: Row) -> String {
        "  \(row.instances) instances, \(row.backend): registered in \(seconds(row.registration)); idle "
            + String(format: "RSS %.1f MiB, CPU %.1f%% of a core; ", row.idleRSS, row.idleCPU)
            + String(format: "%.0f placements/s", row.placementsPerSecond)
            + ", p50 \(BerthBench.ms(row.p50)), p99 \(BerthBench.ms(row.p99))"
            + (row.refused > 0 ? " (\(row.refused) calls refused)" : "")
            + "; all RUNNING after \(seconds(row.allRunning)); "
            + String(
                format: "CPU per task placed and RUNNING: control plane %.2f ms, simulated fleet and clients %.2f ms; ",
                row.controlPlaneCPUPerTask * 1000,
                row.benchCPUPerTask * 1000
            )
            + String(format: "RSS with tasks %.1f MiB (%.0f bytes/task); ", row.loadedRSS, row.bytesPerTask)
            + "service to RUNNING \(seconds(row.service)), rolling update \(seconds(row.rollout)); "
            + "over-committed instances: \(row.overCommitted)"
    }

    static func seconds(_ duration: Duration) -> String { String(format: "%.1f s", duration.seconds) }

    static func say(_ line: String) { APIThroughputBench.say(line) }

    // MARK: One configuration

    static func measure(
        instances: Int,
        backend: APIThroughputBench.Backend,
        options: Options
    ) async throws -> Row {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-bench-scale-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var database: TestDatabase?
        let replicas: Int
        switch backend {
        case .sqlite: replicas = 1
        case .postgres(let count):
            replicas = count
            database = try await TestDatabase.create()
        }
        var processes: [Process] = []
        defer { for process in processes { RemoteAgentBench.stop(process) } }
        for replica in 0..<replicas {
            let port = firstPort + replica
            var lines = [
                "AWS_DEFAULT_REGION=us-east-1", "ECS_DATADIR=\(directory.path)/replica-\(replica)",
                "BERTH_API_LISTEN=127.0.0.1:\(port)", "ECS_LOGLEVEL=warn",
            ]
            if let database {
                lines.append(database.configurationLine)
                lines.append("BERTH_ADVERTISE_URL=http://127.0.0.1:\(port)")
            }
            let replicaDirectory = directory.appendingPathComponent("replica-\(replica)")
            try FileManager.default.createDirectory(at: replicaDirectory, withIntermediateDirectories: true)
            processes.append(
                try RemoteAgentBench.start(
                    "control-plane",
                    directory: replicaDirectory,
                    configuration: lines.joined(separator: "\n") + "\n"
                )
            )
        }
        let apis = (0..<replicas).map { ECSClient(endpoint: "http://127.0.0.1:\(firstPort + $0)") }
        for api in apis { try await api.waitUntilAnswering() }
        _ = try await apis[0].call("CreateCluster", ["clusterName": cluster])
        for revision in 1...2 {
            _ = try await apis[0].call(
                "RegisterTaskDefinition",
                [
                    "family": "bench-scale",
                    "containerDefinitions": [
                        ["name": "app", "image": "bench:\(revision)", "memory": taskMemory, "essential": true]
                    ],
                ]
            )
        }

        var logger = Logger(label: "bench-scale")
        logger.logLevel = .error
        let signer = SigV4Signer(accessKeyID: "AKIDBERTHBENCHSCALE", secretAccessKey: "unchecked", region: "us-east-1")
        guard let baseURL = URL(string: "http://127.0.0.1:\(firstPort)") else { throw BenchError("no URL") }
        let channelAPI = SignedECSClient(
            baseURL: baseURL,
            signer: signer,
            tls: nil,
            connectionsPerHost: 64,
            logger: logger
        )
        let fleet = SimulatedFleet(
            settings: SimulatedFleet.Settings(
                cluster: cluster,
                instances: instances,
                cpu: 4096,
                memory: 65536,
                registrationConcurrency: 64
            ),
            logger: logger
        ) { [logger] in
            RemoteControlPlaneConnection(
                api: channelAPI,
                tls: nil,
                identity: .init(agentVersion: "simulated"),
                logger: logger
            )
        }
        let clock = ContinuousClock()
        let registrationStarted = clock.now
        let fleetRun = Task { await fleet.simulate() }
        defer { fleetRun.cancel() }
        try await waitFor("\(instances) simulated instances connected", within: .seconds(600)) {
            fleet.current.connected == instances
        }
        try await waitFor("the control plane counting \(instances) agents connected", within: .seconds(120)) {
            try await connectedCount(apis[0]) == instances
        }
        let registration = clock.now - registrationStarted

        /// CPU seconds the control plane's processes have used so far.
        func controlPlaneCPU() throws -> Double {
            try processes.map { try cpuSeconds($0.processIdentifier) }.reduce(0, +)
        }

        // At rest: heartbeats only.
        try await Task.sleep(for: .seconds(5))
        let cpuBefore = try controlPlaneCPU()
        let restStarted = clock.now
        try await Task.sleep(for: options.idle)
        let cpuAfter = try controlPlaneCPU()
        let idleCPU = (cpuAfter - cpuBefore) / (clock.now - restStarted).seconds * 100
        let idleRSS = try processes.map { try RemoteAgentBench.resident($0.processIdentifier).total }.max() ?? 0

        // Placements.
        let placementStarted = clock.now
        let placementCPU = try controlPlaneCPU()
        let benchCPU = try cpuSeconds(getpid())
        // Refused calls are not counted against the tasks to place.
        let (latencies, refused) = try await RunTaskClients(
            apis: apis,
            clients: clients,
            cluster: cluster,
            taskDefinition: "bench-scale:1",
            count: tasksPerCall
        ).run(calls: options.tasks / tasksPerCall, refundRefused: true)
        let placementTime = clock.now - placementStarted
        try await waitFor("\(options.tasks) tasks RUNNING", within: .seconds(900)) {
            fleet.current.running >= options.tasks
        }
        let allRunning = clock.now - placementStarted
        let placingCPU = try controlPlaneCPU() - placementCPU
        let placingBenchCPU = try cpuSeconds(getpid()) - benchCPU
        try await Task.sleep(for: .seconds(3))
        let loadedRSS = try processes.map { try RemoteAgentBench.resident($0.processIdentifier).total }.max() ?? 0

        // A service, and its rolling update.
        let serviceStarted = clock.now
        _ = try await apis[0].call(
            "CreateService",
            [
                "cluster": cluster, "serviceName": "scale", "taskDefinition": "bench-scale:1",
                "desiredCount": options.serviceTasks,
                "deploymentConfiguration": ["maximumPercent": 200, "minimumHealthyPercent": 100],
            ]
        )
        try await waitFor("the service's \(options.serviceTasks) tasks RUNNING", within: .seconds(1800)) {
            let service = try await describeService(apis[0])
            return service["runningCount"] as? Int == options.serviceTasks
        }
        let serviceTime = clock.now - serviceStarted
        let rolloutStarted = clock.now
        _ = try await apis[0].call(
            "UpdateService",
            ["cluster": cluster, "service": "scale", "taskDefinition": "bench-scale:2"]
        )
        try await waitFor("the rolling update to revision 2", within: .seconds(1800)) {
            let service = try await describeService(apis[0])
            let deployments = service["deployments"] as? [[String: Any]] ?? []
            return deployments.count == 1 && (deployments.first?["taskDefinition"] as? String)?.hasSuffix(":2") == true
                && deployments.first?["runningCount"] as? Int == options.serviceTasks
                && service["runningCount"] as? Int == options.serviceTasks
        }
        let rollout = clock.now - rolloutStarted
        let overCommitted = try await overCommittedInstances(apis[0])

        fleetRun.cancel()
        await fleetRun.value
        try await channelAPI.shutdown()
        for process in processes { RemoteAgentBench.stop(process) }
        processes = []
        await database?.drop()
        let placedCount = latencies.count * tasksPerCall
        return Row(
            instances: instances,
            backend: "\(backend)",
            registration: registration,
            idleRSS: idleRSS,
            idleCPU: idleCPU,
            placementsPerSecond: Double(placedCount) / placementTime.seconds,
            p50: latencies.isEmpty ? .zero : latencies[latencies.count / 2],
            p99: latencies.isEmpty ? .zero : latencies[latencies.count * 99 / 100],
            refused: refused,
            allRunning: allRunning,
            controlPlaneCPUPerTask: placingCPU / Double(max(1, placedCount)),
            benchCPUPerTask: placingBenchCPU / Double(max(1, placedCount)),
            loadedRSS: loadedRSS,
            bytesPerTask: (loadedRSS - idleRSS) * 1_048_576 / Double(max(1, placedCount)),
            service: serviceTime,
            rollout: rollout,
            overCommitted: overCommitted
        )
    }

    static func waitFor(
        _ what: String,
        within bound: Duration,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + bound
        while true {
            if try await condition() { return }
            guard ContinuousClock.now < deadline else { throw BenchError("not within \(bound): \(what)") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    static func describeService(_ api: ECSClient) async throws -> [String: Any] {
        let answer = try await api.call("DescribeServices", ["cluster": cluster, "services": ["scale"]])
        return (answer["services"] as? [[String: Any]])?.first ?? [:]
    }

    /// Every page of ListContainerInstances with a filter.
    static func instanceArns(_ api: ECSClient, filter: String? = nil) async throws -> [String] {
        var arns: [String] = []
        var token: String?
        repeat {
            var request: [String: Any] = ["cluster": cluster, "maxResults": 100]
            if let filter { request["filter"] = filter }
            if let token { request["nextToken"] = token }
            let page = try await api.call("ListContainerInstances", request)
            arns += page["containerInstanceArns"] as? [String] ?? []
            token = page["nextToken"] as? String
        } while token != nil
        return arns
    }

    static func connectedCount(_ api: ECSClient) async throws -> Int {
        try await instanceArns(api, filter: "agentConnected == true").count
    }

    /// Instances whose reserved memory is not their live tasks' (`taskMemory` MiB each).
    static func overCommittedInstances(_ api: ECSClient) async throws -> Int {
        let arns = try await instanceArns(api)
        var wrong = 0
        for start in stride(from: 0, to: arns.count, by: 100) {
            let page = Array(arns[start..<min(start + 100, arns.count)])
            let answer = try await api.call(
                "DescribeContainerInstances",
                ["cluster": cluster, "containerInstances": page]
            )
            for instance in answer["containerInstances"] as? [[String: Any]] ?? [] {
                func memory(_ key: String) -> Int {
                    let resources = instance[key] as? [[String: Any]] ?? []
                    return resources.first { $0["name"] as? String == "MEMORY" }?["integerValue"] as? Int ?? 0
                }
                let live = (instance["runningTasksCount"] as? Int ?? 0) + (instance["pendingTasksCount"] as? Int ?? 0)
                if memory("registeredResources") - memory("remainingResources") != live * taskMemory { wrong += 1 }
            }
        }
        return wrong
    }

    /// CPU seconds a process has used (user and system), from /proc.
    static func cpuSeconds(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command's closing parenthesis: state is the 3rd field, utime the 14th.
        guard let close = stat.lastIndex(of: ")") else { throw BenchError("cannot read /proc/\(pid)/stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw BenchError("cannot read /proc/\(pid)/stat")
        }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
