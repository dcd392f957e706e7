/// The error of the agent channel: the control plane refused a call, or could not be reached.
public struct ControlPlaneError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The control plane cannot be reached, or failed inside (ServerException): try again later.
        public static let unavailable = Code("unavailable")
        /// Too many calls (ThrottlingException): try again later.
        public static let throttled = Code("throttled")
        /// The request is wrong (ClientException, InvalidParameterException): trying again will not help.
        public static let invalidRequest = Code("invalidRequest")
        /// The cluster does not exist.
        public static let clusterNotFound = Code("clusterNotFound")
        /// The container instance was deregistered or is unknown: it must register anew.
        public static let instanceInactive = Code("instanceInactive")
        /// The task is unknown to the control plane.
        public static let taskNotFound = Code("taskNotFound")
        /// The caller's credentials are not those the container instance was registered with.
        public static let accessDenied = Code("accessDenied")
        /// A frame of the payload channel that is not an ACS message of its shape: the other side is broken
        /// or not a control plane (or agent) at all.
        public static let badFrame = Code("badFrame")

        public var description: String { name }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Whether the same call may succeed later.
    public var isTransient: Bool { code == .unavailable || code == .throttled }

    public var description: String { "\(code): \(message)" }
}
