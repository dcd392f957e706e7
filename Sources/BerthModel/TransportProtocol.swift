/// The protocol of a port mapping or a network binding (`TransportProtocol` in the ECS API).
public enum TransportProtocol: String, Sendable, Hashable, CaseIterable, Codable {
    case tcp
    case udp
}
