/// `ECS_LOGLEVEL`: the least severe messages Berth logs.
public enum LogLevel: String, Sendable, Hashable, CaseIterable {
    case debug
    case info
    case warn
    case error
    case crit
}
