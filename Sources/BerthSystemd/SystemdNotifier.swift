import CSystemd
import Foundation

/// What a service manager hears from Berth, and how often it wants to hear from it.
public protocol ServiceManagerNotifier: Sendable {
    /// Whether a service manager listens.
    var isEnabled: Bool { get }
    /// Sends `KEY=VALUE` lines; false when nothing listens or sending failed.
    @discardableResult
    func notify(_ lines: [String]) -> Bool
    /// The interval the manager expects WATCHDOG=1 within, or nil when it watches nothing.
    var watchdogInterval: Duration? { get }
}

extension ServiceManagerNotifier {
    @discardableResult
    public func notify(_ lines: String...) -> Bool { notify(lines) }
}

/// systemd's notification protocol through libsystemd: READY=1, STATUS=..., WATCHDOG=1, STOPPING=1 to the
/// socket in NOTIFY_SOCKET. Outside systemd (no NOTIFY_SOCKET) every call does nothing.
public struct SystemdNotifier: ServiceManagerNotifier {
    public init() {}

    /// Whether a service manager listens (NOTIFY_SOCKET is set).
    public var isEnabled: Bool { ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil }

    @discardableResult
    public func notify(_ lines: [String]) -> Bool {
        let state = lines.joined(separator: "\n")
        return sd_notify(0, state) > 0
    }

    /// The watchdog interval systemd expects pings within (WatchdogSec=, passed as WATCHDOG_USEC), or nil.
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }
}
