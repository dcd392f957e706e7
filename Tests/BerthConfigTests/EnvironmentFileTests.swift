import BerthConfig
import Foundation
import PropertyBased
import Testing

@Suite("ecs.config grammar")
struct EnvironmentFileTests {
    @Test("comments, blank lines, whitespace, the first '=' and one pair of quotes")
    func grammar() {
        let file = EnvironmentFile(
            parsing: """
                # a comment
                   ECS_CLUSTER = prod  \r

                \t# an indented comment
                ECS_INSTANCE_ATTRIBUTES={"stack":"prod","team":"a=b"}
                DOUBLE="quoted value"
                SINGLE='it''s'
                MISMATCHED="left
                ONLY_QUOTE="
                EMPTY=
                HASH_IN_VALUE=a#b
                INNER="a"b"
                """
        )
        #expect(file.malformedLines.isEmpty)
        let pairs = file.assignments.map { "\($0.key)|\($0.value)|\($0.line)" }
        #expect(
            pairs == [
                "ECS_CLUSTER|prod|2",
                #"ECS_INSTANCE_ATTRIBUTES|{"stack":"prod","team":"a=b"}|5"#,
                "DOUBLE|quoted value|6",
                "SINGLE|it''s|7",
                #"MISMATCHED|"left|8"#,
                #"ONLY_QUOTE|"|9"#,
                "EMPTY||10",
                "HASH_IN_VALUE|a#b|11",
                #"INNER|a"b|12"#,
            ]
        )
    }

    @Test("Windows line endings split like Unix ones")
    func crlf() {
        let file = EnvironmentFile(parsing: "ECS_CLUSTER=a\r\n\r\n# c\r\nECS_LOGLEVEL=\"debug\"\r\n")
        #expect(
            file.assignments == [
                .init(key: "ECS_CLUSTER", value: "a", line: 1), .init(key: "ECS_LOGLEVEL", value: "debug", line: 4),
            ]
        )
    }

    @Test("malformed lines are reported by number, without their text")
    func malformed() {
        let file = EnvironmentFile(parsing: "ECS_CLUSTER=a\n{\"user\":\"secret\"}\n1KEY=x\nBAD-KEY=y\n=z\n")
        #expect(file.assignments.map(\.key) == ["ECS_CLUSTER"])
        #expect(
            file.malformedLines == [
                .init(line: 2, reason: .missingEquals),
                .init(line: 3, reason: .invalidKey("1KEY")),
                .init(line: 4, reason: .invalidKey("BAD-KEY")),
                .init(line: 5, reason: .invalidKey("")),
            ]
        )
    }

    /// Values an operator might write: JSON, URLs, paths, spaces, '=' and '#' inside.
    static let valueCharacters = characters(from: #"abcXYZ019 _-=#:/.,{}[]"@"#)
    static let keys = characters(from: "ABCDEFGHIJKLMNOPQRSTUVWXYZ_").string(of: 1...12)

    @Test("any assignments survive any mix of quoting, padding, comments and blank lines")
    func roundTrip() async {
        let entry = zip(Self.keys, Self.valueCharacters.string(of: 0...20), Gen<Int>.int(in: 0...5))
        await propertyCheck(count: 300, input: entry.array(of: 0...12)) { entries in
            var text = ""
            var expected: [String] = []
            for (key, rawValue, style) in entries {
                // The value as the file means it: what is left after trimming and unquoting.
                let value = String(rawValue.trimmingCharacters(in: .whitespaces))
                let written: String
                switch style {
                case 0: written = "\(key)=\(value)"
                case 1: written = "  \(key) =  \(value)  "
                case 2: written = "\(key)=\"\(value)\""
                case 3: written = "\(key)='\(value)'"
                case 4: written = "# \(key)=ignored\n\n\(key)=\(value)\r"
                default: written = "\t\(key)\t=\t\"\(value)\"\t"
                }
                let meaning = Self.unquoted(value, style: style)
                text += written + "\n"
                expected.append("\(key)=\(meaning)")
            }
            let parsed = EnvironmentFile(parsing: text)
            #expect(parsed.malformedLines.isEmpty)
            #expect(parsed.assignments.map { "\($0.key)=\($0.value)" } == expected)
        }
    }

    /// Unquoted styles keep a value that itself looks quoted ("x") minus that one pair.
    static func unquoted(_ value: String, style: Int) -> String {
        if [2, 3, 5].contains(style) { return value }
        guard value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first else {
            return value
        }
        return String(value.dropFirst().dropLast())
    }
}
