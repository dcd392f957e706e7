import BerthTestSupport
import Foundation
import Synchronization

/// A Unix datagram socket standing in for one of systemd's (NOTIFY_SOCKET, the journal's), recording what
/// arrives and when.
final class DatagramSocket: Sendable {
    let path: String
    let descriptor: Int32
    let received = Mutex<[(datagram: [UInt8], at: ContinuousClock.Instant)]>([])

    /// Bound at `path`, or at a new path in the temporary directory.
    init(path: String? = nil) throws {
        let path =
            path
            ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                "berth-socket-\(UUID().uuidString.prefix(8))"
            ).path
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw WaitTimeout("socket: \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw WaitTimeout("bind \(path): \(errno)") }
        // Anyone may send: the sender can be another user's process in another mount namespace.
        chmod(path, 0o666)
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Receives until `stop` says so, on a thread of its own.
    func listen(until stop: @escaping @Sendable () -> Bool) async throws {
        try await offThePool {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while !stop() {
                let count = recv(self.descriptor, &buffer, buffer.count, 0)
                guard count > 0 else { continue }
                let datagram = Array(buffer[0..<count])
                self.received.withLock { $0.append((datagram, .now)) }
            }
        }
    }

    var datagrams: [[UInt8]] { received.withLock { $0.map(\.datagram) } }

    /// The datagrams as text (the notification protocol's).
    var messages: [String] { datagrams.map { String(decoding: $0, as: UTF8.self) } }

    func first(containing text: String) -> ContinuousClock.Instant? {
        received.withLock { $0.first { String(decoding: $0.datagram, as: UTF8.self).contains(text) }?.at }
    }

    /// Waits (at most `timeout`, looking every 10 ms) until `condition` holds of what has been received;
    /// whether it does.
    @discardableResult
    func wait(timeout: Duration = TestEnvironment.loadedWait, until condition: () -> Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !condition(), clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        return condition()
    }

    func close() {
        _ = Glibc.close(descriptor)
        unlink(path)
    }
}
