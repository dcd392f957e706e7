/// Where a task is in its life, derived from its containers: the least advanced container's status, so a
/// task is RUNNING once all its containers have started (or run to completion), and STOPPED once all have
/// stopped. Statuses only move forward.
public enum TaskStatus: Int, Sendable, Hashable, Comparable, CaseIterable, Codable, CustomStringConvertible {
    case none = 0
    case pulled = 1
    case created = 2
    case running = 3
    case stopped = 4

    public init(_ container: ContainerStatus) {
        switch container {
        case .none: self = .none
        case .pulled: self = .pulled
        case .created: self = .created
        case .running: self = .running
        case .stopped: self = .stopped
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var backendStatus: BackendStatus { ContainerStatus(rawValue: rawValue).map(\.backendStatus) ?? .pending }

    public var name: String { ContainerStatus(rawValue: rawValue)?.name ?? "NONE" }

    public var description: String { name }

    public init(from decoder: any Decoder) throws {
        let container = try ContainerStatus(from: decoder)
        self.init(container)
    }

    public func encode(to encoder: any Encoder) throws {
        try ContainerStatus(rawValue: rawValue)?.encode(to: encoder)
    }
}

/// What the control plane wants of a task: RUNNING until it is stopped, then STOPPED for good.
public enum DesiredStatus: String, Sendable, Hashable, Comparable, CaseIterable, Codable, CustomStringConvertible {
    case running = "RUNNING"
    case stopped = "STOPPED"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs == .running && rhs == .stopped }

    public var description: String { rawValue }
}

/// Why a task stopped, in ECS's terms (`TaskStopCode`).
public enum TaskStopCode: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case taskFailedToStart = "TaskFailedToStart"
    case essentialContainerExited = "EssentialContainerExited"
    case userInitiated = "UserInitiated"
    case serviceSchedulerInitiated = "ServiceSchedulerInitiated"
    case spotInterruption = "SpotInterruption"
    case terminationNotice = "TerminationNotice"

    public var description: String { rawValue }
}

/// A container's or a task's health as Docker's health checks report it (`HealthStatus`).
public enum HealthStatus: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case healthy = "HEALTHY"
    case unhealthy = "UNHEALTHY"
    case unknown = "UNKNOWN"

    public var description: String { rawValue }
}
