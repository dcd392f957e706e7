import AsyncHTTPClient
import BerthConfig
import BerthDaemon
import DockerEngine
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SigV4

/// `make bench`: Berth against dockerd used directly, in one run on this machine.
///
/// 1. One container from RunTask to RUNNING in DescribeTasks, against the same container created and
///    started through the Engine API: medians of `rounds` runs each, interleaved.
/// 2. A burst of 50 tasks (5 RunTask calls of 10) to all RUNNING, against 50 parallel `docker run -d`.
/// 3. A service of 50 tasks from CreateService to 50 RUNNING, against Docker's swarm mode doing the same
///    (`docker service create --replicas 50`, timed to 50/50 running); then how soon after a killed task's
///    STOPPED its replacement is placed.
///
/// 4. A remote agent against `berth control-plane` (see ``RemoteAgentBench``).
///
/// The agent of 1–3 runs in process with the embedded control plane; the API is called over HTTP as the aws
/// CLI would call it. Images are local (ECS_IMAGE_PULL_BEHAVIOR=prefer-cached), so neither side pulls.
@main
struct BerthBench {
    static let image = ProcessInfo.processInfo.environment["BERTH_TEST_IMAGE"] ?? "berth-test/busybox:latest"
    static let cluster = "berth-bench"
    static let rounds = 11

    static func main() async throws {
        // `berth-bench api-throughput`: that part alone (it needs no dockerd).
        if CommandLine.arguments.dropFirst().first == "api-throughput" {
            try await APIThroughputBench.run()
            return
        }
        // `berth-bench scale [options]`: the control plane with thousands of simulated hosts (make bench-scale).
        if CommandLine.arguments.dropFirst().first == "scale" {
            try await ScaleBench.run(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        // `berth-bench simulate-agents --endpoint URL --instances N --cluster NAME`: a simulated fleet.
        if CommandLine.arguments.dropFirst().first == "simulate-agents" {
            try await SimulateAgents.run(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        let port = 51690
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "berth-bench-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("ecs.config")
        try """
        AWS_DEFAULT_REGION=us-east-1
        ECS_CLUSTER=\(cluster)
        ECS_DATADIR=\(directory.path)/data
        BERTH_API_LISTEN=127.0.0.1:\(port)
        ECS_IMAGE_PULL_BEHAVIOR=prefer-cached
        """.write(to: file, atomically: true, encoding: .utf8)
        let configuration = try ConfigurationLoader.load(ConfigurationSource(path: file.path)).configuration
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let daemon = AgentDaemon(configuration: configuration, agentVersion: "bench", logger: logger)
        let agent = Task { try await daemon.run() }
        let api = ECSClient(endpoint: "http://127.0.0.1:\(port)")
        try await api.waitForInstance(cluster: cluster)
        let docker = DockerEngineClient(logger: logger)
        await removeBenchContainers(docker)

        _ = try await api.call(
            "RegisterTaskDefinition",
            [
                "family": "bench",
                "containerDefinitions": [
                    [
                        "name": "app", "image": image, "memory": 16, "command": ["sleep", "3600"], "stopTimeout": 1,
                    ]
                ],
            ]
        )

        print("berth bench: \(ProcessInfo.processInfo.activeProcessorCount) cores, image \(image)")
        // `berth-bench remote-agent`: part 4 alone (against the embedded agent for its comparison).
        if CommandLine.arguments.dropFirst().first == "remote-agent" {
            try await RemoteAgentBench.run(embedded: api, embeddedCluster: cluster, docker: docker)
            await shutDown(agent, docker)
            return
        }
        var berth: [Duration] = []
        var direct: [Duration] = []
        let clock = ContinuousClock()
        for round in 0..<rounds {
            let started = clock.now
            let arns = try await api.runTasks(cluster: cluster, count: 1)
            try await api.waitUntilRunning(cluster: cluster, arns)
            berth.append(clock.now - started)

            let directStarted = clock.now
            var config = ContainerConfiguration(image: image)
            config.cmd = ["sleep", "3600"]
            config.labels = ["berth.bench": "direct"]
            var host = HostConfiguration()
            host.memory = 16 * 1_048_576
            let created = try await docker.createContainer(
                name: "berth-bench-direct-\(round)",
                ContainerCreateRequest(configuration: config, hostConfiguration: host)
            )
            _ = try await docker.startContainer(created.id)
            direct.append(clock.now - directStarted)
        }
        // The first round warms caches on both sides; it is left out.
        let berthMedian = median(Array(berth.dropFirst()))
        let directMedian = median(Array(direct.dropFirst()))
        print(
            "one task, RunTask -> RUNNING in DescribeTasks: median \(ms(berthMedian)) over \(rounds - 1) runs; "
                + "Engine API create+start: median \(ms(directMedian)); ratio \(ratio(berthMedian, directMedian))"
        )
        try await api.stopAll(cluster: cluster)
        await removeBenchContainers(docker)

        let burstStarted = clock.now
        let burstArns = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<5 { group.addTask { try await api.runTasks(cluster: cluster, count: 10) } }
            var all: [String] = []
            for try await arns in group { all += arns }
            return all
        }
        guard burstArns.count == 50 else { throw BenchError("the burst placed \(burstArns.count) of 50 tasks") }
        try await api.waitUntilRunning(cluster: cluster, burstArns)
        let berthBurst = clock.now - burstStarted

        let dockerStarted = clock.now
        // All 50 start at once; waiting on them one after the other does not hold any back.
        let runs = try (0..<50).map { index in
            try startDocker([
                "run", "-d", "--name", "berth-bench-run-\(index)", "--label", "berth.bench=direct",
                "--memory", "16m", image, "sleep", "3600",
            ])
        }
        for run in runs {
            run.waitUntilExit()
            guard run.terminationStatus == 0 else { throw BenchError("docker run failed") }
        }
        let dockerBurst = clock.now - dockerStarted
        print(
            "burst of 50 tasks (5 RunTask x 10) to all RUNNING: \(ms(berthBurst)); "
                + "50 parallel docker run -d: \(ms(dockerBurst)); ratio \(ratio(berthBurst, dockerBurst))"
        )
        try await api.stopAll(cluster: cluster)
        await removeBenchContainers(docker)

        let serviceStarted = clock.now
        _ = try await api.call(
            "CreateService",
            ["cluster": cluster, "serviceName": "bench", "taskDefinition": "bench", "desiredCount": 50]
        )
        try await api.waitForRunningCount(cluster: cluster, service: "bench", 50)
        let berthService = clock.now - serviceStarted
        var replacements: [Double] = []
        for _ in 0..<5 {
            replacements.append(try await api.replacementDelay(cluster: cluster, service: "bench", docker: docker))
            try await api.waitForRunningCount(cluster: cluster, service: "bench", 50)
        }
        replacements.sort()
        print(
            "a killed service task's replacement, placed after its STOPPED (stoppedAt -> createdAt, 5 kills): "
                + String(format: "median %.1f ms, max %.1f ms", replacements[2] * 1000, replacements[4] * 1000)
        )
        _ = try await api.call("DeleteService", ["cluster": cluster, "service": "bench", "force": true])
        try await api.waitForRunningCount(cluster: cluster, service: "bench", 0)
        await removeBenchContainers(docker)

        let swarmService = try await swarmReplicas(50)
        print(
            "service of 50 tasks, CreateService -> 50 RUNNING: \(ms(berthService)); "
                + "docker swarm, service create --replicas 50 -> 50/50: \(ms(swarmService)); "
                + "ratio \(ratio(berthService, swarmService)) (swarm / Berth: \(ratio(swarmService, berthService)))"
        )
        try await RemoteAgentBench.run(embedded: api, embeddedCluster: cluster, docker: docker)
        try await APIThroughputBench.run()
        await shutDown(agent, docker)
    }

    /// SIGTERM, as systemd stops Berth: a graceful shutdown of the in-process agent and its API.
    static func shutDown(_ agent: Task<Void, any Error>, _ docker: DockerEngineClient) async {
        kill(getpid(), SIGTERM)
        _ = try? await agent.value
        try? await docker.shutdown()
    }

    static func median(_ values: [Duration]) -> Duration {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }

    static func ms(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f ms", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }

    static func ratio(_ left: Duration, _ right: Duration) -> String {
        String(format: "%.2fx", (left / right))
    }

    static func removeBenchContainers(_ docker: DockerEngineClient) async {
        let filters: [String: [String]] = ["label": ["berth.bench=direct"]]
        let clusterFilters: [String: [String]] = ["label": ["com.amazonaws.ecs.cluster=\(cluster)"]]
        for filter in [filters, clusterFilters] {
            for container in (try? await docker.listContainers(all: true, filters: filter)) ?? [] {
                try? await docker.removeContainer(container.id, force: true)
            }
        }
    }

    /// Docker's own orchestrator on this machine: a one-node swarm runs `count` replicas of the same
    /// container; the time from `docker service create` until `docker service ls` shows all running.
    static func swarmReplicas(_ count: Int) async throws -> Duration {
        _ = try await docker(["swarm", "leave", "--force"])
        guard try await docker(["swarm", "init", "--advertise-addr", "127.0.0.1"]).status == 0 else {
            throw BenchError("docker swarm init failed")
        }
        defer { _ = try? runDocker(["swarm", "leave", "--force"]) }
        let clock = ContinuousClock()
        let started = clock.now
        let created = try await docker([
            "service", "create", "--detach", "--name", "berth-bench", "--replicas", "\(count)",
            "--no-resolve-image", "--limit-memory", "16m", image, "sleep", "3600",
        ])
        guard created.status == 0 else { throw BenchError("docker service create failed") }
        var replicas = ""
        for _ in 0..<6000 {
            replicas = try await docker(["service", "ls", "--filter", "name=berth-bench", "--format", "{{.Replicas}}"])
                .output.trimmingCharacters(in: .whitespacesAndNewlines)
            if replicas == "\(count)/\(count)" { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let elapsed = clock.now - started
        guard replicas == "\(count)/\(count)" else { throw BenchError("swarm reached \(replicas)") }
        _ = try await docker(["service", "rm", "berth-bench"])
        // The service's containers go with it; wait for them, so they do not weigh on what follows.
        for _ in 0..<600 {
            let left = try await docker(["ps", "-q", "--filter", "label=com.docker.swarm.service.name=berth-bench"])
            if left.output.isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return elapsed
    }

    /// Runs the docker CLI on a thread of its own (never on the cooperative pool).
    static func docker(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try runDocker(arguments) })
            }
        }
    }

    static func runDocker(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try run("/usr/bin/docker", arguments)
    }

    /// Runs a program to its end; its status and standard output.
    static func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func startDocker(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/docker")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The few ECS API calls the bench makes, over HTTP.
struct ECSClient: Sendable {
    let endpoint: String
    /// Signs each call (SigV4) when the API checks signatures.
    var signer: SigV4Signer?

    func call(_ operation: String, _ body: [String: Any]) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: endpoint + "/")
        request.method = .POST
        let data = try JSONSerialization.data(withJSONObject: body)
        var headers = [
            (name: "Content-Type", value: "application/x-amz-json-1.1"),
            (name: "X-Amz-Target", value: "AmazonEC2ContainerServiceV20141113.\(operation)"),
        ]
        if let signer, let host = URLComponents(string: endpoint).flatMap({ c in c.host.map { ($0, c.port) } }) {
            let hostHeader = host.1.map { "\(host.0):\($0)" } ?? host.0
            headers += signer.sign(
                method: "POST",
                path: "/",
                query: "",
                headers: headers + [(name: "host", value: hostHeader)],
                body: data
            )
        }
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        request.body = .bytes(ByteBuffer(bytes: data))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let buffer = try await response.body.collect(upTo: 1 << 24)
        let object = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] ?? [:]
        guard response.status == .ok else { throw BenchError("\(operation): \(object)") }
        return object
    }

    func waitForInstance(cluster: String) async throws {
        for _ in 0..<300 {
            if let listed = try? await call("ListContainerInstances", ["cluster": cluster]),
                let arns = listed["containerInstanceArns"] as? [String], !arns.isEmpty
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("the agent did not register")
    }

    func waitUntilAnswering() async throws {
        for _ in 0..<600 {
            if (try? await call("ListClusters", [:])) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("the control plane does not answer at \(endpoint)")
    }

    /// Polls until no task of the cluster is left RUNNING or PENDING.
    func waitUntilNoneRunning(cluster: String) async throws {
        for _ in 0..<6000 {
            let running = try await call("ListTasks", ["cluster": cluster, "desiredStatus": "RUNNING"])
            let stopped = try await call("ListTasks", ["cluster": cluster, "desiredStatus": "STOPPED"])
            let arns = stopped["taskArns"] as? [String] ?? []
            var live = !(running["taskArns"] as? [String] ?? []).isEmpty
            // ListTasks pages at 100; describe in pages of 100.
            for start in stride(from: 0, to: arns.count, by: 100) where !live {
                let page = Array(arns[start..<min(start + 100, arns.count)])
                let answer = try await call("DescribeTasks", ["cluster": cluster, "tasks": page])
                live = (answer["tasks"] as? [[String: Any]] ?? []).contains { $0["lastStatus"] as? String != "STOPPED" }
            }
            if !live { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError("tasks of \(cluster) did not stop")
    }

    func runTasks(cluster: String, count: Int) async throws -> [String] {
        let answer = try await call("RunTask", ["cluster": cluster, "taskDefinition": "bench", "count": count])
        return (answer["tasks"] as? [[String: Any]] ?? []).compactMap { $0["taskArn"] as? String }
    }

    /// Polls DescribeTasks until every task is RUNNING, as a client waiting on the API would.
    func waitUntilRunning(cluster: String, _ arns: [String]) async throws {
        var pending = Set(arns)
        for _ in 0..<12_000 {
            let answer = try await call("DescribeTasks", ["cluster": cluster, "tasks": Array(pending)])
            for task in answer["tasks"] as? [[String: Any]] ?? [] {
                guard let arn = task["taskArn"] as? String, let status = task["lastStatus"] as? String else { continue }
                if status == "RUNNING" { pending.remove(arn) }
                if status == "STOPPED" { throw BenchError("task \(arn) stopped: \(task["stoppedReason"] ?? "")") }
            }
            if pending.isEmpty { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw BenchError("tasks did not reach RUNNING")
    }

    /// Polls DescribeServices until the service's runningCount is `count`.
    func waitForRunningCount(cluster: String, service: String, _ count: Int) async throws {
        for _ in 0..<6000 {
            let answer = try await call("DescribeServices", ["cluster": cluster, "services": [service]])
            if (answer["services"] as? [[String: Any]])?.first?["runningCount"] as? Int == count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("service \(service) did not reach \(count) running")
    }

    /// Kills one of the service's containers with SIGKILL, as the kernel or an operator might; returns how
    /// long after the task's `stoppedAt` its replacement was placed (its `createdAt`), in seconds.
    func replacementDelay(cluster: String, service: String, docker: DockerEngineClient) async throws -> Double {
        let before = Set(
            try await call("ListTasks", ["cluster": cluster, "serviceName": service])["taskArns"] as? [String] ?? []
        )
        guard let victim = before.first else { throw BenchError("the service has no task") }
        let described = try await call("DescribeTasks", ["cluster": cluster, "tasks": [victim]])
        let task = (described["tasks"] as? [[String: Any]])?.first
        guard let container = (task?["containers"] as? [[String: Any]])?.first?["runtimeId"] as? String else {
            throw BenchError("task \(victim) has no container")
        }
        try await docker.killContainer(container)
        var stoppedAt: Double?
        var createdAt: Double?
        for _ in 0..<6000 where stoppedAt == nil || createdAt == nil {
            if stoppedAt == nil {
                let answer = try await call("DescribeTasks", ["cluster": cluster, "tasks": [victim]])
                stoppedAt = (answer["tasks"] as? [[String: Any]])?.first?["stoppedAt"] as? Double
            }
            let now = Set(
                try await call("ListTasks", ["cluster": cluster, "serviceName": service])["taskArns"] as? [String] ?? []
            )
            if let replacement = now.subtracting(before).first {
                let answer = try await call("DescribeTasks", ["cluster": cluster, "tasks": [replacement]])
                createdAt = (answer["tasks"] as? [[String: Any]])?.first?["createdAt"] as? Double
            }
            if stoppedAt == nil || createdAt == nil { try await Task.sleep(for: .milliseconds(5)) }
        }
        guard let stoppedAt, let createdAt else { throw BenchError("no replacement for \(victim)") }
        return createdAt - stoppedAt
    }

    func stopAll(cluster: String) async throws {
        let listed = try await call("ListTasks", ["cluster": cluster])
        for arn in listed["taskArns"] as? [String] ?? [] {
            _ = try await call("StopTask", ["cluster": cluster, "task": arn])
        }
    }
}

extension BerthBench {
    /// Many connections need many descriptors: the soft limit is raised to the hard one.
    static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
