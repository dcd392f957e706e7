/// The name of an ECS cluster: 1–255 letters, digits, hyphens and underscores.
public struct ClusterName: Sendable, Hashable, Codable, CustomStringConvertible {
    public let value: String

    /// The cluster an instance or a call without a cluster uses.
    public static let `default` = ClusterName(unchecked: "default")

    public init(_ value: String) throws(ModelError) {
        guard (1...255).contains(value.count) else {
            throw ModelError(.outOfRange, "cluster name must be 1 to 255 characters long")
        }
        if let bad = value.first(where: { !($0.isASCIILetterOrDigit || $0 == "-" || $0 == "_") }) {
            throw ModelError(
                .invalidValue,
                "cluster name '\(value)' contains '\(bad)'; names use letters, digits, hyphens and underscores"
            )
        }
        self.value = value
    }

    /// Accepts a cluster name or a cluster ARN (`arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`), as ECS does
    /// wherever it takes a cluster; an ARN yields its name.
    public init(nameOrARN text: String) throws(ModelError) {
        guard text.hasPrefix("arn:") else {
            try self.init(text)
            return
        }
        let fields = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6, fields[1].hasPrefix("aws"), fields[2] == "ecs", fields[5].hasPrefix("cluster/") else {
            throw ModelError(.invalidValue, "'\(text)' is not a cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)")
        }
        try self.init(String(fields[5].dropFirst("cluster/".count)))
    }

    private init(unchecked value: String) { self.value = value }

    public var description: String { value }
}
