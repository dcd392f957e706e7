/// The error of the agent layer: what stops the agent from doing its work, with a code an operator (or
/// the exit status) can act on.
public struct AgentError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The state store could not be read or written.
        public static let store = Code("store")
        /// dockerd could not be used.
        public static let docker = Code("docker")
        /// The control plane refused the registration for good (a wrong cluster, bad attributes).
        public static let registrationRefused = Code("registrationRefused")
        /// The saved state belongs to another cluster: starting would mix the two up.
        public static let dataMismatch = Code("dataMismatch")
        /// The configuration asks for something Berth cannot do (a remote control plane, an exposed API
        /// without credentials).
        public static let configuration = Code("configuration")
        /// The host's resources could not be read.
        public static let host = Code("host")

        public var description: String { name }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Whether restarting the agent cannot help (systemd is told not to restart on these: exit status 5).
    public var isTerminal: Bool { code == .registrationRefused || code == .dataMismatch || code == .configuration }

    public var description: String { message }
}
