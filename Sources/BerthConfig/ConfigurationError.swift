/// The error of the configuration layer: the configuration cannot be used, and why.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The file named with `--config` does not exist.
        public static let fileNotFound = Code("fileNotFound")
        /// The file exists but cannot be read, or is not UTF-8 text.
        public static let fileUnreadable = Code("fileUnreadable")
        /// One or more values are invalid in a way Berth will not guess around.
        public static let invalidValue = Code("invalidValue")

        public var description: String { name }
    }

    public let code: Code
    public let message: String
    /// Every finding, errors and warnings, in the order they were made.
    public let diagnostics: [ConfigurationDiagnostic]

    public init(_ code: Code, _ message: String, diagnostics: [ConfigurationDiagnostic] = []) {
        self.code = code
        self.message = message
        self.diagnostics = diagnostics
    }

    public var errors: [ConfigurationDiagnostic] { diagnostics.filter { $0.severity == .error } }

    public var description: String {
        ([message] + diagnostics.map(\.description)).joined(separator: "\n")
    }
}
