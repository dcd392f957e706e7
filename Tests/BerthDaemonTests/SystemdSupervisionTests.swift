import BerthSystemd
import BerthTestSupport
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import BerthDaemon

/// A service manager that records what it hears, with a short watchdog interval.
final class RecordingNotifier: ServiceManagerNotifier {
    let watchdogInterval: Duration?
    private let heard = Mutex<[(line: String, at: ContinuousClock.Instant)]>([])

    init(watchdogInterval: Duration) {
        self.watchdogInterval = watchdogInterval
    }

    var isEnabled: Bool { true }

    func notify(_ lines: [String]) -> Bool {
        heard.withLock { heard in heard.append(contentsOf: lines.map { ($0, .now) }) }
        return true
    }

    func count(_ line: String) -> Int { heard.withLock { $0.filter { $0.line == line }.count } }

    func last(_ line: String) -> ContinuousClock.Instant? { heard.withLock { $0.last { $0.line == line }?.at } }
}

/// A log handler that keeps the messages it is given in a ``LogRecord``.
struct CountingLogHandler: LogHandler {
    let record: LogRecord
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        record.messages.withLock { $0.append(event.message.description) }
    }
}

/// The messages a logger was given.
final class LogRecord: Sendable {
    let messages = Mutex<[String]>([])

    var logger: Logger { Logger(label: "test") { _ in CountingLogHandler(record: self) } }

    func count(_ message: String) -> Int { messages.withLock { $0.filter { $0 == message }.count } }
}

@Suite("systemd supervision")
struct SystemdSupervisionTests {
    @Test("WATCHDOG=1 comes while the engine answers its probe and stops once the probe hangs")
    func stuckEngineStopsThePings() async throws {
        let notifier = RecordingNotifier(watchdogInterval: .milliseconds(800))
        let log = LogRecord()
        let supervision = SystemdSupervision(notifier: notifier, listeners: 1, logger: log.logger)
        // The probe answers until `stuck`, then never again (as an engine actor stuck in a call would).
        let stuck = Mutex(false)
        let hung = Mutex<[CheckedContinuation<Void, Never>]>([])
        let running = Task { try await supervision.run() }
        supervision.apiListening()
        supervision.serving {
            if stuck.withLock({ $0 }) {
                await withCheckedContinuation { continuation in hung.withLock { $0.append(continuation) } }
            }
            return "1 task(s) running"
        }

        // Under load the first pings may take a while: wait for them rather than for a fixed time.
        try await waitUntil("three watchdog pings") { notifier.count("WATCHDOG=1") >= 3 }
        #expect(notifier.count("READY=1") == 1)

        stuck.withLock { $0 = true }
        // From the moment a probe hangs, the last answer only ages: past half the interval the ping loop
        // skips, and from its first skip on it sends nothing (it logs each skip, which the test waits for).
        // Skips are counted from the hang on: under load a probe that began before `stuck` may come back
        // late, after a skip, and rightly bring one more ping.
        try await waitUntil("a probe hangs") { !hung.withLock { $0.isEmpty } }
        #expect(!hung.withLock { $0.isEmpty }, "no probe hung")
        let skipped = "the engine does not answer; not feeding systemd's watchdog"
        let skipsBeforeHang = log.count(skipped)
        try await waitUntil("a ping skipped") { log.count(skipped) >= skipsBeforeHang + 1 }
        let afterStall = notifier.count("WATCHDOG=1")
        try await waitUntil("three pings skipped") { log.count(skipped) >= skipsBeforeHang + 3 }
        #expect(log.count(skipped) >= skipsBeforeHang + 3, "the ping loop did not go on")
        #expect(notifier.count("WATCHDOG=1") == afterStall, "pings went on with the engine stuck")

        // The engine answers again: the pings come back.
        stuck.withLock { $0 = false }
        for continuation in hung.withLock({ $0 }) { continuation.resume() }
        try await waitUntil("pings again") { notifier.count("WATCHDOG=1") > afterStall }
        #expect(notifier.count("WATCHDOG=1") > afterStall, "pings did not come back")

        running.cancel()
        _ = try? await running.value
    }
}
