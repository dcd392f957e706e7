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

        init(directory: URL, tls: URL?) throws {
            let port = try TestPorts.free()
            endpoint = "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)"
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
            BERTH_API_LISTEN=127.0.0.1:\(port)
            BERTH_API_CREDENTIALS_FILE=\(credentials.path)
            ECS_LOGLEVEL=info
            \(tls.map { "BERTH_TLS_CERTIFICATE=\($0.path)/cert.pem\nBERTH_TLS_KEY=\($0.path)/key.pem" } ?? "")
            """.write(to: file, atomically: true, encoding: .utf8)
            log = directory.appendingPathComponent("control-plane.log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process = Process()
            process.executableURL = BerthAgentProcess.binary
            process.arguments = ["control-plane", "--config", file.path]
            process.environment = ["PATH": "/usr/bin:/bin"]
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        /// `aws ecs …` signed with the operator's key; its JSON answer, or the CLI's error.
        func ecs(_ arguments: String...) async throws -> AWSCLI {
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
    }

    static func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + TestEnvironment.loadedWait
        while clock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw WaitTimeout("not within \(TestEnvironment.loadedWait): \(what)")
    }

    @Test(
        "ECS_BACKEND_HOST: the agent registers with berth control-plane (http, or https trusted through BERTH_BACKEND_CA_FILE), runs the task the aws CLI places there, reports RUNNING and STOPPED",
        arguments: [false, true]
    )
    func remoteAgent(overTLS: Bool) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "berth-remote-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificates = overTLS ? try await TLSTests.certificates() : nil
        defer { if let certificates { try? FileManager.default.removeItem(at: certificates) } }
        let cluster = "remote-\(UUID().uuidString.prefix(8).lowercased())"
        let controlPlane = try ControlPlane(directory: directory, tls: certificates)
        var agent: BerthAgentProcess?
        do {
            try await Self.waitUntil("the control plane answers") {
                try await controlPlane.ecs("list-clusters").status == 0
            }
            #expect(try await controlPlane.ecs("create-cluster", "--cluster-name", cluster).status == 0)
            agent = try BerthAgentProcess(
                cluster: cluster,
                extraConfiguration: """
                    ECS_BACKEND_HOST=\(controlPlane.endpoint)
                    AWS_ACCESS_KEY_ID=\(Self.agentKey.id)
                    AWS_SECRET_ACCESS_KEY=\(Self.agentKey.secret)
                    \(controlPlane.caBundle.map { "BERTH_BACKEND_CA_FILE=\($0.path)" } ?? "")
                    """
            )
            var instance: [String: Any] = [:]
            try await Self.waitUntil("the agent registers and connects") {
                let listed = try await controlPlane.ecs("list-container-instances", "--cluster", cluster)
                guard let arn = (listed.json?["containerInstanceArns"] as? [String])?.first else { return false }
                let described = try await controlPlane.ecs(
                    "describe-container-instances",
                    "--cluster",
                    cluster,
                    "--container-instances",
                    arn
                )
                instance = (described.json?["containerInstances"] as? [[String: Any]])?.first ?? [:]
                return instance["agentConnected"] as? Bool == true
            }
            #expect((instance["versionInfo"] as? [String: Any])?["dockerVersion"] != nil)

            let definitions = """
                [{"name":"app","image":"\(TestEnvironment.localImage)","memory":32,"essential":true,
                  "command":["sh","-c","trap 'exit 0' TERM; while true; do sleep 1; done"]}]
                """
            let registered = try await controlPlane.ecs(
                "register-task-definition",
                "--family",
                "remote-app",
                "--container-definitions",
                definitions
            )
            #expect(registered.status == 0, "\(registered.error)")
            let run = try await controlPlane.ecs("run-task", "--cluster", cluster, "--task-definition", "remote-app")
            #expect(run.status == 0, "\(run.error)")
            let taskArn = try #require((run.json?["tasks"] as? [[String: Any]])?.first?["taskArn"] as? String)

            var task: [String: Any] = [:]
            func described() async throws -> [String: Any] {
                let answer = try await controlPlane.ecs("describe-tasks", "--cluster", cluster, "--tasks", taskArn)
                return (answer.json?["tasks"] as? [[String: Any]])?.first ?? [:]
            }
            try await Self.waitUntil("the task is RUNNING") {
                task = try await described()
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
            try await Self.waitUntil("the task is STOPPED") {
                task = try await described()
                return task["lastStatus"] as? String == "STOPPED"
            }
            #expect(task["stopCode"] as? String == "UserInitiated")
            #expect(task["stoppedReason"] as? String == "done")
            let exited = try #require((task["containers"] as? [[String: Any]])?.first)
            #expect(exited["exitCode"] as? Int == 0, "\(exited)")
        } catch {
            Issue.record(
                "control plane log:\n\(controlPlane.logText.suffix(3000))\nagent log:\n\(agent?.logText.suffix(4000) ?? "")"
            )
            _ = await agent?.terminate()
            await controlPlane.terminate()
            await WalkthroughTests.removeContainers(cluster: cluster)
            throw error
        }
        if let agent {
            let status = await agent.terminate()
            #expect(status == 0, "SIGTERM ends the remote agent with status 0: \(agent.logText.suffix(3000))")
            agent.removeDirectory()
        }
        await controlPlane.terminate()
        await WalkthroughTests.removeContainers(cluster: cluster)
    }
}
