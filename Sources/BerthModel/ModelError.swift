/// The error of the model layer: a value that breaks an ECS rule (a name too long, a character ECS refuses).
///
/// Callers turn it into their own layer's error: a configuration error naming the key, or an ECS
/// `InvalidParameterException` on the API.
public struct ModelError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The value does not follow the ECS rules for its kind.
        public static let invalidValue = Code("invalidValue")
        /// The value is outside the range ECS allows.
        public static let outOfRange = Code("outOfRange")

        public var description: String { name }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
