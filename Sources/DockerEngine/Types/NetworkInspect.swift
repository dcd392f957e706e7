/// A Docker network, as much of it as the agent reads.
public struct NetworkInspect: Sendable, Hashable, Decodable {
    public let name: String
    public let id: String
    public let driver: String
    public let ipam: IPAM
    /// Driver options: for a bridge network, `com.docker.network.bridge.name` names its interface.
    public let options: [String: String]

    public init(name: String, id: String, driver: String, ipam: IPAM, options: [String: String] = [:]) {
        self.name = name
        self.id = id
        self.driver = driver
        self.ipam = ipam
        self.options = options
    }

    /// Address management: the network's subnets and their gateways.
    public struct IPAM: Sendable, Hashable, Decodable {
        public let config: [Config]

        public struct Config: Sendable, Hashable, Decodable {
            public let subnet: String?
            public let gateway: String?

            public init(subnet: String?, gateway: String?) {
                self.subnet = subnet
                self.gateway = gateway
            }

            enum CodingKeys: String, CodingKey {
                case subnet = "Subnet"
                case gateway = "Gateway"
            }
        }

        public init(config: [Config]) { self.config = config }

        enum CodingKeys: String, CodingKey {
            case config = "Config"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            config = try container.decodeIfPresent([Config].self, forKey: .config) ?? []
        }
    }

    /// The first IPv4 gateway: the host's address on the network, which its containers reach. A dockerd
    /// whose state is new may leave it out of the default bridge's IPAM (the address is then only on the
    /// bridge interface).
    public var ipv4Gateway: String? {
        ipam.config.compactMap(\.gateway).first { !$0.isEmpty && !$0.contains(":") }
    }

    /// The host interface of a bridge network (`docker0`), when the driver names it.
    public var bridgeInterface: String? {
        options["com.docker.network.bridge.name"].flatMap { $0.isEmpty ? nil : $0 }
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case id = "Id"
        case driver = "Driver"
        case ipam = "IPAM"
        case options = "Options"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        id = try container.decode(String.self, forKey: .id)
        driver = try container.decode(String.self, forKey: .driver)
        ipam = try container.decode(IPAM.self, forKey: .ipam)
        options = try container.decodeIfPresent([String: String].self, forKey: .options) ?? [:]
    }
}
