import BerthSystemd
import Foundation
import Logging
import Synchronization
import Testing

@Suite("the journal log handler")
struct JournalLogHandlerTests {
    @Test(
        "metadata keys become journal field names",
        arguments: [
            ("task.arn", "TASK_ARN"), ("docker.id", "DOCKER_ID"), ("container", "CONTAINER"),
            ("requestId", "REQUESTID"), ("_private", "BERTH__PRIVATE"), ("9lives", "BERTH_9LIVES"),
            ("message", "BERTH_MESSAGE"), ("priority", "BERTH_PRIORITY"), ("ünïcode-key", "BERTH__N_CODE_KEY"),
            ("", "BERTH_"),
        ]
    )
    func fieldNames(key: String, field: String) {
        #expect(JournalLogHandler.fieldName(key) == field)
    }

    @Test("a field name never exceeds 64 characters")
    func longNames() {
        #expect(JournalLogHandler.fieldName(String(repeating: "a", count: 100)).count == 64)
    }

    @Test("levels map to syslog priorities")
    func priorities() {
        let expected: [Logger.Level: Int] = [
            .trace: 7, .debug: 7, .info: 6, .notice: 5, .warning: 4, .error: 3, .critical: 2,
        ]
        for (level, priority) in expected { #expect(JournalLogHandler.priority(level) == priority) }
    }

    @Test("an entry: message with its metadata, priority, identifier, code location; the event's metadata wins")
    func entry() {
        let sent = Mutex<[[String]]>([])
        var logger = Logger(label: "berth.test") { label in
            JournalLogHandler(label: label, logLevel: .info) { fields in sent.withLock { $0.append(fields) } }
        }
        logger[metadataKey: "task.arn"] = "arn:aws:ecs:us-east-1:1:task/c/t"
        logger[metadataKey: "container"] = "from-handler"
        logger.debug("not at info")
        logger.warning("Stop failed", metadata: ["container": "web", "docker.id": "abc"])
        let entries = sent.withLock { $0 }
        #expect(entries.count == 1)
        let fields = entries.first ?? []
        #expect(
            fields.first == "MESSAGE=Stop failed container=web docker.id=abc task.arn=arn:aws:ecs:us-east-1:1:task/c/t"
        )
        #expect(fields.contains("PRIORITY=4"))
        #expect(fields.contains("SYSLOG_IDENTIFIER=berth"))
        #expect(fields.contains("LOGGER=berth.test"))
        #expect(fields.contains { $0.hasPrefix("CODE_FILE=") && $0.hasSuffix("JournalLogHandlerTests.swift") })
        #expect(fields.contains { $0.hasPrefix("CODE_LINE=") })
        #expect(fields.contains("CONTAINER=web"))
        #expect(fields.contains("DOCKER_ID=abc"))
        #expect(fields.contains("TASK_ARN=arn:aws:ecs:us-east-1:1:task/c/t"))
    }

    @Test("standard error is the journal's only when JOURNAL_STREAM names its device and inode")
    func journalStream() {
        var status = stat()
        #expect(fstat(STDERR_FILENO, &status) == 0)
        #expect(Journal.isStandardErrorConnected(journalStream: "\(status.st_dev):\(status.st_ino)"))
        #expect(!Journal.isStandardErrorConnected(journalStream: "\(status.st_dev):\(status.st_ino + 1)"))
        #expect(!Journal.isStandardErrorConnected(journalStream: "not-a-stream"))
        #expect(!Journal.isStandardErrorConnected(journalStream: ""))
    }
}
