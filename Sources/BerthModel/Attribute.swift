/// A name-value pair attached to an ECS object, such as a container instance (`Attribute` in the ECS API).
///
/// Names are 1–128 letters, digits, `-`, `_`, `/`, `\` or `.`; values are 1–128 of those plus `@`, `:`
/// and spaces, and do not start or end with a space. A missing value is allowed (ECS uses name-only
/// attributes for capabilities).
public struct Attribute: Sendable, Hashable, Codable, CustomStringConvertible {
    public let name: String
    public let value: String?

    public init(name: String, value: String?) throws(ModelError) {
        try Self.validate(name: name)
        if let value { try Self.validate(value: value, of: name) }
        self.name = name
        self.value = value
    }

    public var description: String { value.map { "\(name)=\($0)" } ?? name }

    /// The prefixes of the attributes agents and ECS set themselves (`ecs.os-type`,
    /// `com.amazonaws.ecs.capability.*`): reserved, and not custom attributes.
    public static let builtInPrefixes = ["ecs.", "com.amazonaws.ecs."]

    /// Whether the name is one of the built-in ones; ECS's limit of 10 counts only the others.
    public var isBuiltIn: Bool { Self.builtInPrefixes.contains { name.hasPrefix($0) } }

    private static let nameSymbols: Set<Character> = ["-", "_", "/", "\\", "."]
    private static let valueSymbols: Set<Character> = ["-", "_", "/", "\\", ".", "@", ":", " "]

    private static func validate(name: String) throws(ModelError) {
        guard (1...128).contains(name.count) else {
            throw ModelError(.outOfRange, "attribute name '\(name)' must be 1 to 128 characters long")
        }
        if let bad = name.first(where: { !($0.isASCIILetterOrDigit || nameSymbols.contains($0)) }) {
            throw ModelError(
                .invalidValue,
                "attribute name '\(name)' contains '\(bad)'; names use letters, digits, - _ / \\ and ."
            )
        }
    }

    private static func validate(value: String, of name: String) throws(ModelError) {
        guard (1...128).contains(value.count) else {
            throw ModelError(.outOfRange, "value of attribute '\(name)' must be 1 to 128 characters long")
        }
        if let bad = value.first(where: { !($0.isASCIILetterOrDigit || valueSymbols.contains($0)) }) {
            throw ModelError(
                .invalidValue,
                "value of attribute '\(name)' contains '\(bad)'; values use letters, digits, spaces, - _ . @ / \\ and :"
            )
        }
        if value.first == " " || value.last == " " {
            throw ModelError(.invalidValue, "value of attribute '\(name)' may not start or end with a space")
        }
    }
}

extension Character {
    package var isASCIILetterOrDigit: Bool {
        guard let ascii = asciiValue else { return false }
        return (ascii >= 0x30 && ascii <= 0x39) || (ascii >= 0x41 && ascii <= 0x5A) || (ascii >= 0x61 && ascii <= 0x7A)
    }
}
