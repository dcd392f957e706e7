import AsyncHTTPClient
import BerthTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Every API write acknowledged to a client survives `kill -9` of `berth control-plane` at any moment.
@Suite("berth control-plane: acknowledged writes survive kill -9")
struct ControlPlaneDurabilityTests {
    /// `berth control-plane` on its own data directory and port.
    final class ControlPlaneProcess: Sendable {
        let process: Process
        let endpoint: String

        /// `extraConfiguration` adds lines to its configuration (BERTH_DATABASE_URL: the state in PostgreSQL
        /// rather than SQLite under the data directory).
        init(directory: URL, port: Int, extraConfiguration: String = "") throws {
            endpoint = "http://127.0.0.1:\(port)"
            let file = directory.appendingPathComponent("ecs.config")
            try """
            AWS_DEFAULT_REGION=us-east-1
            ECS_DATADIR=\(directory.path)/data
            BERTH_API_LISTEN=127.0.0.1:\(port)
            ECS_LOGLEVEL=warn
            \(extraConfiguration)
            """.write(to: file, atomically: true, encoding: .utf8)
            process = Process()
            process.executableURL = BerthAgentProcess.binary
            process.arguments = ["control-plane", "--config", file.path]
            process.environment = ["PATH": "/usr/bin:/bin"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        func waitUntilAnswering() async throws {
            let clock = ContinuousClock()
            let deadline = clock.now + TestEnvironment.loadedWait
            while clock.now < deadline {
                if let (status, _) = try? await ECSCall.post(endpoint, "ListClusters", "{}"), status == 200 { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw WaitTimeout("berth control-plane did not answer")
        }

        func kill() async {
            Foundation.kill(process.processIdentifier, SIGKILL)
            let process = self.process
            _ = try? await offThePool { process.waitUntilExit() }
        }
    }

    /// What the workers were told was done, shared between them.
    final class Ledger: Sendable {
        let state = Mutex(Acknowledged())
    }

    /// What a worker was told was done.
    struct Acknowledged: Sendable {
        var clusters: [String] = []
        var taskDefinitions: [String: Int] = [:]
    }

    @Test(
        "a burst of writes, SIGKILL at a random moment, restart: every acknowledged write is there (SQLite, and PostgreSQL)",
        arguments: zip([false, false, false, false, true, true], [0, 1, 2, 3, 4, 5])
    )
    func killDuringBurst(postgres: Bool, trial: Int) async throws {
        let database = postgres ? try await TestDatabase.create() : nil
        do {
            try await Self.burst(trial: trial, database: database)
        } catch {
            await database?.drop()
            throw error
        }
        await database?.drop()
    }

    static func burst(trial: Int, database: TestDatabase?) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "berth-durability-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try TestPorts.free()
        let first = try ControlPlaneProcess(
            directory: directory,
            port: port,
            extraConfiguration: database?.configurationLine ?? ""
        )
        try await first.waitUntilAnswering()

        let acknowledged = Ledger()
        let workers = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        var index = 0
                        while !Task.isCancelled {
                            index += 1
                            if index % 3 == 0 {
                                let name = "c\(trial)-\(worker)-\(index)"
                                guard
                                    let (status, _) = try? await ECSCall.post(
                                        first.endpoint,
                                        "CreateCluster",
                                        #"{"clusterName":"\#(name)"}"#
                                    )
                                else { return }
                                if status == 200 { acknowledged.state.withLock { $0.clusters.append(name) } }
                            } else {
                                let body =
                                    #"{"family":"f\#(worker)","containerDefinitions":[{"name":"a","image":"busybox","memory":\#(index + 6)}]}"#
                                guard
                                    let (status, data) = try? await ECSCall.post(
                                        first.endpoint,
                                        "RegisterTaskDefinition",
                                        body
                                    )
                                else { return }
                                guard status == 200,
                                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                                    let definition = object["taskDefinition"] as? [String: Any],
                                    let arn = definition["taskDefinitionArn"] as? String
                                else { continue }
                                acknowledged.state.withLock { $0.taskDefinitions[arn] = index + 6 }
                            }
                        }
                    }
                }
            }
        }
        // The kill comes at a random moment once writes are flowing, however slow the machine is today.
        let clock = ContinuousClock()
        let flowing = clock.now + TestEnvironment.loadedWait
        while acknowledged.state.withLock({ $0.taskDefinitions.count }) < 5, clock.now < flowing {
            try await Task.sleep(for: .milliseconds(10))
        }
        var random = SeededRandom.make("SIGKILL of durability trial \(trial)")
        try await Task.sleep(for: .milliseconds(Int.random(in: 0...600, using: &random)))
        await first.kill()
        workers.cancel()
        await workers.value
        let written = acknowledged.state.withLock { $0 }
        #expect(!written.taskDefinitions.isEmpty, "the burst wrote something before the kill")

        let second = try ControlPlaneProcess(
            directory: directory,
            port: port,
            extraConfiguration: database?.configurationLine ?? ""
        )
        do {
            try await Self.verify(written, on: second)
        } catch {
            await second.kill()
            throw error
        }
        await second.kill()
        // With a database, nothing went to SQLite.
        let sqlite = directory.appendingPathComponent("data/control-plane.db").path
        #expect(FileManager.default.fileExists(atPath: sqlite) == (database == nil))
    }

    /// Every acknowledged write is there after the restart, as it was acknowledged.
    static func verify(_ written: Acknowledged, on second: ControlPlaneProcess) async throws {
        try await second.waitUntilAnswering()
        for (arn, memory) in written.taskDefinitions {
            let (status, data) = try await ECSCall.post(
                second.endpoint,
                "DescribeTaskDefinition",
                #"{"taskDefinition":"\#(arn)"}"#
            )
            #expect(status == 200, "\(arn) was acknowledged and is gone")
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            let definition = object?["taskDefinition"] as? [String: Any]
            let containers = definition?["containerDefinitions"] as? [[String: Any]]
            #expect(containers?.first?["memory"] as? Int == memory, "\(arn) came back different")
        }
        for batch in stride(from: 0, to: written.clusters.count, by: 100) {
            let names = written.clusters[batch..<min(batch + 100, written.clusters.count)]
            let body = try JSONSerialization.data(withJSONObject: ["clusters": Array(names)])
            let (status, data) = try await ECSCall.post(
                second.endpoint,
                "DescribeClusters",
                String(decoding: body, as: UTF8.self)
            )
            #expect(status == 200)
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            #expect(
                (object?["failures"] as? [Any])?.isEmpty == true,
                "acknowledged clusters are missing: \(object ?? [:])"
            )
        }
        // Revisions of a family stay gapless and unique after the crash: the next one follows the last.
        let (status, data) = try await ECSCall.post(
            second.endpoint,
            "RegisterTaskDefinition",
            #"{"family":"f0","containerDefinitions":[{"name":"a","image":"busybox","memory":8}]}"#
        )
        #expect(status == 200)
        let next = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let revision = (next?["taskDefinition"] as? [String: Any])?["revision"] as? Int ?? 0
        let acknowledgedRevisions = written.taskDefinitions.keys.filter { $0.contains("/f0:") }
            .compactMap { $0.split(separator: ":").last.flatMap { Int($0) } }
        #expect(revision > (acknowledgedRevisions.max() ?? 0))
    }
}

/// One ECS JSON 1.1 call over HTTP.
enum ECSCall {
    static func post(
        _ endpoint: String,
        _ operation: String,
        _ body: String,
        timeout: Int64 = 10
    ) async throws -> (Int, Data) {
        var request = HTTPClientRequest(url: endpoint + "/")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-amz-json-1.1")
        request.headers.add(name: "X-Amz-Target", value: "AmazonEC2ContainerServiceV20141113.\(operation)")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout))
        let buffer = try await response.body.collect(upTo: 1 << 22)
        return (Int(response.status.code), Data(buffer.readableBytesView))
    }
}
