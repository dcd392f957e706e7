import BerthAgent
import BerthModel
import Foundation
import Synchronization

/// TCP ports for what a test starts (an agent's API, its introspection and metadata listeners, a fixed
/// host port of a task). They are taken below the kernel's ephemeral range: the agent hands out dynamic
/// host ports from that range and the kernel picks outgoing ports there, either of which could take a
/// port between the test choosing it and binding it. A port is handed out once per test process.
public enum TestPorts {
    /// Where the ports come from.
    static let pool = 20_000...29_999
    private static let handedOut = Mutex<Set<Int>>([])

    public struct Exhausted: Error, CustomStringConvertible {
        public var description: String { "no free TCP port in \(TestPorts.pool) below the ephemeral range" }
    }

    /// A port nothing listens on now, never handed out before in this process.
    public static func free() throws -> Int {
        let ephemeral = ephemeralRange()
        for port in pool.shuffled() where !ephemeral.contains(port) && PortProbe.isFree(port, .tcp) {
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            if fresh { return port }
        }
        throw Exhausted()
    }

    /// `net.ipv4.ip_local_port_range`, or Linux's default.
    static func ephemeralRange() -> ClosedRange<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] <= bounds[1] else { return 32_768...60_999 }
        return bounds[0]...bounds[1]
    }
}
