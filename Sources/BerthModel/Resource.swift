/// A resource of a container instance (`Resource`): CPU units and memory as integers, ports as string sets.
public struct Resource: Sendable, Hashable, Codable, CustomStringConvertible {
    public var name: String
    /// `INTEGER` or `STRINGSET`.
    public var type: String
    public var integerValue: Int?
    public var stringSetValue: [String]?

    public static func integer(_ name: String, _ value: Int) -> Resource {
        Resource(name: name, type: "INTEGER", integerValue: value, stringSetValue: nil)
    }

    public static func stringSet(_ name: String, _ values: [String]) -> Resource {
        Resource(name: name, type: "STRINGSET", integerValue: nil, stringSetValue: values)
    }

    public var description: String {
        if let integerValue { return "\(name)=\(integerValue)" }
        return "\(name)=[\((stringSetValue ?? []).joined(separator: ","))]"
    }
}
