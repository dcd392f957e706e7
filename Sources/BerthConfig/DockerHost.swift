/// `DOCKER_HOST`: where dockerd listens, in Docker's own syntax.
public enum DockerHost: Sendable, Hashable, CustomStringConvertible {
    /// `unix:///var/run/docker.sock`
    case unixSocket(path: String)
    /// `tcp://HOST:PORT` (plain HTTP; Berth does not speak TLS to dockerd).
    case tcp(host: String, port: Int)

    public static let `default` = DockerHost.unixSocket(path: "/var/run/docker.sock")

    /// Parses `unix:///absolute/path` or `tcp://host:port`.
    public init(parsing text: String) throws(ConfigurationError) {
        if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard path.hasPrefix("/") else {
                throw ConfigurationError(.invalidValue, "a unix socket address needs an absolute path: unix:///PATH")
            }
            self = .unixSocket(path: path)
        } else if text.hasPrefix("tcp://") {
            let address = String(text.dropFirst("tcp://".count))
            guard let listen = try? ListenAddress(parsing: address) else {
                throw ConfigurationError(.invalidValue, "a tcp address needs a host and a port: tcp://HOST:PORT")
            }
            self = .tcp(host: listen.host, port: listen.port)
        } else {
            throw ConfigurationError(
                .invalidValue,
                "expected unix:///PATH or tcp://HOST:PORT (TLS addresses are not supported)"
            )
        }
    }

    public var description: String {
        switch self {
        case .unixSocket(let path): "unix://\(path)"
        case .tcp(let host, let port): "tcp://\(ListenAddress(unchecked: host, port: port))"
        }
    }
}
