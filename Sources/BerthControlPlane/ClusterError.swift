/// Why the control plane refused or failed an operation. Each code is one of the ECS API's exceptions;
/// BerthAPI turns them into `{"__type","message"}` answers in one place.
public struct ClusterError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        case client = "ClientException"
        case invalidParameter = "InvalidParameterException"
        case clusterNotFound = "ClusterNotFoundException"
        case clusterContainsContainerInstances = "ClusterContainsContainerInstancesException"
        case clusterContainsTasks = "ClusterContainsTasksException"
        case clusterContainsServices = "ClusterContainsServicesException"
        case targetNotFound = "TargetNotFoundException"
        case attributeLimitExceeded = "AttributeLimitExceededException"
        case resourceNotFound = "ResourceNotFoundException"
        case conflict = "ConflictException"
        case serviceNotFound = "ServiceNotFoundException"
        case serviceNotActive = "ServiceNotActiveException"
        case limitExceeded = "LimitExceededException"
        /// The caller may not act on the resource: another key registered the container instance.
        case accessDenied = "AccessDeniedException"
        /// A real fault: the store failed. The only code answered with 500, which clients retry.
        case server = "ServerException"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    static func clusterNotFound() -> ClusterError { ClusterError(.clusterNotFound, "Cluster not found.") }
    static func invalid(_ message: String) -> ClusterError { ClusterError(.invalidParameter, message) }
}
