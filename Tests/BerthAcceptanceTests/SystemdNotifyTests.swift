import BerthTestSupport
import Foundation
import Synchronization
import Testing

/// What systemd hears from `berth agent`, through a notification socket of the test's own, and the unit
/// file as systemd reads it.
@Suite("berth under systemd: the unit and the notification protocol")
struct SystemdNotifyTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(
        "READY=1 only once the API answers with the instance registered; WATCHDOG=1 keeps coming; STOPPING=1 on SIGTERM"
    )
    func notifications() async throws {
        let socket = try DatagramSocket()
        defer { socket.close() }
        let done = Mutex(false)
        let listener = Task { try await socket.listen { done.withLock { $0 } } }
        defer { done.withLock { $0 = true } }

        let cluster = "systemd-\(UUID().uuidString.prefix(8).lowercased())"
        let agent = try BerthAgentProcess(
            cluster: cluster,
            environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "2000000"]
        )
        defer { agent.removeDirectory() }
        // Ask the API the moment READY=1 arrives: it must already answer, with this host registered.
        let ready = try await socket.wait { socket.first(containing: "READY=1") != nil }
        #expect(ready, "READY=1 never came: \(socket.messages)")
        let (status, data) = try await ECSCall.post(
            agent.endpoint,
            "ListContainerInstances",
            #"{"cluster":"\#(cluster)"}"#
        )
        #expect(status == 200)
        #expect(String(decoding: data, as: UTF8.self).contains("container-instance/\(cluster)/"))
        #expect(socket.messages.contains { $0.hasPrefix("STATUS=starting") })

        // WatchdogSec=2s: pings keep coming while the engine answers (waited for, not timed: CI is loaded).
        let pings = { socket.messages.filter { $0 == "WATCHDOG=1" }.count }
        #expect(try await socket.wait { pings() >= 3 }, "watchdog pings: \(pings())")
        #expect(try await socket.wait { socket.messages.contains { $0.contains("STATUS=0 task(s) running") } })

        #expect(await agent.terminate() == 0)
        let stopping = try await socket.wait { socket.messages.contains { $0.hasPrefix("STOPPING=1") } }
        #expect(stopping, "\(socket.messages)")
        done.withLock { $0 = true }
        _ = try? await listener.value
    }

    @Test("the unit passes systemd-analyze verify")
    func unitFile() async throws {
        let unit = try String(
            contentsOf: Self.repository.appendingPathComponent("systemd/berth.service"),
            encoding: .utf8
        )
        for line in [
            "Type=notify", "NotifyAccess=main", "Restart=on-failure", "RestartPreventExitStatus=5",
            "After=docker.service",
            "Wants=docker.service", "WatchdogSec=",
        ] {
            #expect(unit.contains(line), "the unit should say \(line)")
        }
        #expect(
            !unit.split(separator: "\n").contains { $0.hasPrefix("EnvironmentFile=") },
            "Berth reads ecs.config itself"
        )
        // Verified as installed, with ExecStart pointing at this build's binary.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let installed = directory.appendingPathComponent("berth.service")
        try unit.replacingOccurrences(of: "/usr/bin/berth", with: BerthAgentProcess.binary.path)
            .write(to: installed, atomically: true, encoding: .utf8)
        let result = try await offThePool { () throws -> (Int32, String) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
            process.arguments = ["verify", installed.path]
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = errors
            try process.run()
            let output = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: output, as: UTF8.self))
        }
        #expect(result.0 == 0, "systemd-analyze verify: \(result.1)")
    }
}
