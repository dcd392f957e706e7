public import DockerEngine

#if canImport(Glibc)
import Glibc
#endif

/// The host's address on Docker's default bridge: where bridge-mode containers reach the agent (the task
/// metadata endpoint). dockerd does not always say it: on a daemon whose state is new, `network inspect
/// bridge` may carry the subnet and no gateway while the bridge interface has the address.
public enum BridgeAddress {
    /// What the agent learned, and from where; or why bridge containers cannot be given an address.
    public enum Resolution: Sendable, Hashable {
        case address(String, source: String)
        case unavailable(cause: String)

        public var address: String? {
            if case .address(let address, _) = self { return address }
            return nil
        }
    }

    /// The IPAM gateway when present; otherwise the first IPv4 address of the interface the network
    /// names (`com.docker.network.bridge.name`); otherwise unavailable, with the reason.
    public static func resolve(
        _ network: NetworkInspect,
        interfaceAddresses: (String) -> [String] = InterfaceAddresses.ipv4
    ) -> Resolution {
        if let gateway = network.ipv4Gateway {
            return .address(gateway, source: "the IPAM gateway of Docker's '\(network.name)' network")
        }
        guard let interface = network.bridgeInterface else {
            return .unavailable(
                cause:
                    "Docker's '\(network.name)' network has no IPv4 gateway in its IPAM configuration and names no bridge interface"
            )
        }
        guard let address = interfaceAddresses(interface).first else {
            return .unavailable(
                cause:
                    "Docker's '\(network.name)' network has no IPv4 gateway in its IPAM configuration, and its interface \(interface) has no IPv4 address"
            )
        }
        return .address(address, source: "interface \(interface) of Docker's '\(network.name)' network")
    }
}

/// The addresses of the host's network interfaces, from getifaddrs(3).
public enum InterfaceAddresses {
    /// The IPv4 addresses of interface `name`, in the kernel's order; empty when it has none or does not
    /// exist.
    @Sendable public static func ipv4(_ name: String) -> [String] {
        #if canImport(Glibc)
        var first: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&first) == 0 else { return [] }
        defer { freeifaddrs(first) }
        var found: [String] = []
        var cursor = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                String(cString: entry.pointee.ifa_name) == name
            else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let written = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet -> Bool in
                var raw = inet.pointee.sin_addr
                return inet_ntop(AF_INET, &raw, &text, socklen_t(INET_ADDRSTRLEN)) != nil
            }
            if written {
                found.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        return found
        #else
        return []
        #endif
    }
}
