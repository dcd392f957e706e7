/// The ECS API model's shapes (generated into ECSSchema+Shapes.swift) and the check of a request against
/// them: required members, types, enums, ranges, list and map lengths. Errors name the member's path.
enum ECSSchema {
    indirect enum Shape: Sendable {
        case structure(members: [String: String], required: [String])
        case list(member: String, min: Int?, max: Int?)
        case map(key: String, value: String, min: Int?, max: Int?)
        case string(enum: [String]?, min: Int?, max: Int?)
        case integer(min: Int?, max: Int?)
        case double
        case boolean
        case timestamp
    }

    static let shapes = makeShapes()

    /// Checks `value` against the input shape of `operation`.
    static func validate(_ value: JSONValue, operation: String) throws(APIError) {
        guard let input = operationInputs[operation] else { return }
        guard case .object = value else {
            throw APIError(.serialization, "The request body must be a JSON object.")
        }
        try validate(value, shape: input, path: "")
    }

    static func validate(_ value: JSONValue, shape name: String, path: String) throws(APIError) {
        guard let shape = shapes[name] else { return }
        let at = path.isEmpty ? "the request" : "'\(path)'"
        if case .null = value { return }
        switch shape {
        case .structure(let members, let required):
            guard case .object(let fields) = value else { throw typeError(at, "a structure", value) }
            for member in required {
                guard let field = fields[member], field != .null else {
                    throw APIError(.invalidParameter, "Missing required parameter \(join(path, member)).")
                }
            }
            for (member, field) in fields {
                guard let memberShape = members[member] else { continue }
                try validate(field, shape: memberShape, path: join(path, member))
            }
        case .list(let member, let min, let max):
            guard case .array(let items) = value else { throw typeError(at, "a list", value) }
            try check(count: items.count, min: min, max: max, at: at, unit: "items")
            for (index, item) in items.enumerated() {
                try validate(item, shape: member, path: "\(path)[\(index)]")
            }
        case .map(let key, let valueShape, let min, let max):
            guard case .object(let entries) = value else { throw typeError(at, "a map", value) }
            try check(count: entries.count, min: min, max: max, at: at, unit: "entries")
            for (entryKey, entry) in entries {
                try validate(.string(entryKey), shape: key, path: "\(path).\(entryKey)")
                try validate(entry, shape: valueShape, path: "\(path).\(entryKey)")
            }
        case .string(let allowed, let min, let max):
            guard case .string(let text) = value else { throw typeError(at, "a string", value) }
            if let allowed, !allowed.contains(text) {
                throw APIError(
                    .invalidParameter,
                    "Invalid value '\(text)' for \(at): must be one of \(allowed.joined(separator: ", "))."
                )
            }
            try check(count: text.count, min: min, max: max, at: at, unit: "characters")
        case .integer(let min, let max):
            guard case .integer(let number) = value else { throw typeError(at, "an integer", value) }
            if let min, number < min {
                throw APIError(.invalidParameter, "Invalid value \(number) for \(at): must be at least \(min).")
            }
            if let max, number > max {
                throw APIError(.invalidParameter, "Invalid value \(number) for \(at): must be at most \(max).")
            }
        case .double:
            switch value {
            case .integer: return
            case .number(let number) where number.isFinite: return
            default: throw typeError(at, "a number", value)
            }
        case .timestamp:
            // Seconds since the epoch, from 1970 to the end of year 9999: what every SDK sends.
            let seconds: Double
            switch value {
            case .integer(let number): seconds = Double(number)
            case .number(let number): seconds = number
            default: throw typeError(at, "a timestamp", value)
            }
            guard (0...253_402_300_799).contains(seconds) else {
                throw APIError(.invalidParameter, "Invalid value for \(at): the timestamp is out of range.")
            }
        case .boolean:
            guard case .bool = value else { throw typeError(at, "a boolean", value) }
        }
    }

    private static func join(_ path: String, _ member: String) -> String {
        path.isEmpty ? member : "\(path).\(member)"
    }

    private static func check(count: Int, min: Int?, max: Int?, at: String, unit: String) throws(APIError) {
        if let min, count < min {
            throw APIError(.invalidParameter, "Invalid length for \(at): at least \(min) \(unit) required.")
        }
        if let max, count > max {
            throw APIError(.invalidParameter, "Invalid length for \(at): at most \(max) \(unit) allowed.")
        }
    }

    private static func typeError(_ at: String, _ expected: String, _ value: JSONValue) -> APIError {
        APIError(.serialization, "Invalid type for \(at): expected \(expected), got a \(value.kind).")
    }
}
