public import BerthModel

#if canImport(Glibc)
import Glibc
#endif

/// Whether a host port can be bound now: the agent's check before it hands a dynamic port to a container,
/// so that it does not pick one another program listens on.
public enum PortProbe {
    @Sendable public static func isFree(_ port: Int, _ transport: TransportProtocol) -> Bool {
        #if canImport(Glibc)
        let kind = transport == .udp ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue)
        let descriptor = socket(AF_INET, kind, 0)
        guard descriptor >= 0 else { return true }
        defer { close(descriptor) }
        // As dockerd's proxy binds: a port lingering in TIME_WAIT is usable.
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: INADDR_ANY)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result == 0
        #else
        return true
        #endif
    }
}
