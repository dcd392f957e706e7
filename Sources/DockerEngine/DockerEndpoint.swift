/// Where dockerd listens.
public enum DockerEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// A Unix socket, normally `/var/run/docker.sock`.
    case unixSocket(path: String)
    /// Plain HTTP over TCP.
    case tcp(host: String, port: Int)

    public static let defaultSocket = DockerEndpoint.unixSocket(path: "/var/run/docker.sock")

    /// The URL prefix requests are made against.
    var baseURL: String {
        switch self {
        case .unixSocket(let path):
            // AsyncHTTPClient reads the socket path from the percent-encoded host of an http+unix URL.
            "http+unix://" + path.percentEncodingAllButUnreserved()
        case .tcp(let host, let port):
            host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
        }
    }

    /// The Host header. dockerd answers 400 without one, and AsyncHTTPClient sends none for Unix sockets.
    var hostHeader: String {
        switch self {
        case .unixSocket: "docker"
        case .tcp(let host, let port): "\(host):\(port)"
        }
    }

    public var description: String {
        switch self {
        case .unixSocket(let path): "unix://\(path)"
        case .tcp(let host, let port): "tcp://\(host):\(port)"
        }
    }
}

extension String {
    /// Percent-encodes everything but unreserved characters (RFC 3986), so that a socket path survives as a
    /// URL host and a value survives as a query parameter.
    func percentEncodingAllButUnreserved() -> String {
        var encoded = ""
        for byte in self.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                encoded += "%"
                encoded.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                encoded.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0x0F)]))
            }
        }
        return encoded
    }
}
