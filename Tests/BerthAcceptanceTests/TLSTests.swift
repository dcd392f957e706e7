import BerthTestSupport
import Foundation
import Testing

/// The ECS API over TLS: what a control plane that agents and operators reach across a network serves.
@Suite("berth control-plane over TLS")
struct TLSTests {
    /// A directory with a self-signed certificate for 127.0.0.1 (`cert.pem`, `key.pem`) and another key
    /// (`other-key.pem`).
    static func certificates() async throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let openssl = URL(fileURLWithPath: "/usr/bin/openssl")
        for arguments in [
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", directory.appendingPathComponent("key.pem").path,
                "-out", directory.appendingPathComponent("cert.pem").path,
            ],
            ["genrsa", "-out", directory.appendingPathComponent("other-key.pem").path, "2048"],
        ] {
            let made = try await offThePool { try ChildProcess.run(openssl, arguments) }
            #expect(made.status == 0, "openssl \(arguments[0]): \(made.standardError)")
        }
        return directory
    }

    static func configuration(_ directory: URL, port: Int, key: String = "key.pem") throws -> URL {
        let file = directory.appendingPathComponent("ecs.config")
        try """
        AWS_DEFAULT_REGION=us-east-1
        ECS_DATADIR=\(directory.path)/data
        BERTH_API_LISTEN=127.0.0.1:\(port)
        BERTH_TLS_CERTIFICATE=\(directory.appendingPathComponent("cert.pem").path)
        BERTH_TLS_KEY=\(directory.appendingPathComponent(key).path)
        """.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test("with BERTH_TLS_CERTIFICATE and BERTH_TLS_KEY the aws CLI speaks https to the API; plain http gets nothing")
    func apiOverTLS() async throws {
        let directory = try await Self.certificates()
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try TestPorts.free()
        let process = Process()
        process.executableURL = BerthAgentProcess.binary
        process.arguments = ["control-plane", "--config", try Self.configuration(directory, port: port).path]
        process.environment = ["PATH": "/usr/bin:/bin"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        do {
            try await Self.checkAPIOverTLS(directory: directory, port: port, process: process)
        } catch {
            await Self.stop(process)
            throw error
        }
        await Self.stop(process)
    }

    static func stop(_ process: Process) async {
        process.terminate()
        _ = try? await offThePool { process.waitUntilExit() }
    }

    static func checkAPIOverTLS(directory: URL, port: Int, process: Process) async throws {
        let endpoint = "https://127.0.0.1:\(port)"
        let bundle = ["--ca-bundle", directory.appendingPathComponent("cert.pem").path]
        let clock = ContinuousClock()
        let deadline = clock.now + TestEnvironment.loadedWait
        var answered = false
        while !answered, clock.now < deadline, process.isRunning {
            answered = try await AWSCLI.run(["ecs", "list-clusters"] + bundle, endpoint: endpoint).status == 0
            if !answered { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(answered, "the API did not answer over https")
        let created = try await AWSCLI.run(
            ["ecs", "create-cluster", "--cluster-name", "tls"] + bundle,
            endpoint: endpoint
        )
        #expect(created.status == 0, "\(created.error)")
        #expect(created.output.contains("\"ACTIVE\""))
        // Not to a client that does not trust the certificate, and not in plain http.
        let untrusted = try await AWSCLI.run(["ecs", "list-clusters"], endpoint: endpoint)
        #expect(untrusted.status != 0)
        #expect(untrusted.error.contains("SSL") || untrusted.error.contains("certificate"), "\(untrusted.error)")
        let plain = try await AWSCLI.run(["ecs", "list-clusters"], endpoint: "http://127.0.0.1:\(port)")
        #expect(plain.status != 0)
    }

    @Test("a key that is not the certificate's is refused at start (exit 5), naming BERTH_TLS_KEY")
    func mismatchedKeyRefused() async throws {
        let directory = try await Self.certificates()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try Self.configuration(directory, port: try TestPorts.free(), key: "other-key.pem")
        // Bounded: a server that started anyway would otherwise never exit.
        let run = try await offThePool {
            try ChildProcess.run(
                URL(fileURLWithPath: "/usr/bin/timeout"),
                ["60", BerthAgentProcess.binary.path, "control-plane", "--config", file.path],
                environment: ["PATH": "/usr/bin:/bin"]
            )
        }
        #expect(run.status == 5, "exit \(run.status): \(run.standardError)")
        #expect((run.standardError + run.standardOutput).contains("BERTH_TLS_KEY="))
    }
}
