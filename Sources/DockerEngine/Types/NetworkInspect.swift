/// A Docker network, as much of it as the agent reads.
public struct NetworkInspect: Sendable, Hashable, Decodable {
    public let name: String
    public let id: String
    public let driver: String
    public let ipam: IPAM

    /// Address management: the network's subnets and their gateways.
    public struct IPAM: Sendable, Hashable, Decodable {
        public let config: [Config]

        public struct Config: Sendable, Hashable, Decodable {
            public let subnet: String?
            public let gateway: String?

            enum CodingKeys: String, CodingKey {
                case subnet = "Subnet"
                case gateway = "Gateway"
            }
        }

        enum CodingKeys: String, CodingKey {
            case config = "Config"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            config = try container.decodeIfPresent([Config].self, forKey: .config) ?? []
        }
    }

    /// The first IPv4 gateway: the host's address on the network, which its containers reach.
    public var ipv4Gateway: String? {
        ipam.config.compactMap(\.gateway).first { !$0.contains(":") }
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case id = "Id"
        case driver = "Driver"
        case ipam = "IPAM"
    }
}
