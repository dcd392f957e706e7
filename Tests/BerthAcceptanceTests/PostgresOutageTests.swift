import BerthTestSupport
import Foundation
import Synchronization
import Testing

/// `berth control-plane` on PostgreSQL while the database goes away and comes back.
@Suite("berth control-plane on PostgreSQL: the database goes away and comes back")
struct PostgresOutageTests {
    /// What the writers saw, shared between them.
    final class Ledger: Sendable {
        let state = Mutex(Outcomes())
    }

    /// What the writers saw.
    struct Outcomes: Sendable {
        var acknowledged = ControlPlaneDurabilityTests.Acknowledged()
        var acknowledgedAfterRestart = 0
        var serverExceptions = 0
        var otherAnswers: [String] = []
        var databaseBack = false
    }

    @Test(
        "PostgreSQL crashes (immediate stop) under a burst of writes and starts again: meanwhile writes get ServerException (retryable), never another answer; the control plane resumes by itself; nothing acknowledged is lost"
    )
    func outage() async throws {
        let server = try await PrivatePostgresServer.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "berth-pg-outage-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try TestPorts.free()
        let configuration = server.configurationLine
        var processes: [ControlPlaneDurabilityTests.ControlPlaneProcess] = []
        do {
            let first = try ControlPlaneDurabilityTests.ControlPlaneProcess(
                directory: directory,
                port: port,
                extraConfiguration: configuration
            )
            processes.append(first)
            try await first.waitUntilAnswering()

            let ledger = Ledger()
            let writers = Task {
                await withTaskGroup(of: Void.self) { group in
                    for writer in 0..<4 {
                        group.addTask {
                            var index = 0
                            while !Task.isCancelled {
                                index += 1
                                let body =
                                    #"{"family":"o\#(writer)","containerDefinitions":[{"name":"a","image":"busybox","memory":\#(index + 6)}]}"#
                                guard
                                    let (status, data) = try? await ECSCall.post(
                                        first.endpoint,
                                        "RegisterTaskDefinition",
                                        body,
                                        timeout: 60
                                    )
                                else { continue }
                                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
                                let arn = (object?["taskDefinition"] as? [String: Any])?["taskDefinitionArn"] as? String
                                ledger.state.withLock { seen in
                                    if status == 200, let arn {
                                        seen.acknowledged.taskDefinitions[arn] = index + 6
                                        if seen.databaseBack { seen.acknowledgedAfterRestart += 1 }
                                    } else if status == 500, object?["__type"] as? String == "ServerException" {
                                        seen.serverExceptions += 1
                                    } else {
                                        seen.otherAnswers.append("\(status) \(String(decoding: data, as: UTF8.self))")
                                    }
                                }
                            }
                        }
                    }
                }
            }
            try await waitUntil("writes are acknowledged") {
                ledger.state.withLock { $0.acknowledged.taskDefinitions.count >= 10 }
            }
            try await server.stop(immediately: true)
            try await waitUntil("a write meets the outage and is answered ServerException") {
                ledger.state.withLock { $0.serverExceptions > 0 }
            }
            try await server.start()
            ledger.state.withLock { $0.databaseBack = true }
            try await waitUntil("writes are acknowledged again, without restarting the control plane") {
                ledger.state.withLock { $0.acknowledgedAfterRestart >= 5 }
            }
            writers.cancel()
            await writers.value
            let seen = ledger.state.withLock { $0 }
            #expect(seen.otherAnswers.isEmpty, "\(seen.otherAnswers.prefix(3))")

            // Everything acknowledged, before, during and after the outage, is in the database: a new control
            // plane process finds it all.
            await first.kill()
            let second = try ControlPlaneDurabilityTests.ControlPlaneProcess(
                directory: directory,
                port: port,
                extraConfiguration: configuration
            )
            processes.append(second)
            try await ControlPlaneDurabilityTests.verify(seen.acknowledged, on: second)
        } catch {
            for process in processes { await process.kill() }
            await server.remove()
            throw error
        }
        for process in processes { await process.kill() }
        await server.remove()
    }
}
