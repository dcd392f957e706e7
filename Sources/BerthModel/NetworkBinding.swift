/// Where a container port is reachable on the host (`NetworkBinding`).
public struct NetworkBinding: Sendable, Hashable, Codable, CustomStringConvertible {
    public var bindIP: String
    public var containerPort: Int
    public var hostPort: Int
    public var `protocol`: TransportProtocol

    public init(bindIP: String, containerPort: Int, hostPort: Int, protocol: TransportProtocol) {
        self.bindIP = bindIP
        self.containerPort = containerPort
        self.hostPort = hostPort
        self.protocol = `protocol`
    }

    public var description: String { "\(bindIP):\(hostPort)->\(containerPort)/\(`protocol`.rawValue)" }
}
