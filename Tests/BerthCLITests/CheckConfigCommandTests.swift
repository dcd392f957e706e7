import BerthTestSupport
import Foundation
import Testing

/// Runs the `berth` binary built beside the test bundle.
struct BerthProcess: Sendable {
    let status: Int32
    let standardOutput: String
    let standardError: String

    static var binary: URL {
        get throws {
            // The test bundle and the executables share the build products folder.
            let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            let binary = products.appendingPathComponent("berth")
            guard FileManager.default.isExecutableFile(atPath: binary.path) else {
                throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: binary.path])
            }
            return binary
        }
    }

    /// Runs it to its end off the cooperative pool: a test blocked on a child process would stall every
    /// other test on a 2-core machine.
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> BerthProcess {
        // Only what the test gives: the caller's ECS_* variables must not leak in.
        let binary = try binary
        let result = try await offThePool {
            try ChildProcess.run(
                binary,
                arguments,
                environment: ["PATH": "/usr/bin:/bin"].merging(environment) { $1 }
            )
        }
        return BerthProcess(
            status: result.status,
            standardOutput: result.standardOutput,
            standardError: result.standardError
        )
    }
}

/// Writes `text` to a temporary file for the duration of `body`.
func withConfigFile<Result>(_ text: String, _ body: (String) async throws -> Result) async throws -> Result {
    let path = NSTemporaryDirectory() + "berth-\(UUID().uuidString).config"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

@Suite("berth check-config")
struct CheckConfigCommandTests {
    @Test("a good file prints the effective configuration and exits 0; warnings go to standard error")
    func goodFile() async throws {
        let text = """
            AWS_DEFAULT_REGION=us-east-1
            ECS_CLUSTER="prod"
            ECS_CONTAINER_STOP_TIMEOUT=30
            ECS_ENGINE_AUTH_TYPE=docker
            ECS_ENGINE_AUTH_DATA={"127.0.0.1:51671":{"username":"berth","password":"hunter2-secret"}}
            """
        try await withConfigFile(text) { path in
            let result = try await BerthProcess.run(
                ["check-config", "--config", path],
                environment: ["ECS_LOGLEVEL": "debug"]
            )
            #expect(result.status == 0)
            #expect(result.standardOutput.contains("\nECS_CLUSTER=prod "))
            #expect(result.standardOutput.contains("\nECS_LOGLEVEL=debug "))
            #expect(result.standardOutput.contains("# environment"))
            #expect(result.standardOutput.contains("ECS_ENGINE_AUTH_DATA=<redacted: credentials for 127.0.0.1:51671>"))
            #expect(
                result.standardError
                    == "warning: \(path):3: ECS_CONTAINER_STOP_TIMEOUT=\"30\": not a duration (write it with a unit, such as 30s); using the default 30s\n"
            )
            #expect(!(result.standardOutput + result.standardError).contains("hunter2-secret"))
        }
    }

    @Test("a bad file lists every error, naming key, value and line, and exits 5")
    func badFile() async throws {
        let text = """
            ECS_CLUSTER=my cluster
            ECS_ENGINE_AUTH_TYPE=docker
            ECS_ENGINE_AUTH_DATA={"127.0.0.1:51671":{"username":"berth","pasword":"hunter2-secret"}}
            ECS_LOGLEVEL=loud
            """
        try await withConfigFile(text) { path in
            let result = try await BerthProcess.run(["check-config", "--config", path])
            #expect(result.status == 5)
            #expect(result.standardOutput.isEmpty)
            let lines = result.standardError.split(separator: "\n").map(String.init)
            #expect(
                lines == [
                    "the configuration has 3 errors; Berth will not start with it",
                    "error: \(path):1: ECS_CLUSTER=\"my cluster\": cluster name 'my cluster' contains ' '; names use letters, digits, hyphens and underscores",
                    "error: \(path):3: ECS_ENGINE_AUTH_DATA: registry '127.0.0.1:51671' needs string username and password",
                    "warning: \(path):4: ECS_LOGLEVEL=\"loud\": not a level (debug, info, warn, error, crit); using the default info",
                    "error: AWS_DEFAULT_REGION: not set; Berth has no instance metadata service to learn the region from, so set it (such as us-east-1)",
                ]
            )
            #expect(!result.standardError.contains("hunter2-secret"))
        }
    }

    @Test("a file named with --config must exist")
    func missingFile() async throws {
        let result = try await BerthProcess.run(["check-config", "--config", "/nonexistent/ecs.config"])
        #expect(result.status == 5)
        #expect(result.standardError == "configuration file /nonexistent/ecs.config does not exist\n")
    }

    @Test("--docker reports an unreachable dockerd and exits 1")
    func dockerUnreachable() async throws {
        try await withConfigFile("AWS_DEFAULT_REGION=us-east-1\nDOCKER_HOST=unix:///nonexistent/docker.sock\n") {
            path in
            let result = try await BerthProcess.run(["check-config", "--config", path, "--docker"])
            #expect(result.status == 1)
            #expect(result.standardError.contains("cannot reach dockerd at unix:///nonexistent/docker.sock"))
        }
    }
}

@Suite("Child processes in tests")
struct ChildProcessTests {
    @Test("200 KB on standard error while standard output is still open: both are read, nothing deadlocks")
    func drainsBothPipes() async throws {
        let result = try await offThePool {
            try ChildProcess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "head -c 200000 /dev/zero >&2; echo out"])
        }
        #expect(result.status == 0)
        #expect(result.error.count == 200_000)
        #expect(result.standardOutput == "out\n")
    }
}
