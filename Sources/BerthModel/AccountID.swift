/// A 12-digit AWS account id, the account part of every ARN Berth issues.
public struct AccountID: Sendable, Hashable, Codable, CustomStringConvertible {
    public let digits: String

    /// The example account of the AWS documentation, Berth's default.
    public static let documentationExample = AccountID(unchecked: "123456789012")

    public init(_ digits: String) throws(ModelError) {
        guard digits.count == 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw ModelError(.invalidValue, "'\(digits)' is not an account id: expected exactly 12 digits")
        }
        self.digits = digits
    }

    private init(unchecked digits: String) { self.digits = digits }

    public var description: String { digits }
}
