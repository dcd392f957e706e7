/// What `GET /images/{name}/json` says about an image.
public struct ImageInspect: Sendable, Hashable, Decodable {
    /// `sha256:…`
    public let id: String
    public let repoTags: [String]
    public let repoDigests: [String]
    /// RFC 3339.
    public let created: String
    public let size: Int64
    public let architecture: String
    public let os: String
    public let configuration: ContainerConfiguration?

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case repoTags = "RepoTags"
        case repoDigests = "RepoDigests"
        case created = "Created"
        case size = "Size"
        case architecture = "Architecture"
        case os = "Os"
        case configuration = "Config"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        repoTags = try container.decodeIfPresent([String].self, forKey: .repoTags) ?? []
        repoDigests = try container.decodeIfPresent([String].self, forKey: .repoDigests) ?? []
        created = try container.decodeIfPresent(String.self, forKey: .created) ?? ""
        size = try container.decodeIfPresent(Int64.self, forKey: .size) ?? 0
        architecture = try container.decodeIfPresent(String.self, forKey: .architecture) ?? ""
        os = try container.decodeIfPresent(String.self, forKey: .os) ?? ""
        configuration = try container.decodeIfPresent(ContainerConfiguration.self, forKey: .configuration)
    }
}

/// One image in `GET /images/json`.
public struct ImageSummary: Sendable, Hashable, Decodable {
    public let id: String
    public let repoTags: [String]
    public let repoDigests: [String]
    /// Seconds since the epoch.
    public let created: Int64
    public let size: Int64
    public let labels: [String: String]
    /// Containers using the image; -1 when dockerd did not count them.
    public let containers: Int

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case repoTags = "RepoTags"
        case repoDigests = "RepoDigests"
        case created = "Created"
        case size = "Size"
        case labels = "Labels"
        case containers = "Containers"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        repoTags = try container.decodeIfPresent([String].self, forKey: .repoTags) ?? []
        repoDigests = try container.decodeIfPresent([String].self, forKey: .repoDigests) ?? []
        created = try container.decodeIfPresent(Int64.self, forKey: .created) ?? 0
        size = try container.decodeIfPresent(Int64.self, forKey: .size) ?? 0
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        containers = try container.decodeIfPresent(Int.self, forKey: .containers) ?? -1
    }
}

/// One effect of `DELETE /images/{name}`: a tag removed or an image or layer deleted.
public struct ImageDeleteResponseItem: Sendable, Hashable, Decodable {
    public let untagged: String?
    public let deleted: String?

    enum CodingKeys: String, CodingKey {
        case untagged = "Untagged"
        case deleted = "Deleted"
    }
}
