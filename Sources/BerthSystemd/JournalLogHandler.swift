public import Logging

/// A swift-log handler writing structured entries to systemd's journal: the message, its priority, where it
/// was logged, and every metadata key as a field of its own (`task.arn` → TASK_ARN, `docker.id` → DOCKER_ID),
/// so that `journalctl TASK_ARN=...` finds a task's lines. The message also carries the metadata as
/// `key=value` pairs, for readers of the plain `journalctl` view.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let identifier: String
    private let send: @Sendable ([String]) -> Void

    /// `identifier` becomes SYSLOG_IDENTIFIER; `send` defaults to the journal itself (tests record instead).
    public init(
        label: String,
        identifier: String = "berth",
        logLevel: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = nil,
        send: @escaping @Sendable ([String]) -> Void = { Journal.send($0) }
    ) {
        self.label = label
        self.identifier = identifier
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
        self.send = send
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let given = event.metadata { merged.merge(given) { $1 } }
        send(Self.fields(event, metadata: merged, label: label, identifier: identifier))
    }

    /// The entry's fields, in the order they are sent.
    public static func fields(
        _ event: LogEvent,
        metadata: Logger.Metadata,
        label: String,
        identifier: String
    )
        -> [String]
    {
        let pairs = metadata.sorted { $0.key < $1.key }
        var message = event.message.description
        if let error = event.error { message += " error=\(error)" }
        for (key, value) in pairs { message += " \(key)=\(value)" }
        var fields = [
            "MESSAGE=\(message)",
            "PRIORITY=\(priority(event.level))",
            "SYSLOG_IDENTIFIER=\(identifier)",
            "LOGGER=\(label)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        if let error = event.error { fields.append("ERROR=\(error)") }
        for (key, value) in pairs { fields.append("\(fieldName(key))=\(value)") }
        return fields
    }

    /// syslog priorities, as journald files them: 7 debug … 2 critical.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Fields the handler writes itself, and journald's own, which metadata must not overwrite.
    private static let reserved: Set<String> = [
        "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "LOGGER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "ERROR",
        "MESSAGE_ID", "SYSLOG_FACILITY", "SYSLOG_PID", "SYSLOG_TIMESTAMP",
    ]

    /// A journal field name for a metadata key: upper-case letters, digits and underscores, not starting
    /// with an underscore or a digit (journald drops such fields), at most 64 characters; names the handler
    /// uses itself get a `BERTH_` prefix.
    public static func fieldName(_ key: String) -> String {
        var name = String(
            key.uppercased().unicodeScalars.map { scalar -> Character in
                ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) ? Character(scalar) : "_"
            }
        )
        if name.isEmpty || name.first == "_" || name.first?.isNumber == true || reserved.contains(name) {
            name = "BERTH_" + name
        }
        return String(name.prefix(64))
    }
}
