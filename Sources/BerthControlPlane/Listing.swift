import Foundation

/// Where an item stands in the order of a listing: every List operation sorts by one of these, and its
/// nextToken carries the position of the last item given, so the next page starts after that item
/// whatever was added or removed in between (an offset would skip or repeat items then).
///
/// Positions are unique within a listing: the name part ends with something unique (an ARN, a family).
public struct ListPosition: Sendable, Hashable, Codable, Comparable {
    /// Seconds since the epoch, for listings in the order things were created.
    public var time: Double?
    public var name: String
    /// A revision, for task definitions.
    public var number: Int?

    public init(time: Double? = nil, name: String, number: Int? = nil) {
        self.time = time
        self.name = name
        self.number = number
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        let left = (lhs.time ?? -.infinity, lhs.number ?? Int.min)
        let right = (rhs.time ?? -.infinity, rhs.number ?? Int.min)
        if left.0 != right.0 { return left.0 < right.0 }
        if lhs.name != rhs.name { return lhs.name < rhs.name }
        return left.1 < right.1
    }

    /// The nextToken of a page ending here.
    public var pageToken: String {
        let json = (try? JSONEncoder().encode(self)) ?? Data()
        return Data((Self.tokenPrefix + String(decoding: json, as: UTF8.self)).utf8).base64EncodedString()
    }

    /// The position a nextToken carries; nil when it is no token of ours.
    public init?(pageToken: String) {
        guard let data = Data(base64Encoded: pageToken), let text = String(data: data, encoding: .utf8),
            text.hasPrefix(Self.tokenPrefix),
            let position = try? JSONDecoder().decode(Self.self, from: Data(text.dropFirst(Self.tokenPrefix.count).utf8))
        else { return nil }
        self = position
    }

    private static let tokenPrefix = "berth1:"

    enum CodingKeys: String, CodingKey {
        case time = "t"
        case name = "n"
        case number = "r"
    }
}

/// One item of a listing and its position in the listing's order.
public struct Listed<Item: Sendable>: Sendable {
    public var position: ListPosition
    public var item: Item

    public init(_ item: Item, at position: ListPosition) {
        self.position = position
        self.item = item
    }
}

extension Array {
    /// The items in the order of their positions, ascending or (`descending`) not.
    public func sortedByPosition<Item>(descending: Bool = false) -> [Listed<Item>] where Element == Listed<Item> {
        sorted { descending ? $1.position < $0.position : $0.position < $1.position }
    }
}
