import BerthTestSupport
import Foundation
import Synchronization
import Testing

/// `berth agent` with standard error connected to the journal, as systemd starts it: entries arrive through
/// libsystemd's native protocol at the journal's socket, which the test owns in a mount namespace of the
/// agent's own.
@Suite("berth under systemd: structured entries in the journal")
struct JournalTests {
    /// The journal's native protocol: `NAME=value\n`, or `NAME\n`, a 64-bit little-endian length, the value
    /// and `\n` for values with newlines.
    static func entry(_ datagram: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        var index = 0
        while index < datagram.count {
            guard let newline = datagram[index...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            let line = datagram[index..<newline]
            if let equals = line.firstIndex(of: UInt8(ascii: "=")) {
                fields[String(decoding: line[..<equals], as: UTF8.self)] = String(
                    decoding: line[(equals + 1)...],
                    as: UTF8.self
                )
                index = newline + 1
            } else {
                let start = newline + 1
                guard start + 8 <= datagram.count else { break }
                let length = datagram[start..<start + 8].reversed().reduce(0) { $0 << 8 | Int($1) }
                let value = datagram[(start + 8)..<min(datagram.count, start + 8 + length)]
                fields[String(decoding: line, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
                index = start + 8 + length + 1
            }
        }
        return fields
    }

    /// Runs its arguments with /run/systemd/journal replaced by `directory` in a new mount namespace and with
    /// JOURNAL_STREAM naming standard error, as systemd sets it.
    static func launcher(journalDirectory directory: String) -> [String] {
        let script = """
            directory="$1"; shift
            mkdir -p /run/systemd/journal && mount --bind "$directory" /run/systemd/journal || exit 97
            JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) || exit 98
            export JOURNAL_STREAM
            exec "$@"
            """
        return ["/usr/bin/unshare", "--mount", "/bin/sh", "-c", script, "journal-launcher", directory]
    }

    @Test(
        "entries carry the message, the priority from the level, the code location and task, container and docker id fields; none below ECS_LOGLEVEL; nothing on standard error"
    )
    func structuredEntries() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "berth-journal-\(UUID().uuidString.prefix(8))"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let socket = try DatagramSocket(path: directory.appendingPathComponent("socket").path)
        defer { socket.close() }
        let done = Mutex(false)
        let listener = Task { try await socket.listen { done.withLock { $0 } } }
        defer { done.withLock { $0 = true } }

        let cluster = "journal-\(UUID().uuidString.prefix(8).lowercased())"
        try await BerthAgentProcess.withAgent(
            cluster: cluster,
            launcher: Self.launcher(journalDirectory: directory.path),
            diagnostics: "\njournal: \(socket.messages.suffix(20))"
        ) { agent in
            let definition =
                #"{"family":"journal","containerDefinitions":[{"name":"app","image":"\#(TestEnvironment.localImage)","memory":8,"command":["sleep","3600"],"stopTimeout":1}]}"#
            #expect(try await ECSCall.post(agent.endpoint, "RegisterTaskDefinition", definition).0 == 200)
            let arn = try await agent.runTask(cluster: cluster, taskDefinition: "journal")
            let task = try await agent.waitForTask(arn, cluster: cluster, status: "RUNNING")
            let dockerID = try #require((task["containers"] as? [[String: Any]])?.first?["runtimeId"] as? String)

            let started = {
                socket.datagrams.map(Self.entry).first { $0["MESSAGE"]?.hasPrefix("Started container") == true }
            }
            try await socket.wait { started() != nil }
            let entry = try #require(started(), "no entry for the started container: \(socket.messages)")
            #expect(entry["PRIORITY"] == "6")
            #expect(entry["SYSLOG_IDENTIFIER"] == "berth")
            #expect(entry["TASK_ARN"] == arn)
            #expect(entry["CONTAINER"] == "app")
            #expect(entry["DOCKER_ID"] == dockerID)
            #expect(entry["CODE_FILE"]?.hasSuffix(".swift") == true)
            #expect(Int(entry["CODE_LINE"] ?? "") != nil)
            // The plain view (`journalctl` without fields) still reads whole.
            #expect(entry["MESSAGE"]?.contains("docker.id=\(dockerID)") == true)

            let entries = socket.datagrams.map(Self.entry)
            #expect(entries.contains { $0["MESSAGE"]?.hasPrefix("Registered") == true && $0["PRIORITY"] == "6" })
            // ECS_LOGLEVEL=info: nothing at debug (7) reaches the journal.
            #expect(entries.allSatisfy { Int($0["PRIORITY"] ?? "") ?? 9 <= 6 }, "\(entries.map { $0["PRIORITY"] })")
            #expect(!agent.logText.contains("Started container"), "log lines on standard error: \(agent.logText)")
        }
        done.withLock { $0 = true }
        _ = try? await listener.value
    }
}
