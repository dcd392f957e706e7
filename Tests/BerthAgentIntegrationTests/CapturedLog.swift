import Foundation
import Logging
import Synchronization

/// The agents' log lines of this test process, the latest kept in memory: a wait that runs out shows those
/// of its task, so a failure under CI's load can be read from CI's output alone. With BERTH_TEST_LOG set,
/// every line (debug included) is printed as well.
struct CapturedLog: LogHandler {
    private static let kept = 4000
    private static let lines = Mutex<[String]>([])

    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    let printing: Bool

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let time = Date().formatted(.iso8601.time(includingFractionalSeconds: true))
        let text = "\(time) \(event.level) \(event.message) \(fields)"
        Self.lines.withLock { lines in
            lines.append(text)
            if lines.count > Self.kept { lines.removeFirst(lines.count - Self.kept) }
        }
        if printing { print(text) }
    }

    /// The kept lines that mention `text` (a task ARN, a container ID), oldest first.
    static func lines(mentioning text: String) -> [String] {
        lines.withLock { $0.filter { $0.contains(text) } }
    }
}
