import BerthAgent
import BerthModel
import BerthTestSupport
import Foundation
import Testing

/// `berth agent` run as an operator runs it, with its own configuration file, data directory and API port.
final class BerthAgentProcess: Sendable {
    let process: Process
    let directory: URL
    let port: Int
    let endpoint: String
    /// The introspection API's base URL.
    let introspection: String
    let metadataPort: Int
    let log: URL

    static var binary: URL {
        // The test bundle and the executables share the build products folder.
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("berth")
    }

    /// Starts `berth agent`; given the `directory` and `port` of an earlier one, it starts again on its state.
    /// `launcher`, when given, is a program and its arguments that run the binary (given after them).
    init(
        cluster: String,
        directory: URL? = nil,
        port: Int? = nil,
        extraConfiguration: String = "",
        environment: [String: String] = [:],
        launcher: [String] = []
    ) throws {
        let directory =
            directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("berth-acceptance-\(UUID().uuidString)")
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try port ?? TestPorts.free()
        self.port = port
        endpoint = "http://127.0.0.1:\(port)"
        let introspectionPort = try TestPorts.free()
        introspection = "http://127.0.0.1:\(introspectionPort)"
        // The task metadata endpoint listens on Docker's bridge gateway: a port of its own per agent.
        let metadataPort = try TestPorts.free()
        self.metadataPort = metadataPort
        let configuration = """
            AWS_DEFAULT_REGION=us-east-1
            ECS_CLUSTER=\(cluster)
            ECS_DATADIR=\(directory.path)/data
            BERTH_API_LISTEN=127.0.0.1:\(port)
            BERTH_INTROSPECTION_LISTEN=127.0.0.1:\(introspectionPort)
            BERTH_TASK_METADATA_PORT=\(metadataPort)
            ECS_LOGLEVEL=info
            ECS_IMAGE_PULL_BEHAVIOR=prefer-cached
            \(extraConfiguration)
            """
        let file = directory.appendingPathComponent("ecs.config")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        log = directory.appendingPathComponent("berth.log")
        if !FileManager.default.fileExists(atPath: log.path) {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        }
        process = Process()
        // A launcher (a program and its arguments) runs the binary, given as its last arguments.
        let command = launcher + [Self.binary.path, "agent", "--config", file.path]
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { $1 }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// Waits until the API lists this host as a container instance.
    func waitUntilRegistered(cluster: String) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + TestEnvironment.loadedWait
        while clock.now < deadline {
            if !process.isRunning { throw WaitTimeout("berth agent exited \(process.terminationStatus): \(logText)") }
            if let listed = try? await AWSCLI.run(
                ["ecs", "list-container-instances", "--cluster", cluster],
                endpoint: endpoint
            ),
                let arns = listed.json?["containerInstanceArns"] as? [String], !arns.isEmpty
            {
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw WaitTimeout("berth agent did not register: \(logText)")
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// SIGKILL: no chance to save or say anything.
    func kill() async {
        Foundation.kill(process.processIdentifier, SIGKILL)
        let process = self.process
        _ = try? await offThePool { process.waitUntilExit() }
    }

    /// SIGTERM, as systemd stops it; returns the exit status.
    func terminate() async -> Int32 {
        if process.isRunning { process.terminate() }
        let process = self.process
        return
            (try? await offThePool {
                process.waitUntilExit()
                return process.terminationStatus
            }) ?? -1
    }

    func removeDirectory() {
        try? FileManager.default.removeItem(at: directory)
    }

}

extension BerthAgentProcess {
    /// `berth agent` for `cluster`, registered, for `body`. Whatever happens it is stopped and the cluster's
    /// containers and volumes removed; SIGTERM must end it with status 0; when `body` fails, its log (and
    /// what `diagnostics` adds) is recorded.
    static func withAgent(
        cluster: String,
        extraConfiguration: String = "",
        launcher: [String] = [],
        diagnostics: @autoclosure () -> String = "",
        _ body: (BerthAgentProcess) async throws -> Void
    ) async throws {
        let agent = try BerthAgentProcess(cluster: cluster, extraConfiguration: extraConfiguration, launcher: launcher)
        defer { agent.removeDirectory() }
        do {
            try await agent.waitUntilRegistered(cluster: cluster)
            try await body(agent)
        } catch {
            Issue.record("berth log:\n\(agent.logText.suffix(4000))\(diagnostics())")
            _ = await agent.terminate()
            await WalkthroughTests.removeContainers(cluster: cluster)
            throw error
        }
        let status = await agent.terminate()
        #expect(status == 0, "SIGTERM ends berth agent with status 0: \(agent.logText.suffix(3000))")
        await WalkthroughTests.removeContainers(cluster: cluster)
    }
}

extension BerthAgentProcess {
    /// RunTask of one task of `taskDefinition`; its ARN.
    func runTask(cluster: String, taskDefinition: String) async throws -> String {
        let (status, data) = try await ECSCall.post(
            endpoint,
            "RunTask",
            #"{"cluster":"\#(cluster)","taskDefinition":"\#(taskDefinition)"}"#
        )
        #expect(status == 200, "\(String(decoding: data, as: UTF8.self))")
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try #require((object?["tasks"] as? [[String: Any]])?.first?["taskArn"] as? String)
    }

    /// DescribeTasks until the task's lastStatus is `status`; the task as last described.
    @discardableResult
    func waitForTask(_ arn: String, cluster: String, status: String) async throws -> [String: Any] {
        let clock = ContinuousClock()
        let deadline = clock.now + TestEnvironment.loadedWait
        var last: [String: Any] = [:]
        while clock.now < deadline {
            let (_, data) = try await ECSCall.post(
                endpoint,
                "DescribeTasks",
                #"{"cluster":"\#(cluster)","tasks":["\#(arn)"]}"#
            )
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            last = (object?["tasks"] as? [[String: Any]])?.first ?? [:]
            if last["lastStatus"] as? String == status { return last }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw WaitTimeout("\(arn) did not reach \(status): \(last)")
    }
}

/// The real aws CLI (awscli v1), pointed at Berth.
struct AWSCLI {
    let status: Int32
    let output: String
    let error: String

    var json: [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
    }

    /// `settings` adds to the CLI's environment (AWS_MAX_ATTEMPTS=1: a failure is the caller's to retry).
    static func run(
        _ arguments: [String],
        endpoint: String,
        key: String = "AKIDBERTHTEST",
        secret: String = "berth-test-secret",
        settings: [String: String] = [:]
    ) async throws -> AWSCLI {
        try await offThePool {
            try runBlocking(arguments, endpoint: endpoint, key: key, secret: secret, settings: settings)
        }
    }

    private static func runBlocking(
        _ arguments: [String],
        endpoint: String,
        key: String,
        secret: String,
        settings: [String: String]
    ) throws -> AWSCLI {
        var environment = ProcessInfo.processInfo.environment.merging(settings) { $1 }
        environment["AWS_ACCESS_KEY_ID"] = key
        environment["AWS_SECRET_ACCESS_KEY"] = secret
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
        environment["AWS_CONFIG_FILE"] = "/dev/null"
        environment["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
        let result = try ChildProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["aws"] + arguments + ["--endpoint-url", endpoint, "--output", "json"],
            environment: environment
        )
        return AWSCLI(status: result.status, output: result.standardOutput, error: result.standardError)
    }
}
