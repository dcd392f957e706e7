import BerthTestSupport
import Foundation
import Testing

/// `berth agent` with ECS_BACKEND_HOST, against `berth control-plane` that checks signatures: the agent
/// registers, takes payloads over the WebSocket and reports through the signed API, and the aws CLI drives
/// it through the control plane alone.
@Suite("berth agent with a remote control plane")
struct RemoteAgentTests {
    static let operatorKey = (id: "AKIDBERTHTEST", secret: "berth-test-secret")
    static let agentKey = (id: "AKIDBERTHAGENT0001", secret: "berth-agent-secret-0001")

    /// `berth control-plane` on loopback, with a credentials file holding the operator's and the agent's keys.
    final class ControlPlane: Sendable {
        let process: Process
        let endpoint: String
        let log: URL

        /// The CA bundle the aws CLI and the agent trust, when the API is served over TLS.
        let caBundle: URL?

        let port: Int
        /// The address it listens on.
        let address: String

        /// Lines added to its configuration file (shorter clocks, for tests).
        let extraConfiguration: String

        /// Starts `berth control-plane` on `directory`; given the `port` of an earlier one, it starts again on
        /// its state.
        init(
            directory: URL,
            tls: URL?,
            port: Int? = nil,
            address: String = "127.0.0.1",
            extraConfiguration: String = ""
        ) throws {
            let port = try port ?? TestPorts.free()
            self.port = port
            self.address = address
            self.extraConfiguration = extraConfiguration
            endpoint = "\(tls == nil ? "http" : "https")://\(address):\(port)"
            caBundle = tls?.appendingPathComponent("cert.pem")
            let credentials = directory.appendingPathComponent("credentials")
            try """
            [operator]
            aws_access_key_id = \(RemoteAgentTests.operatorKey.id)
            aws_secret_access_key = \(RemoteAgentTests.operatorKey.secret)
            [agent]
            aws_access_key_id = \(RemoteAgentTests.agentKey.id)
            aws_secret_access_key = \(RemoteAgentTests.agentKey.secret)
            """.write(to: credentials, atomically: true, encoding: .utf8)
            let file = directory.appendingPathComponent("control-plane.config")
            try """
            AWS_DEFAULT_REGION=us-east-1
            ECS_DATADIR=\(directory.path)/control-plane
            BERTH_API_LISTEN=\(address):\(port)
            BERTH_API_CREDENTIALS_FILE=\(credentials.path)
            ECS_LOGLEVEL=info
            \(tls.map { "BERTH_TLS_CERTIFICATE=\($0.path)/cert.pem\nBERTH_TLS_KEY=\($0.path)/key.pem" } ?? "")
            \(extraConfiguration)
            """.write(to: file, atomically: true, encoding: .utf8)
            log = directory.appendingPathComponent("control-plane.log")
            if !FileManager.default.fileExists(atPath: log.path) {
                _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            }
            process = Process()
            process.executableURL = BerthAgentProcess.binary
            process.arguments = ["control-plane", "--config", file.path]
            process.environment = ["PATH": "/usr/bin:/bin"]
            let handle = try FileHandle(forWritingTo: log)
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        /// `aws ecs …` signed with the operator's key; its JSON answer, or the CLI's error.
        func ecs(_ arguments: String...) async throws -> AWSCLI {
            try await ecs(arguments)
        }

        func ecs(_ arguments: [String]) async throws -> AWSCLI {
            try await AWSCLI.run(
                ["ecs"] + arguments + (caBundle.map { ["--ca-bundle", $0.path] } ?? []),
                endpoint: endpoint,
                key: RemoteAgentTests.operatorKey.id,
                secret: RemoteAgentTests.operatorKey.secret
            )
        }

        func terminate() async {
            if process.isRunning { process.terminate() }
            let process = self.process
            _ = try? await offThePool { process.waitUntilExit() }
        }

        /// The same control plane started again on its state, port and configuration (after `kill()`).
        func restarted(directory: URL) throws -> ControlPlane {
            try ControlPlane(
                directory: directory,
                tls: caBundle?.deletingLastPathComponent(),
                port: port,
                address: address,
                extraConfiguration: extraConfiguration
            )
        }

        /// SIGKILL: no chance to save or say anything.
        func kill() async {
            Foundation.kill(process.processIdentifier, SIGKILL)
            let process = self.process
            _ = try? await offThePool { process.waitUntilExit() }
        }

        /// The cluster's one container instance as DescribeContainerInstances shows it; empty when none.
        func instance(cluster: String) async throws -> [String: Any] {
            let listed = try await ecs("list-container-instances", "--cluster", cluster)
            guard let arn = (listed.json?["containerInstanceArns"] as? [String])?.first else { return [:] }
            let described = try await ecs(
                "describe-container-instances",
                "--cluster",
                cluster,
                "--container-instances",
                arn
            )
            return (described.json?["containerInstances"] as? [[String: Any]])?.first ?? [:]
        }

        func task(_ arn: String, cluster: String) async throws -> [String: Any] {
            let answer = try await ecs("describe-tasks", "--cluster", cluster, "--tasks", arn)
            return (answer.json?["tasks"] as? [[String: Any]])?.first ?? [:]
        }

        /// RunTask of the test's task definition; the task's ARN.
        func runTask(cluster: String) async throws -> String {
            let run = try await ecs("run-task", "--cluster", cluster, "--task-definition", "remote-app")
            #expect(run.status == 0, "\(run.error)")
            return try #require((run.json?["tasks"] as? [[String: Any]])?.first?["taskArn"] as? String)
        }

        func registerTaskDefinition() async throws {
            // A web server on 8080, published on a dynamic host port; SIGTERM ends it with 0.
            let definitions = """
                [{"name":"app","image":"\(TestEnvironment.localImage)","memory":32,"essential":true,
                  "command":["sh","-c","trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"],
                  "portMappings":[{"containerPort":8080,"hostPort":0}]}]
                """
            let registered = try await ecs(
                "register-task-definition",
                "--family",
                "remote-app",
                "--container-definitions",
                definitions
            )
            #expect(registered.status == 0, "\(registered.error)")
        }
    }

    /// `berth agent` configured for `controlPlane`; given the `directory` of an earlier one, on its state.
    /// `extraConfiguration` and `launcher` run it as another host (see ManyHostsTests).
    static func agent(
        cluster: String,
        controlPlane: ControlPlane,
        directory: URL? = nil,
        extraConfiguration: String = "",
        launcher: [String] = []
    ) throws -> BerthAgentProcess {
        try BerthAgentProcess(
            cluster: cluster,
            directory: directory,
            extraConfiguration: """
                ECS_BACKEND_HOST=\(controlPlane.endpoint)
                AWS_ACCESS_KEY_ID=\(Self.agentKey.id)
                AWS_SECRET_ACCESS_KEY=\(Self.agentKey.secret)
                \(controlPlane.caBundle.map { "BERTH_BACKEND_CA_FILE=\($0.path)" } ?? "")
                \(extraConfiguration)
                """,
            launcher: launcher
        )
    }

    /// A control plane with a cluster and the test's task definition, and (once the test starts it) an agent.
    final class Remote {
        let directory: URL
        let cluster: String
        var controlPlane: ControlPlane
        var agent: BerthAgentProcess?

        init(directory: URL, cluster: String, controlPlane: ControlPlane) {
            self.directory = directory
            self.cluster = cluster
            self.controlPlane = controlPlane
        }

        func startAgent(onStateOfEarlier earlier: BerthAgentProcess? = nil) throws {
            agent = try RemoteAgentTests.agent(
                cluster: cluster,
                controlPlane: controlPlane,
                directory: earlier?.directory
            )
        }

        func agentConnected() async throws -> Bool {
            try await controlPlane.instance(cluster: cluster)["agentConnected"] as? Bool == true
        }
    }

    /// Runs `body` with a control plane (over TLS with `certificates`) that has a cluster and the task
    /// definition; afterwards stops what runs and removes the cluster's containers, whatever happened.
    static func withRemote(
        certificates: URL? = nil,
        address: String = "127.0.0.1",
        controlPlaneConfiguration: String = "",
        _ body: (Remote) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "berth-remote-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cluster = "remote-\(UUID().uuidString.prefix(8).lowercased())"
        let remote = Remote(
            directory: directory,
            cluster: cluster,
            controlPlane: try ControlPlane(
                directory: directory,
                tls: certificates,
                address: address,
                extraConfiguration: controlPlaneConfiguration
            )
        )
        do {
            try await waitUntil("the control plane answers") {
                try await remote.controlPlane.ecs("list-clusters").status == 0
            }
            #expect(try await remote.controlPlane.ecs("create-cluster", "--cluster-name", cluster).status == 0)
            try await remote.controlPlane.registerTaskDefinition()
            try await body(remote)
        } catch {
            Issue.record(
                "control plane log:\n\(remote.controlPlane.logText.suffix(3000))\nagent log:\n\(remote.agent?.logText.suffix(4000) ?? "")"
            )
            _ = await remote.agent?.terminate()
            await remote.controlPlane.terminate()
            await WalkthroughTests.removeContainers(cluster: cluster)
            throw error
        }
        if let agent = remote.agent {
            let status = await agent.terminate()
            #expect(status == 0, "SIGTERM ends the remote agent with status 0: \(agent.logText.suffix(3000))")
            agent.removeDirectory()
        }
        await remote.controlPlane.terminate()
        await WalkthroughTests.removeContainers(cluster: cluster)
    }

    @Test(
        "ECS_BACKEND_HOST: the agent registers with berth control-plane (http, or https trusted through BERTH_BACKEND_CA_FILE), runs the task the aws CLI places there, reports RUNNING and STOPPED",
        arguments: [false, true]
    )
    func remoteAgent(overTLS: Bool) async throws {
        let certificates = overTLS ? try await TLSTests.certificates() : nil
        defer { if let certificates { try? FileManager.default.removeItem(at: certificates) } }
        try await Self.withRemote(certificates: certificates) { remote in
            let controlPlane = remote.controlPlane
            let cluster = remote.cluster
            try remote.startAgent()
            var instance: [String: Any] = [:]
            try await waitUntil("the agent registers and connects") {
                instance = try await controlPlane.instance(cluster: cluster)
                return instance["agentConnected"] as? Bool == true
            }
            #expect((instance["versionInfo"] as? [String: Any])?["dockerVersion"] != nil)

            let taskArn = try await controlPlane.runTask(cluster: cluster)
            var task: [String: Any] = [:]
            try await waitUntil("the task is RUNNING") {
                task = try await controlPlane.task(taskArn, cluster: cluster)
                return task["lastStatus"] as? String == "RUNNING"
            }
            let container = try #require((task["containers"] as? [[String: Any]])?.first)
            #expect((container["runtimeId"] as? String)?.isEmpty == false)

            let stopped = try await controlPlane.ecs(
                "stop-task",
                "--cluster",
                cluster,
                "--task",
                taskArn,
                "--reason",
                "done"
            )
            #expect(stopped.status == 0, "\(stopped.error)")
            try await waitUntil("the task is STOPPED") {
                task = try await controlPlane.task(taskArn, cluster: cluster)
                return task["lastStatus"] as? String == "STOPPED"
            }
            #expect(task["stopCode"] as? String == "UserInitiated")
            #expect(task["stoppedReason"] as? String == "done")
            let exited = try #require((task["containers"] as? [[String: Any]])?.first)
            #expect(exited["exitCode"] as? Int == 0, "\(exited)")
        }
    }

    @Test(
        "SIGKILL of the remote agent, then of the control plane: each comes back, the agent reconnects by itself, the task runs on once, a new one runs"
    )
    func crashesOnBothSides() async throws {
        try await Self.withRemote { remote in
            let cluster = remote.cluster
            try remote.startAgent()
            try await waitUntil("the agent connects") { try await remote.agentConnected() }
            let first = try await remote.controlPlane.runTask(cluster: cluster)
            try await waitUntil("the task is RUNNING") {
                try await remote.controlPlane.task(first, cluster: cluster)["lastStatus"] as? String == "RUNNING"
            }

            // The agent dies: the control plane sees it gone; the task's container runs on.
            await remote.agent?.kill()
            try await waitUntil("the control plane sees the agent disconnected") {
                try await !remote.agentConnected()
            }
            try remote.startAgent(onStateOfEarlier: remote.agent)
            try await waitUntil("the restarted agent connects") { try await remote.agentConnected() }

            // The control plane dies and comes back on its state; the agent finds it again by itself.
            await remote.controlPlane.kill()
            remote.controlPlane = try remote.controlPlane.restarted(directory: remote.directory)
            try await waitUntil("the agent reconnects to the restarted control plane") {
                (try? await remote.agentConnected()) == true
            }
            let second = try await remote.controlPlane.runTask(cluster: cluster)
            try await waitUntil("a task placed after both restarts is RUNNING") {
                try await remote.controlPlane.task(second, cluster: cluster)["lastStatus"] as? String == "RUNNING"
            }
            #expect(try await remote.controlPlane.task(first, cluster: cluster)["lastStatus"] as? String == "RUNNING")
            // One container per task: none made twice, none lost.
            let containers = try await offThePool {
                try ChildProcess.run(
                    URL(fileURLWithPath: "/usr/bin/docker"),
                    ["ps", "-q", "--filter", "label=com.amazonaws.ecs.cluster=\(cluster)"]
                )
            }
            #expect(containers.standardOutput.split(separator: "\n").count == 2, "\(containers.standardOutput)")
        }
    }
}
