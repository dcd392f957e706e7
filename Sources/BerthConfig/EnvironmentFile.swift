import BerthModel

/// The `KEY=VALUE` file format of `/etc/ecs/ecs.config`, read the way systemd's `EnvironmentFile=`
/// reads it, so that the file means the same to a unit file and to Berth:
///
/// - lines are split on `\n`, and leading and trailing whitespace (including `\r`) is trimmed;
/// - blank lines and lines whose first character is `#` are ignored;
/// - a line is split on its first `=`; key and value are trimmed;
/// - one pair of matching surrounding quotes (`"…"` or `'…'`) is stripped from the value;
///   nothing else is unescaped, so JSON values work unquoted, as the ECS documentation writes them;
/// - a line without `=` or with a key that is not a variable name is reported and ignored.
public struct EnvironmentFile: Sendable, Equatable {
    /// One assignment, with the 1-based line it came from.
    public struct Assignment: Sendable, Equatable {
        public let key: String
        public let value: String
        public let line: Int

        public init(key: String, value: String, line: Int) {
            self.key = key
            self.value = value
            self.line = line
        }
    }

    /// A line that is neither blank, a comment, nor a valid assignment.
    ///
    /// It carries no text from the line: a stray line may be a wrapped piece of a credential.
    public struct MalformedLine: Sendable, Equatable {
        public enum Reason: Sendable, Equatable {
            /// The line has no `=`.
            case missingEquals
            /// The part before `=` is not a variable name (letters, digits and `_`, not starting with a digit).
            case invalidKey(String)
        }

        public let line: Int
        public let reason: Reason

        public init(line: Int, reason: Reason) {
            self.line = line
            self.reason = reason
        }
    }

    /// The assignments in file order, duplicates included (a later one wins when the file is applied).
    public let assignments: [Assignment]
    public let malformedLines: [MalformedLine]

    public init(parsing text: String) {
        var assignments: [Assignment] = []
        var malformed: [MalformedLine] = []
        // "\r\n" is one Character in Swift: split on it too, or CRLF files would not split at all.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, rawLine) in lines.enumerated() {
            let lineNumber = index + 1
            let line = rawLine.trimmingASCIIWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                malformed.append(MalformedLine(line: lineNumber, reason: .missingEquals))
                continue
            }
            let key = String(line[..<equals].trimmingASCIIWhitespace())
            guard Self.isVariableName(key) else {
                malformed.append(MalformedLine(line: lineNumber, reason: .invalidKey(key)))
                continue
            }
            let value = Self.strippingMatchingQuotes(line[line.index(after: equals)...].trimmingASCIIWhitespace())
            assignments.append(Assignment(key: key, value: String(value), line: lineNumber))
        }
        self.assignments = assignments
        self.malformedLines = malformed
    }

    /// Whether `key` is a portable environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
    public static func isVariableName(_ key: some StringProtocol) -> Bool {
        guard let first = key.first, first == "_" || (first.isASCIILetterOrDigit && !first.isNumber) else {
            return false
        }
        return key.allSatisfy { $0 == "_" || $0.isASCIILetterOrDigit }
    }

    private static func strippingMatchingQuotes(_ value: Substring) -> Substring {
        guard value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first else {
            return value
        }
        return value.dropFirst().dropLast()
    }
}
