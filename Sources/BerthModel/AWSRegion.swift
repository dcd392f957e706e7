/// An AWS region name such as `us-east-1`, used in ARNs and SigV4 scopes.
public struct AWSRegion: Sendable, Hashable, Codable, CustomStringConvertible {
    public let name: String

    /// Accepts names shaped like AWS's: a partition prefix, dash-separated words, and a number
    /// (`us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`).
    public init(_ name: String) throws(ModelError) {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        let wordsAreLowercase = parts.dropLast().allSatisfy { word in
            !word.isEmpty && word.allSatisfy { $0.isASCII && $0.isLowercase }
        }
        let number = parts.last.flatMap { Int($0) }
        guard parts.count >= 3, wordsAreLowercase, let number, number >= 1, number <= 99 else {
            throw ModelError(.invalidValue, "'\(name)' is not a region name such as us-east-1")
        }
        self.name = name
    }

    public var description: String { name }
}
