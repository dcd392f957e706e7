/// One container in `GET /containers/json`.
public struct ContainerSummary: Sendable, Hashable, Decodable {
    public let id: String
    /// Names with Docker's leading slash.
    public let names: [String]
    public let image: String
    public let imageID: String
    /// Seconds since the epoch.
    public let created: Int64
    /// `created`, `running`, `exited`, …
    public let state: String
    /// Human text such as `Up 2 minutes`.
    public let status: String
    public let labels: [String: String]

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case names = "Names"
        case image = "Image"
        case imageID = "ImageID"
        case created = "Created"
        case state = "State"
        case status = "Status"
        case labels = "Labels"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        names = try container.decodeIfPresent([String].self, forKey: .names) ?? []
        image = try container.decodeIfPresent(String.self, forKey: .image) ?? ""
        imageID = try container.decodeIfPresent(String.self, forKey: .imageID) ?? ""
        created = try container.decodeIfPresent(Int64.self, forKey: .created) ?? 0
        state = try container.decodeIfPresent(String.self, forKey: .state) ?? ""
        status = try container.decodeIfPresent(String.self, forKey: .status) ?? ""
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
    }
}
