/// A regular expression of the cluster query language (`attribute:ecs.instance-type =~ t2.*`), compiled
/// once when the expression is parsed and matched against a whole value in time proportional to the
/// pattern's size times the value's length: a Thompson NFA run over every state at once, never
/// backtracking, so no pattern can run away on a value however it is written.
///
/// The syntax is the common core of regular expressions: literals, `.`, classes (`[a-z]`, `[^0-9]`),
/// `\d \w \s` and their negations, groups (`( )` and `(?: )`), `|`, and the quantifiers `* + ? {n}
/// {n,} {n,m}` (a lazy or possessive suffix is accepted and changes nothing for a whole match; a literal
/// brace is written `\{`). What
/// needs backtracking to mean anything — back-references, look-around — is refused with the reason.
public struct ClusterRegex: Sendable, Hashable {
    public let pattern: String
    private let program: [Instruction]

    /// The most instructions a pattern may compile to (bounded repetitions are expanded).
    static let maximumProgramSize = 20_000
    /// The deepest nesting of groups a pattern may have.
    static let maximumNesting = 32

    public init(_ pattern: String) throws(ClusterError) {
        var parser = PatternParser(Array(pattern.unicodeScalars), pattern: pattern)
        let node = try parser.parseAlternation(depth: 0)
        guard parser.atEnd else { throw parser.error("unbalanced ')'") }
        var compiler = Compiler(pattern: pattern)
        try compiler.emit(node)
        compiler.program.append(.match)
        self.pattern = pattern
        self.program = compiler.program
    }

    public static func == (lhs: ClusterRegex, rhs: ClusterRegex) -> Bool { lhs.pattern == rhs.pattern }
    public func hash(into hasher: inout Hasher) { hasher.combine(pattern) }

    /// Whether the pattern matches all of `text`.
    public func wholeMatch(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        var current = ThreadList(capacity: program.count)
        var next = ThreadList(capacity: program.count)
        addThread(0, at: 0, length: scalars.count, to: &current)
        for (position, scalar) in scalars.enumerated() {
            if current.isEmpty { return false }
            next.clear()
            for pc in current.members {
                if case .scalar(let set) = program[pc], set.contains(scalar) {
                    addThread(pc + 1, at: position + 1, length: scalars.count, to: &next)
                }
            }
            swap(&current, &next)
        }
        return current.members.contains { if case .match = program[$0] { true } else { false } }
    }

    /// Adds `start` and every instruction reachable from it without reading a character.
    private func addThread(_ start: Int, at position: Int, length: Int, to list: inout ThreadList) {
        var stack = [start]
        while let pc = stack.popLast() {
            guard list.insert(pc) else { continue }
            switch program[pc] {
            case .jump(let target): stack.append(target)
            case .split(let first, let second):
                stack.append(second)
                stack.append(first)
            case .assertStart: if position == 0 { stack.append(pc + 1) }
            case .assertEnd: if position == length { stack.append(pc + 1) }
            case .scalar, .match: break
            }
        }
    }

    // MARK: The program

    enum Instruction: Sendable {
        case scalar(ScalarSet)
        case split(Int, Int)
        case jump(Int)
        case assertStart
        case assertEnd
        case match
    }

    /// The set of states of the NFA at one position: members in order, with a mark per instruction.
    private struct ThreadList {
        var members: [Int] = []
        var marked: [Bool]

        init(capacity: Int) { marked = Array(repeating: false, count: capacity) }

        var isEmpty: Bool { members.isEmpty }

        mutating func insert(_ pc: Int) -> Bool {
            guard !marked[pc] else { return false }
            marked[pc] = true
            members.append(pc)
            return true
        }

        mutating func clear() {
            for pc in members { marked[pc] = false }
            members.removeAll(keepingCapacity: true)
        }
    }

    /// Characters as ranges of Unicode scalars, possibly negated.
    struct ScalarSet: Sendable {
        var ranges: [ClosedRange<UInt32>]
        var negated = false

        static let any = ScalarSet(ranges: [], negated: true)
        static let digits = ScalarSet(ranges: [48...57])
        static let word = ScalarSet(ranges: [48...57, 65...90, 95...95, 97...122])
        static let space = ScalarSet(ranges: [9...13, 32...32])

        static func single(_ scalar: Unicode.Scalar) -> ScalarSet { ScalarSet(ranges: [scalar.value...scalar.value]) }

        func contains(_ scalar: Unicode.Scalar) -> Bool {
            ranges.contains { $0.contains(scalar.value) } != negated
        }
    }

    // MARK: Parsing

    indirect enum Node {
        case empty
        case scalar(ScalarSet)
        case start
        case end
        case sequence([Node])
        case alternatives([Node])
        case repeated(Node, minimum: Int, maximum: Int?)
    }

    struct PatternParser {
        let scalars: [Unicode.Scalar]
        let pattern: String
        var position = 0

        init(_ scalars: [Unicode.Scalar], pattern: String) {
            self.scalars = scalars
            self.pattern = pattern
        }

        var atEnd: Bool { position >= scalars.count }
        var peek: Unicode.Scalar? { atEnd ? nil : scalars[position] }

        func error(_ problem: String) -> ClusterError {
            ClusterError.invalid("Invalid regular expression '\(pattern)': \(problem)")
        }

        mutating func parseAlternation(depth: Int) throws(ClusterError) -> Node {
            guard depth <= ClusterRegex.maximumNesting else {
                throw error("groups are nested more than \(ClusterRegex.maximumNesting) deep")
            }
            var branches = [try parseSequence(depth: depth)]
            while peek == "|" {
                position += 1
                branches.append(try parseSequence(depth: depth))
            }
            return branches.count == 1 ? branches[0] : .alternatives(branches)
        }

        mutating func parseSequence(depth: Int) throws(ClusterError) -> Node {
            var items: [Node] = []
            while let scalar = peek, scalar != "|", scalar != ")" {
                var atom = try parseAtom(depth: depth)
                if let quantifier = try parseQuantifier() {
                    if case .start = atom { throw error("a quantifier follows '^'") }
                    if case .end = atom { throw error("a quantifier follows '$'") }
                    atom = .repeated(atom, minimum: quantifier.minimum, maximum: quantifier.maximum)
                    if let next = peek, ["*", "+", "?"].contains(next) || (next == "{" && countFollows) {
                        throw error("a quantifier follows a quantifier; group the first in ( )")
                    }
                }
                items.append(atom)
            }
            return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .sequence(items))
        }

        mutating func parseQuantifier() throws(ClusterError) -> (minimum: Int, maximum: Int?)? {
            guard let scalar = peek else { return nil }
            var bounds: (minimum: Int, maximum: Int?)
            switch scalar {
            case "*": bounds = (0, nil)
            case "+": bounds = (1, nil)
            case "?": bounds = (0, 1)
            case "{":
                guard let counted = try parseCount() else { return nil }
                bounds = counted
                // parseCount consumed up to and including '}'.
                if peek == "?" || peek == "+" { position += 1 }
                return bounds
            default: return nil
            }
            position += 1
            // Lazy and possessive forms match the same whole strings.
            if peek == "?" || peek == "+" { position += 1 }
            return bounds
        }

        /// Whether a counted repetition (valid or not) starts here.
        var countFollows: Bool {
            var probe = self
            do {
                return try probe.parseCount() != nil
            } catch {
                return true
            }
        }

        /// `{n}`, `{n,}` or `{n,m}`; nil (and nothing consumed) when the brace starts no count.
        mutating func parseCount() throws(ClusterError) -> (minimum: Int, maximum: Int?)? {
            var cursor = position + 1
            func number() -> Int? {
                var value = 0
                var digits = 0
                while cursor < scalars.count, let digit = Int(String(scalars[cursor])), scalars[cursor].isASCII {
                    if digits >= 4 { return 10_000 }
                    value = value * 10 + digit
                    digits += 1
                    cursor += 1
                }
                return digits == 0 ? nil : value
            }
            guard let minimum = number() else { return nil }
            var maximum: Int? = minimum
            if cursor < scalars.count, scalars[cursor] == "," {
                cursor += 1
                maximum = number()
            }
            guard cursor < scalars.count, scalars[cursor] == "}" else { return nil }
            let limit = 1000
            guard minimum <= limit, (maximum ?? 0) <= limit else {
                throw error("a counted repetition goes above \(limit)")
            }
            if let maximum, maximum < minimum { throw error("{\(minimum),\(maximum)} counts down") }
            position = cursor + 1
            return (minimum, maximum)
        }

        mutating func parseAtom(depth: Int) throws(ClusterError) -> Node {
            guard let scalar = peek else { throw error("it ends too early") }
            position += 1
            switch scalar {
            case "(":
                if peek == "?" {
                    guard position + 1 < scalars.count, scalars[position + 1] == ":" else {
                        throw error("look-around and named or flagged groups are not supported")
                    }
                    position += 2
                }
                let inner = try parseAlternation(depth: depth + 1)
                guard peek == ")" else { throw error("a '(' is not closed") }
                position += 1
                return inner
            case "[": return .scalar(try parseClass())
            case ".": return .scalar(.any)
            case "^": return .start
            case "$": return .end
            case "\\": return .scalar(try parseEscape(inClass: false))
            case "*", "+", "?": throw error("'\(scalar)' has nothing to repeat")
            case "{": throw error("a '{' that is not a count such as {2,3}; write a literal brace as \\{")
            default: return .scalar(.single(scalar))
            }
        }

        mutating func parseEscape(inClass: Bool) throws(ClusterError) -> ScalarSet {
            guard let scalar = peek else { throw error("it ends with '\\'") }
            position += 1
            switch scalar {
            case "d": return .digits
            case "D": return ScalarSet(ranges: ScalarSet.digits.ranges, negated: true)
            case "w": return .word
            case "W": return ScalarSet(ranges: ScalarSet.word.ranges, negated: true)
            case "s": return .space
            case "S": return ScalarSet(ranges: ScalarSet.space.ranges, negated: true)
            case "t": return .single("\t")
            case "n": return .single("\n")
            case "r": return .single("\r")
            default:
                guard !(scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) else {
                    throw error("'\\\(scalar)' is not supported")
                }
                return .single(scalar)
            }
        }

        mutating func parseClass() throws(ClusterError) -> ScalarSet {
            var set = ScalarSet(ranges: [])
            if peek == "^" {
                set.negated = true
                position += 1
            }
            var first = true
            while true {
                guard let scalar = peek else { throw error("a '[' is not closed") }
                if scalar == "]", !first {
                    position += 1
                    return set
                }
                first = false
                position += 1
                var low: Unicode.Scalar = scalar
                if scalar == "\\" {
                    let escaped = try parseEscape(inClass: true)
                    guard escaped.ranges.count == 1, !escaped.negated, let only = escaped.ranges.first,
                        only.lowerBound == only.upperBound, let single = Unicode.Scalar(only.lowerBound)
                    else {
                        // \d, \w, \s inside a class; their negations cannot be merged into ranges simply.
                        guard !escaped.negated else { throw error("a negated class escape inside '[ ]'") }
                        set.ranges += escaped.ranges
                        continue
                    }
                    low = single
                }
                if peek == "-", position + 1 < scalars.count, scalars[position + 1] != "]" {
                    position += 1
                    guard var high = peek else { throw error("a '[' is not closed") }
                    position += 1
                    if high == "\\" {
                        let escaped = try parseEscape(inClass: true)
                        guard escaped.ranges.count == 1, let only = escaped.ranges.first,
                            only.lowerBound == only.upperBound, let single = Unicode.Scalar(only.lowerBound)
                        else { throw error("a class range ends in a class escape") }
                        high = single
                    }
                    guard low.value <= high.value else { throw error("the range \(low)-\(high) counts down") }
                    set.ranges.append(low.value...high.value)
                } else {
                    set.ranges.append(low.value...low.value)
                }
            }
        }
    }

    // MARK: Compiling

    struct Compiler {
        let pattern: String
        var program: [Instruction] = []

        mutating func append(_ instruction: Instruction) throws(ClusterError) -> Int {
            guard program.count < ClusterRegex.maximumProgramSize else {
                throw ClusterError.invalid(
                    "Invalid regular expression '\(pattern)': it is too large once its repetitions are counted out"
                )
            }
            program.append(instruction)
            return program.count - 1
        }

        mutating func emit(_ node: Node) throws(ClusterError) {
            switch node {
            case .empty: return
            case .scalar(let set): _ = try append(.scalar(set))
            case .start: _ = try append(.assertStart)
            case .end: _ = try append(.assertEnd)
            case .sequence(let items): for item in items { try emit(item) }
            case .alternatives(let branches):
                // split L1, next; L1: branch; jump end; next: split ... — the last branch needs no split.
                var jumps: [Int] = []
                for (index, branch) in branches.enumerated() {
                    if index < branches.count - 1 {
                        let split = try append(.split(0, 0))
                        try emit(branch)
                        jumps.append(try append(.jump(0)))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        try emit(branch)
                    }
                }
                for jump in jumps { program[jump] = .jump(program.count) }
            case .repeated(let inner, let minimum, let maximum):
                for _ in 0..<minimum { try emit(inner) }
                if let maximum {
                    // Each optional copy may be skipped to the end.
                    var skips: [Int] = []
                    for _ in minimum..<max(minimum, maximum) {
                        skips.append(try append(.split(0, 0)))
                        try emit(inner)
                    }
                    for skip in skips { program[skip] = .split(skip + 1, program.count) }
                } else {
                    // L: split body, end; body; jump L. An inner part that can match nothing still ends:
                    // the closure marks each instruction once per position.
                    let loop = try append(.split(0, 0))
                    try emit(inner)
                    _ = try append(.jump(loop))
                    program[loop] = .split(loop + 1, program.count)
                }
            }
        }
    }
}
