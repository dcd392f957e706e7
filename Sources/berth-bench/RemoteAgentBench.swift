import DockerEngine
import Foundation
import SigV4

/// 4. A remote agent: `berth control-plane` and `berth agent` with ECS_BACKEND_HOST, both processes of the
/// release binary as packaged (``binary``) on this machine, the API signed as the aws CLI signs it. One
/// task's RunTask → RUNNING against the embedded agent's, in interleaved rounds (so that neither side meets
/// a busier dockerd); the agent process's resident memory idle and with 50 tasks; the bytes its idle
/// connections carry, from the kernel's per-socket counters (`ss -ti`).
struct RemoteAgentBench {
    static let cluster = "berth-bench-remote"
    static let controlPlanePort = 51691
    static let introspectionPort = 51692
    static let operatorKey = SigV4Signer(
        accessKeyID: "AKIDBERTHBENCHOPERATOR",
        secretAccessKey: "berth-bench-operator-secret",
        region: "us-east-1"
    )
    static let agentKey = (id: "AKIDBERTHBENCHAGENT01", secret: "berth-bench-agent-secret-01")
    /// How long the idle connections are watched; the figure is scaled to an hour.
    static let idleWindow: Duration = .seconds(60)

    /// The binary as `make deb` packages it (`berth-packaged`, linked by `make bench`), else the build's own.
    static var binary: URL {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let packaged = directory.appendingPathComponent("berth-packaged")
        return FileManager.default.isExecutableFile(atPath: packaged.path)
            ? packaged : directory.appendingPathComponent("berth")
    }

    static func run(embedded: ECSClient, embeddedCluster: String, docker: DockerEngineClient) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-bench-remote-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let credentials = directory.appendingPathComponent("credentials")
        try """
        [operator]
        aws_access_key_id = \(operatorKey.accessKeyID)
        aws_secret_access_key = \(operatorKey.secretAccessKey)
        [agent]
        aws_access_key_id = \(agentKey.id)
        aws_secret_access_key = \(agentKey.secret)
        """.write(to: credentials, atomically: true, encoding: .utf8)
        let controlPlane = try start(
            "control-plane",
            directory: directory,
            configuration: """
                AWS_DEFAULT_REGION=us-east-1
                ECS_DATADIR=\(directory.path)/control-plane
                BERTH_API_LISTEN=127.0.0.1:\(controlPlanePort)
                BERTH_API_CREDENTIALS_FILE=\(credentials.path)
                ECS_LOGLEVEL=warn
                """
        )
        defer { stop(controlPlane) }
        let api = ECSClient(endpoint: "http://127.0.0.1:\(controlPlanePort)", signer: operatorKey)
        try await api.waitUntilAnswering()
        _ = try await api.call("CreateCluster", ["clusterName": cluster])
        _ = try await api.call(
            "RegisterTaskDefinition",
            [
                "family": "bench",
                "containerDefinitions": [
                    [
                        "name": "app", "image": BerthBench.image, "memory": 16, "command": ["sleep", "3600"],
                        "stopTimeout": 1,
                    ]
                ],
            ]
        )
        let agent = try start(
            "agent",
            directory: directory,
            configuration: """
                AWS_DEFAULT_REGION=us-east-1
                ECS_CLUSTER=\(cluster)
                ECS_DATADIR=\(directory.path)/agent
                ECS_BACKEND_HOST=http://127.0.0.1:\(controlPlanePort)
                AWS_ACCESS_KEY_ID=\(agentKey.id)
                AWS_SECRET_ACCESS_KEY=\(agentKey.secret)
                BERTH_INTROSPECTION_LISTEN=127.0.0.1:\(introspectionPort)
                BERTH_TASK_METADATA_PORT=0
                ECS_IMAGE_PULL_BEHAVIOR=prefer-cached
                ECS_LOGLEVEL=warn
                """
        )
        defer { stop(agent) }
        try await api.waitForInstance(cluster: cluster)
        // Let start-up work (recovery, the first manifest, image checks) settle before measuring idle.
        try await Task.sleep(for: .seconds(5))
        let idle = try resident(agent.processIdentifier)
        let before = try channelBytes(agent.processIdentifier)
        try await Task.sleep(for: idleWindow)
        let after = try channelBytes(agent.processIdentifier)
        let perHour = Double(after - before) * (3600 / idleWindow.seconds)

        let clock = ContinuousClock()
        var remote: [Duration] = []
        var local: [Duration] = []
        for _ in 0..<BerthBench.rounds {
            let started = clock.now
            let arns = try await api.runTasks(cluster: cluster, count: 1)
            try await api.waitUntilRunning(cluster: cluster, arns)
            remote.append(clock.now - started)

            let localStarted = clock.now
            let localArns = try await embedded.runTasks(cluster: embeddedCluster, count: 1)
            try await embedded.waitUntilRunning(cluster: embeddedCluster, localArns)
            local.append(clock.now - localStarted)
        }
        // The first round warms caches on both sides; it is left out.
        let remoteMedian = BerthBench.median(Array(remote.dropFirst()))
        let embeddedMedian = BerthBench.median(Array(local.dropFirst()))
        try await api.stopAll(cluster: cluster)
        try await embedded.stopAll(cluster: embeddedCluster)
        try await api.waitUntilNoneRunning(cluster: cluster)
        try await embedded.waitUntilNoneRunning(cluster: embeddedCluster)

        let burst = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<5 { group.addTask { try await api.runTasks(cluster: cluster, count: 10) } }
            var all: [String] = []
            for try await arns in group { all += arns }
            return all
        }
        guard burst.count == 50 else { throw BenchError("the remote burst placed \(burst.count) of 50 tasks") }
        try await api.waitUntilRunning(cluster: cluster, burst)
        let busy = try resident(agent.processIdentifier)
        try await api.stopAll(cluster: cluster)
        try await api.waitUntilNoneRunning(cluster: cluster)

        print(
            "remote agent (berth agent -> berth control-plane over the signed API and the payload channel): "
                + "one task RunTask -> RUNNING median \(BerthBench.ms(remoteMedian)) over \(BerthBench.rounds - 1) "
                + "runs (\(binary.lastPathComponent)), embedded agent in the same rounds \(BerthBench.ms(embeddedMedian)), ratio \(BerthBench.ratio(remoteMedian, embeddedMedian)); "
                + String(
                    format:
                        "agent RSS idle %.1f MiB (%.1f MiB anonymous), with 50 tasks %.1f MiB (%.1f MiB anonymous); ",
                    idle.total,
                    idle.anonymous,
                    busy.total,
                    busy.anonymous
                )
                + String(
                    format: "idle connections %.0f bytes/hour (both directions, %@ watched)",
                    perHour,
                    "\(idleWindow)"
                )
        )
        for container
            in (try? await docker.listContainers(
                all: true,
                filters: ["label": ["com.amazonaws.ecs.cluster=\(cluster)"]]
            )) ?? []
        {
            try? await docker.removeContainer(container.id, force: true)
        }
    }

    /// `berth <command>` with its own configuration file; its output goes to a log beside it.
    static func start(_ command: String, directory: URL, configuration: String) throws -> Process {
        let file = directory.appendingPathComponent("\(command).config")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("\(command).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = binary
        process.arguments = [command, "--config", file.path]
        process.environment = ["PATH": "/usr/bin:/bin"]
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    static func stop(_ process: Process) {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    /// A process's resident memory, in MiB: all of it (VmRSS), and the anonymous part (RssAnon: heap and
    /// stacks, the process's own), the rest being pages of the binary and libraries, shared and reclaimable.
    static func resident(_ pid: Int32) throws -> (total: Double, anonymous: Double) {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func field(_ name: String) throws -> Double {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
                let kibibytes = Double(line.split(separator: " ", omittingEmptySubsequences: true)[1])
            else { throw BenchError("no \(name) for \(pid)") }
            return kibibytes / 1024
        }
        return (try field("VmRSS"), try field("RssAnon"))
    }

    /// Bytes sent and received so far on the process's TCP connections to the control plane.
    static func channelBytes(_ pid: Int32) throws -> Int {
        let (status, output) = try BerthBench.run("/usr/bin/ss", ["-tinpH", "state", "established"])
        guard status == 0 else { throw BenchError("ss failed") }
        var total = 0
        var counting = false
        for line in output.split(separator: "\n") {
            if !line.hasPrefix(" ") && !line.hasPrefix("\t") {
                counting = line.contains("pid=\(pid),") && line.contains(":\(controlPlanePort) ")
                continue
            }
            guard counting else { continue }
            for field in line.split(whereSeparator: \.isWhitespace) {
                for name in ["bytes_sent:", "bytes_received:"] where field.hasPrefix(name) {
                    total += Int(field.dropFirst(name.count)) ?? 0
                }
            }
        }
        return total
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
