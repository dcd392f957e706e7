import Foundation

/// Filters for list and events calls, such as `["label": ["com.amazonaws.ecs.cluster=prod"], "type": ["container"]]`.
/// Several values for one name match any of them; several names must all match.
public typealias DockerFilters = [String: [String]]

extension Dictionary where Key == String, Value == [String] {
    /// The JSON the Engine API takes in its `filters` query parameter.
    var queryValue: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }
}
