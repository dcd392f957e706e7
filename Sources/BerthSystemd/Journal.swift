import CSystemd
import Foundation

/// systemd's journal: whether standard error is connected to it, and sending one structured entry through
/// libsystemd (`sd_journal_sendv`, the native protocol, so fields stay fields).
public enum Journal {
    /// True when systemd connected standard error to the journal: JOURNAL_STREAM names the device and inode
    /// of that stream, and they match standard error's (systemd.exec(5)); a child that inherited the
    /// variable but not the stream does not match.
    public static func isStandardErrorConnected(journalStream: String? = nil) -> Bool {
        guard let stream = journalStream ?? ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else {
            return false
        }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(STDERR_FILENO, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }

    /// Sends one entry of `FIELD=value` strings; false when the journal did not take it.
    @discardableResult
    public static func send(_ fields: [String]) -> Bool {
        var buffer: [UInt8] = []
        var ranges: [Range<Int>] = []
        for field in fields {
            let start = buffer.count
            buffer.append(contentsOf: field.utf8)
            ranges.append(start..<buffer.count)
        }
        return buffer.withUnsafeMutableBytes { bytes in
            guard let base = bytes.baseAddress else { return false }
            var vectors = ranges.map { iovec(iov_base: base + $0.lowerBound, iov_len: $0.count) }
            return sd_journal_sendv(&vectors, Int32(vectors.count)) >= 0
        }
    }
}
