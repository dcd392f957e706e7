import BerthModel
import Foundation

/// An expression of the ECS cluster query language, as `memberOf` constraints and the `filter` of
/// ListContainerInstances use it: `attribute:ecs.instance-type =~ t2.* and not(task:group == db)`.
public indirect enum ClusterQuery: Sendable, Hashable {
    case and(ClusterQuery, ClusterQuery)
    case or(ClusterQuery, ClusterQuery)
    case not(ClusterQuery)
    case compare(subject: String, ClusterQueryOperator, argument: [String])
    /// `=~` and `!~`, with the regular expression compiled when the expression was parsed.
    case match(subject: String, ClusterRegex, negated: Bool)

    /// ECS's limit on an expression's length.
    public static let maximumLength = 2000
    /// The deepest nesting of parentheses and `not` an expression may have.
    public static let maximumNesting = 64

    /// Parses an expression; the error says where it stopped making sense.
    public init(parsing text: String) throws(ClusterError) {
        guard text.count <= Self.maximumLength else {
            throw ClusterError.invalid(
                "Invalid expression: it is \(text.count) characters long; at most \(Self.maximumLength) are allowed."
            )
        }
        var parser = Parser(tokens: try Self.tokenize(text), text: text)
        let query = try parser.parseOr()
        guard parser.atEnd else { throw parser.error("unexpected '\(parser.peek ?? "")'") }
        self = query
    }

    /// What an expression is evaluated against: one instance and the groups of the tasks on it.
    public struct Subject: Sendable {
        public var instance: ContainerInstance
        public var taskGroups: Set<String>
        public var runningTasksCount: Int

        public init(instance: ContainerInstance, taskGroups: Set<String>, runningTasksCount: Int) {
            self.instance = instance
            self.taskGroups = taskGroups
            self.runningTasksCount = runningTasksCount
        }

        /// The values a subject name stands for on this instance; empty when it has none.
        func values(of subject: String) -> [String] {
            let lowered = subject.lowercased()
            if lowered.hasPrefix("attribute:") {
                let name = String(subject.dropFirst("attribute:".count))
                return instance.attributes.filter { $0.name == name }.map { $0.value ?? "" }
            }
            switch lowered {
            case "task:group": return taskGroups.sorted()
            case "agentconnected": return [instance.agentConnected ? "true" : "false"]
            case "agentversion": return instance.versionInfo.agentVersion.map { [$0] } ?? []
            case "ec2instanceid": return instance.ec2InstanceId.map { [$0] } ?? []
            case "runningtaskscount": return [String(runningTasksCount)]
            case "registeredat":
                return [
                    ISO8601DateFormatter().string(
                        from: Date(timeIntervalSince1970: instance.registeredAt.secondsSinceEpoch)
                    )
                ]
            default: return []
            }
        }
    }

    public func matches(_ subject: Subject) -> Bool {
        switch self {
        case .and(let left, let right): left.matches(subject) && right.matches(subject)
        case .or(let left, let right): left.matches(subject) || right.matches(subject)
        case .not(let inner): !inner.matches(subject)
        case .compare(let name, let op, let argument): op.holds(subject.values(of: name), argument, subject: name)
        case .match(let name, let regex, let negated):
            subject.values(of: name).contains(where: regex.wholeMatch) != negated
        }
    }

    // MARK: Tokens

    enum Token: Hashable {
        case word(String)
        case quoted(String)
        case symbol(String)

        var text: String {
            switch self {
            case .word(let text), .quoted(let text), .symbol(let text): text
            }
        }
    }

    static func tokenize(_ text: String) throws(ClusterError) -> [Token] {
        var tokens: [Token] = []
        let characters = Array(text)
        var index = 0
        let twoCharacterSymbols: Set<String> = ["==", "!=", ">=", "<=", "=~", "!~", "&&", "||"]
        let singles: Set<Character> = ["(", ")", "[", "]", ",", "!", ">", "<"]
        while index < characters.count {
            let character = characters[index]
            if character.isWhitespace {
                index += 1
                continue
            }
            if index + 1 < characters.count, twoCharacterSymbols.contains(String(characters[index...index + 1])) {
                tokens.append(.symbol(String(characters[index...index + 1])))
                index += 2
                continue
            }
            if singles.contains(character) {
                tokens.append(.symbol(String(character)))
                index += 1
                continue
            }
            if character == "'" || character == "\"" {
                guard let end = characters[(index + 1)...].firstIndex(of: character) else {
                    throw ClusterError.invalid("Invalid expression '\(text)': unterminated quote")
                }
                tokens.append(.quoted(String(characters[(index + 1)..<end])))
                index = end + 1
                continue
            }
            var end = index
            let stops: Set<Character> = ["(", ")", "[", "]", ",", "'", "\""]
            while end < characters.count, !characters[end].isWhitespace, !stops.contains(characters[end]) {
                if end + 1 < characters.count, twoCharacterSymbols.contains(String(characters[end...end + 1])) { break }
                end += 1
            }
            if end == index {
                throw ClusterError.invalid("Invalid expression '\(text)': unexpected '\(character)'")
            }
            tokens.append(.word(String(characters[index..<end])))
            index = end
        }
        return tokens
    }

    struct Parser {
        var tokens: [Token]
        var text: String
        var position = 0
        var depth = 0

        var atEnd: Bool { position >= tokens.count }
        var peek: String? { atEnd ? nil : tokens[position].text }

        func error(_ problem: String) -> ClusterError {
            ClusterError.invalid("Invalid expression '\(text)': \(problem)")
        }

        mutating func next() throws(ClusterError) -> Token {
            guard !atEnd else { throw error("it ends too early") }
            defer { position += 1 }
            return tokens[position]
        }

        func isKeyword(_ names: Set<String>) -> Bool {
            guard !atEnd else { return false }
            switch tokens[position] {
            case .word(let word): return names.contains(word.lowercased())
            case .symbol(let symbol): return names.contains(symbol)
            case .quoted: return false
            }
        }

        mutating func parseOr() throws(ClusterError) -> ClusterQuery {
            var left = try parseAnd()
            while isKeyword(["||", "or"]) {
                position += 1
                left = .or(left, try parseAnd())
            }
            return left
        }

        mutating func parseAnd() throws(ClusterError) -> ClusterQuery {
            var left = try parseUnary()
            while isKeyword(["&&", "and"]) {
                position += 1
                left = .and(left, try parseUnary())
            }
            return left
        }

        mutating func parseUnary() throws(ClusterError) -> ClusterQuery {
            let opening = isKeyword(["!", "not"]) || isKeyword(["("])
            guard !opening || depth < ClusterQuery.maximumNesting else {
                throw error("parentheses and 'not' are nested more than \(ClusterQuery.maximumNesting) deep")
            }
            if isKeyword(["!", "not"]) {
                position += 1
                depth += 1
                defer { depth -= 1 }
                return .not(try parseUnary())
            }
            if isKeyword(["("]) {
                position += 1
                depth += 1
                defer { depth -= 1 }
                let inner = try parseOr()
                guard isKeyword([")"]) else { throw error("a '(' is not closed") }
                position += 1
                return inner
            }
            return try parseComparison()
        }

        mutating func parseComparison() throws(ClusterError) -> ClusterQuery {
            guard case .word(let subject) = try next() else { throw error("expected a subject such as attribute:NAME") }
            var negated = false
            if isKeyword(["!"]) {
                negated = true
                position += 1
            }
            let operatorText = try next().text
            guard let parsed = ClusterQueryOperator(operatorText, negated: negated) else {
                throw error("unknown operator '\(negated ? "!" : "")\(operatorText)'")
            }
            switch parsed {
            case .exists, .notExists:
                return .compare(subject: subject, parsed, argument: [])
            case .in, .notIn:
                guard isKeyword(["["]) else { throw error("'\(operatorText)' takes a list such as [a, b]") }
                position += 1
                var values: [String] = []
                while !isKeyword(["]"]) {
                    let value = try next()
                    guard case .symbol = value else {
                        values.append(value.text)
                        if isKeyword([","]) { position += 1 }
                        continue
                    }
                    throw error("unexpected '\(value.text)' in a list")
                }
                position += 1
                return .compare(subject: subject, parsed, argument: values)
            case .matches, .notMatches:
                let value = try next()
                if case .symbol = value { throw error("'\(operatorText)' needs a regular expression") }
                return .match(subject: subject, try ClusterRegex(value.text), negated: parsed == .notMatches)
            default:
                let value = try next()
                if case .symbol = value { throw error("'\(operatorText)' needs a value") }
                return .compare(subject: subject, parsed, argument: [value.text])
            }
        }
    }
}

/// The comparison operators of the cluster query language, in their symbol and word forms.
public enum ClusterQueryOperator: Sendable, Hashable {
    case equals, notEquals, greater, greaterOrEqual, less, lessOrEqual, exists, notExists, `in`, notIn, matches
    case notMatches

    init?(_ text: String, negated: Bool) {
        let forms: [String: ClusterQueryOperator] = [
            "==": .equals, "equals": .equals, "!=": .notEquals, "not_equals": .notEquals,
            ">": .greater, "greater_than": .greater, ">=": .greaterOrEqual, "greater_than_equal": .greaterOrEqual,
            "<": .less, "less_than": .less, "<=": .lessOrEqual, "less_than_equal": .lessOrEqual,
            "exists": .exists, "not_exists": .notExists, "in": .in, "not_in": .notIn,
            "=~": .matches, "matches": .matches, "!~": .notMatches, "not_matches": .notMatches,
        ]
        guard let parsed = forms[text.lowercased()] else { return nil }
        if negated {
            switch parsed {
            case .exists: self = .notExists
            case .in: self = .notIn
            default: return nil
            }
        } else {
            self = parsed
        }
    }

    func holds(_ values: [String], _ argument: [String], subject: String) -> Bool {
        switch self {
        case .exists: return !values.isEmpty
        case .notExists: return values.isEmpty
        case .in: return values.contains { argument.contains($0) }
        case .notIn: return !values.contains { argument.contains($0) }
        case .equals: return values.contains { $0 == argument.first }
        case .notEquals: return !values.contains { $0 == argument.first }
        case .matches, .notMatches:
            // Parsed into ClusterQuery.match, with the expression compiled once.
            return false
        case .greater, .greaterOrEqual, .less, .lessOrEqual:
            guard let bound = argument.first else { return false }
            return values.contains { compare($0, bound, subject: subject) }
        }
    }

    private func compare(_ value: String, _ bound: String, subject: String) -> Bool {
        let order: ComparisonResult
        if let left = Double(value), let right = Double(bound) {
            order = left < right ? .orderedAscending : (left > right ? .orderedDescending : .orderedSame)
        } else if subject.lowercased() == "registeredat", let left = Self.date(value), let right = Self.date(bound) {
            order = left < right ? .orderedAscending : (left > right ? .orderedDescending : .orderedSame)
        } else {
            order = value.compare(bound)
        }
        switch self {
        case .greater: return order == .orderedDescending
        case .greaterOrEqual: return order != .orderedAscending
        case .less: return order == .orderedAscending
        default: return order != .orderedDescending
        }
    }

    /// Dates as the language accepts them: with a zone, `Z`, no zone (UTC), or a bare day.
    static func date(_ text: String) -> Date? {
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        if let date = full.date(from: text + "Z") { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: text)
    }
}
