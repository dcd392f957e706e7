/// A `HOST:PORT` address to listen on or connect to; IPv6 hosts are written in brackets (`[::1]:51680`).
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host without brackets.
    public let host: String
    public let port: Int

    public init(parsing text: String) throws(ConfigurationError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ConfigurationError(.invalidValue, "expected [IPV6]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw ConfigurationError(.invalidValue, "expected HOST:PORT, such as 127.0.0.1:51680")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }) else {
            throw ConfigurationError(.invalidValue, "expected HOST:PORT with a host name or address before the colon")
        }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw ConfigurationError(.invalidValue, "the port must be a number from 1 to 65535")
        }
        self.host = String(host)
        self.port = port
    }

    init(unchecked host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Whether connections to this address can only come from this host.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
