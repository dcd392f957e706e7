/// A Docker volume.
public struct Volume: Sendable, Hashable, Decodable {
    public let name: String
    public let driver: String
    public let mountpoint: String
    /// RFC 3339, when the driver reports it.
    public let createdAt: String?
    public let labels: [String: String]
    /// `local` or `global`.
    public let scope: String
    public let options: [String: String]

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case driver = "Driver"
        case mountpoint = "Mountpoint"
        case createdAt = "CreatedAt"
        case labels = "Labels"
        case scope = "Scope"
        case options = "Options"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        driver = try container.decodeIfPresent(String.self, forKey: .driver) ?? ""
        mountpoint = try container.decodeIfPresent(String.self, forKey: .mountpoint) ?? ""
        createdAt = try container.decodeIfPresent(String.self, forKey: .createdAt)
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        scope = try container.decodeIfPresent(String.self, forKey: .scope) ?? ""
        options = try container.decodeIfPresent([String: String].self, forKey: .options) ?? [:]
    }
}

/// The body of `POST /volumes/create`.
public struct VolumeCreateRequest: Sendable, Hashable, Encodable {
    public var name: String
    public var driver: String?
    public var driverOptions: [String: String]?
    public var labels: [String: String]?

    public init(
        name: String,
        driver: String? = nil,
        driverOptions: [String: String]? = nil,
        labels: [String: String]? = nil
    ) {
        self.name = name
        self.driver = driver
        self.driverOptions = driverOptions
        self.labels = labels
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case driver = "Driver"
        case driverOptions = "DriverOpts"
        case labels = "Labels"
    }
}
