/// The body of `POST /containers/create`: the configuration and the host configuration side by side.
public struct ContainerCreateRequest: Sendable, Hashable, Encodable {
    public var configuration: ContainerConfiguration
    public var hostConfiguration: HostConfiguration

    public init(configuration: ContainerConfiguration, hostConfiguration: HostConfiguration = HostConfiguration()) {
        self.configuration = configuration
        self.hostConfiguration = hostConfiguration
    }

    enum CodingKeys: String, CodingKey {
        case hostConfig = "HostConfig"
    }

    public func encode(to encoder: any Encoder) throws {
        // Docker reads the configuration's members at the top level, beside HostConfig.
        try configuration.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(hostConfiguration, forKey: .hostConfig)
    }
}

/// The answer to a create.
public struct ContainerCreateResponse: Sendable, Hashable, Decodable {
    public let id: String
    public let warnings: [String]

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case warnings = "Warnings"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        warnings = try container.decodeIfPresent([String].self, forKey: .warnings) ?? []
    }
}
