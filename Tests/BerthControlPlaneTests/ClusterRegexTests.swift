import BerthControlPlane
import BerthModel
import Foundation
import PropertyBased
import Testing

/// The query language's regular expressions: the same answers as a backtracking engine on ordinary
/// patterns, in linear time on the ones that make a backtracking engine run away, and clear refusals.
@Suite("Cluster query regular expressions")
struct ClusterRegexTests {
    /// What ICU (NSRegularExpression) says, as the reference for patterns both engines read.
    static func reference(_ pattern: String, _ text: String) throws -> Bool {
        let expression = try NSRegularExpression(pattern: "^(?:\(pattern))$")
        return expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    @Test(
        "whole matches, as a backtracking engine answers them",
        arguments: [
            ("t2.*", "t2.small"), ("t2.*", "m5.large"), ("t2\\..*", "t2x"), ("[a-c]+x?", "abcx"),
            ("[^0-9]*", "ab9"), ("\\d{3}-\\w+", "123-ab_c"), ("(?:ab|cd){2}", "abcd"), ("(ab|cd){2,}", "ab"),
            ("a{2,3}", "aaaa"), ("a|b|", ""), ("^prod$", "prod"), ("x{1}y{0}", "x"), ("[-a]", "-"),
            ("[a\\-z]", "-"), ("[\\d.]+", "1.5"), ("\\s\\S", " x"), ("a.c", "a\u{e9}c"), ("\\{x\\}", "{x}"),
            ("us-east-1[abc]", "us-east-1d"), ("(a|ab)(c|bcd)(d*)", "abcd"),
            ("a*?b+?", "aab"), ("(a*)*", "aaa"), ("(a|)+b", "aab"),
        ]
    )
    func sameAsBacktracking(pattern: String, text: String) throws {
        #expect(try ClusterRegex(pattern).wholeMatch(text) == Self.reference(pattern, text), "\(pattern) on \(text)")
    }

    @Test("random patterns over a small alphabet: the same answers as NSRegularExpression")
    func randomPatterns() async {
        let input = Gen.int(in: 0...1_000_000).array(of: 24...24)
        await propertyCheck(count: 300, input: input) { numbers in
            var cursor = 0
            func next(_ bound: Int) -> Int {
                defer { cursor = (cursor + 1) % numbers.count }
                return numbers[cursor] % bound
            }
            func pattern(_ depth: Int) -> String {
                let atoms = ["a", "b", ".", "[ab]", "[^a]", "\\d", "1"]
                var text: String
                if depth < 2, next(4) == 0 {
                    text = "(\(pattern(depth + 1))|\(pattern(depth + 1)))"
                } else {
                    text = atoms[next(atoms.count)]
                    if depth < 2, next(3) == 0 { text += atoms[next(atoms.count)] }
                }
                return text + ["", "", "*", "+", "?", "{0,2}", "{2}"][next(7)]
            }
            let regex = pattern(0) + pattern(1)
            let subject = String((0..<next(7)).map { _ in ["a", "b", "1"][next(3)] }.joined())
            do {
                #expect(
                    try ClusterRegex(regex).wholeMatch(subject) == Self.reference(regex, subject),
                    "\(regex) on '\(subject)'"
                )
            } catch {
                Issue.record("\(regex) was refused: \(error)")
            }
        }
    }

    @Test("patterns that make a backtracking engine take exponential time answer at once")
    func noRunaway() throws {
        let value = String(repeating: "a", count: 128) + "!"
        for pattern in ["(a+)+$", "(a|a)*b", "(a|aa)+c", "(.*a){20}", "((a*)*)*b", "(a?){64}a{64}"] {
            #expect(try ClusterRegex(pattern).wholeMatch(value) == false, "\(pattern)")
        }
        #expect(try ClusterRegex("(a?){64}a{64}").wholeMatch(String(repeating: "a", count: 64)))
    }

    @Test(
        "what needs backtracking, or is malformed or too large, is an InvalidParameterException naming the pattern",
        arguments: [
            "(a)\\1", "(?=a)b", "(?<name>a)", "(a", "a)", "[a", "*a", "a**", "a{2}{3}", "a{1001}", "[z-a]", "\\",
            "\\q", "(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))", "(a{1000}){1000}", "{x}",
            "a{,2}",
        ]
    )
    func refused(pattern: String) {
        let error = #expect(throws: ClusterError.self) { try ClusterRegex(pattern) }
        #expect(error?.code == .invalidParameter)
        #expect(error?.message.contains(pattern) == true)
    }

    @Test(
        "expressions: at most 2000 characters, nested at most 64 deep (a not and its parentheses are two), a bad regex refused when parsed"
    )
    func expressionLimits() throws {
        let long = Array(repeating: "attribute:a == b", count: 120).joined(separator: " or ")
        #expect(long.count > 2000)
        let tooLong = #expect(throws: ClusterError.self) { try ClusterQuery(parsing: long) }
        #expect(tooLong?.message.contains("2000") == true)
        let deep = String(repeating: "not(", count: 40) + "agentConnected == true" + String(repeating: ")", count: 40)
        let tooDeep = #expect(throws: ClusterError.self) { try ClusterQuery(parsing: deep) }
        #expect(tooDeep?.message.contains("nested") == true)
        let fine = String(repeating: "not(", count: 30) + "agentConnected == true" + String(repeating: ")", count: 30)
        _ = try ClusterQuery(parsing: fine)
        let badRegex = #expect(throws: ClusterError.self) {
            try ClusterQuery(parsing: "attribute:ecs.instance-type =~ '(t2'")
        }
        #expect(badRegex?.message.contains("regular expression") == true)
    }
}
