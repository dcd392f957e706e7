/// A finding about the configuration: a warning Berth recovered from, or an error that stops it.
public struct ConfigurationDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        /// Berth fell back to a default or clamped the value, and runs.
        case warning
        /// Berth refuses to start (exit code 5, as the ECS agent's terminal errors).
        case error
    }

    public let severity: Severity
    /// The key concerned, when there is one (a malformed line has none).
    public let key: String?
    /// Where the offending value came from.
    public let origin: ValueOrigin?
    /// The offending value as written, or nil when it is a secret or there is none.
    public let value: String?
    public let message: String

    public init(severity: Severity, key: String?, origin: ValueOrigin?, value: String?, message: String) {
        self.severity = severity
        self.key = key
        self.origin = origin
        self.value = value
        self.message = message
    }

    /// One line: `warning: /etc/ecs/ecs.config:4: ECS_CONTAINER_STOP_TIMEOUT="30": <message>`.
    public var description: String {
        var text = "\(severity.rawValue): "
        if let origin, origin != .default { text += "\(origin): " }
        if let key {
            text += key
            if let value { text += "=\"\(value)\"" }
            text += ": "
        }
        return text + message
    }
}
