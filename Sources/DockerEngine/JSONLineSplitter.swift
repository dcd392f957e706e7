import NIOCore

/// Cuts a byte stream into the newline-terminated JSON messages dockerd streams (pull progress, events),
/// whatever the chunk boundaries: a chunk may hold half a message or several.
struct JSONLineSplitter {
    private var pending: [UInt8] = []

    /// The complete, non-blank lines the chunk finishes, without their line endings.
    mutating func append(_ chunk: ByteBuffer) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        chunk.withUnsafeReadableBytes { bytes in
            var start = bytes.startIndex
            while let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
                pending.append(contentsOf: bytes[start..<newline])
                if let line = Self.trimmed(pending) { lines.append(line) }
                pending.removeAll(keepingCapacity: true)
                start = newline + 1
            }
            pending.append(contentsOf: bytes[start...])
        }
        return lines
    }

    /// What is left when the stream ends: a last message without a newline, if any.
    mutating func finish() -> [UInt8]? {
        defer { pending.removeAll() }
        return Self.trimmed(pending)
    }

    private static func trimmed(_ line: [UInt8]) -> [UInt8]? {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
        guard let first = line.firstIndex(where: { !isSpace($0) }), let last = line.lastIndex(where: { !isSpace($0) })
        else { return nil }
        return Array(line[first...last])
    }
}
