/// The error of the Docker Engine client: what went wrong, in terms a caller can act on.
public struct DockerError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The object (container, image, volume, manifest) does not exist (HTTP 404).
        public static let notFound = Code("notFound")
        /// The request conflicts with the object's state: a name in use, an image in use, a container
        /// running that must be stopped first (HTTP 409).
        public static let conflict = Code("conflict")
        /// The registry refused the credentials, or asked for some and got none.
        public static let unauthorized = Code("unauthorized")
        /// dockerd refused the request as malformed (HTTP 400).
        public static let badRequest = Code("badRequest")
        /// dockerd cannot be reached: no socket, connection refused, connection lost.
        public static let daemonUnreachable = Code("daemonUnreachable")
        /// The call did not finish in time, or a stream made no progress for too long.
        public static let timeout = Code("timeout")
        /// dockerd answered with another error; the message is the daemon's.
        public static let apiError = Code("apiError")
        /// dockerd's answer could not be understood.
        public static let invalidResponse = Code("invalidResponse")
        /// The daemon's API is older than Berth supports.
        public static let unsupportedVersion = Code("unsupportedVersion")
        /// The calling task was cancelled.
        public static let cancelled = Code("cancelled")

        public var description: String { name }
    }

    public let code: Code
    /// What failed, with the daemon's own message where there is one.
    public let message: String
    /// The HTTP status dockerd answered with, when it answered.
    public let status: Int?

    public init(_ code: Code, _ message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status
    }

    public var description: String { message }
}
