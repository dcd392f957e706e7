import Foundation

/// BERTH_DATABASE_URL: where the control plane's shared state is, libpq's URL form
/// (`postgres://user:password@host:5432/berth?sslmode=verify-full`). Its `description` never shows the
/// password.
public struct DatabaseURL: Sendable, Hashable, CustomStringConvertible {
    /// libpq's `sslmode`: `disable`; `prefer` and `require` encrypt without checking the certificate;
    /// `verify-ca` checks its chain; `verify-full` also its name.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case disable
        case prefer
        case require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public enum Endpoint: Sendable, Hashable {
        case tcp(host: String, port: Int)
        /// The server's socket file (libpq's `host=/directory` with the port: `/directory/.s.PGSQL.5432`).
        case unixSocket(path: String)
    }

    public var endpoint: Endpoint
    public var user: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode
    /// `sslrootcert`: PEM certificates to trust instead of the system's store.
    public var rootCertificateFile: String?

    public init(
        endpoint: Endpoint,
        user: String,
        password: String?,
        database: String,
        tlsMode: TLSMode = .prefer,
        rootCertificateFile: String? = nil
    ) {
        self.endpoint = endpoint
        self.user = user
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
        self.rootCertificateFile = rootCertificateFile
    }

    /// Reads a URL; the error says what is wrong without quoting the password.
    public static func parse(_ text: String) -> Result<DatabaseURL, DatabaseURLError> {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return .failure(DatabaseURLError("not a URL such as postgres://user:password@host:5432/berth"))
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            return .failure(DatabaseURLError("the scheme must be postgres:// or postgresql://, not \(scheme)://"))
        }
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            return .failure(DatabaseURLError("names no user (postgres://USER:password@host/database)"))
        }
        let password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            return .failure(DatabaseURLError("names no database (postgres://user:password@host/DATABASE)"))
        }
        var port = components.port ?? 5432
        var tlsMode = TLSMode.prefer
        var rootCertificateFile: String?
        var socketDirectory: String?
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    let modes = TLSMode.allCases.map(\.rawValue).joined(separator: ", ")
                    return .failure(DatabaseURLError("sslmode=\(value) is not one of \(modes)"))
                }
                tlsMode = mode
            case "sslrootcert":
                guard value.hasPrefix("/") else {
                    return .failure(DatabaseURLError("sslrootcert must be an absolute path"))
                }
                rootCertificateFile = value
            case "port":
                guard let number = Int(value) else {
                    return .failure(DatabaseURLError("port=\(value) in the query is not a number"))
                }
                port = number
            case "host":
                guard value.hasPrefix("/") else {
                    return .failure(
                        DatabaseURLError("host=\(value) in the query must be a socket directory (an absolute path)")
                    )
                }
                socketDirectory = value
            default:
                return .failure(
                    DatabaseURLError(
                        "the parameter \(item.name) is not understood (sslmode, sslrootcert, host and port are)"
                    )
                )
            }
        }
        guard (1...65535).contains(port) else {
            return .failure(DatabaseURLError("port \(port) is not between 1 and 65535"))
        }
        let endpoint: Endpoint
        if let socketDirectory {
            endpoint = .unixSocket(path: "\(socketDirectory)/.s.PGSQL.\(port)")
        } else if let host = components.host, !host.isEmpty {
            endpoint = .tcp(host: host, port: port)
        } else {
            return .failure(
                DatabaseURLError("names no host (postgres://user:password@HOST/database, or ?host=/socket/directory)")
            )
        }
        if case .unixSocket = endpoint, tlsMode != .disable, tlsMode != .prefer {
            return .failure(
                DatabaseURLError("sslmode=\(tlsMode.rawValue) needs a TCP host: a Unix socket carries no TLS")
            )
        }
        return .success(
            DatabaseURL(
                endpoint: endpoint,
                user: user,
                password: password,
                database: database,
                tlsMode: tlsMode,
                rootCertificateFile: rootCertificateFile
            )
        )
    }

    public var description: String {
        let credentials = password == nil ? user : "\(user):<redacted>"
        var query = ["sslmode=\(tlsMode.rawValue)"]
        if let rootCertificateFile { query.append("sslrootcert=\(rootCertificateFile)") }
        switch endpoint {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "postgres://\(credentials)@\(shownHost):\(port)/\(database)?\(query.joined(separator: "&"))"
        case .unixSocket(let path):
            let directory = (path as NSString).deletingLastPathComponent
            let port = path.split(separator: ".").last.map(String.init) ?? "5432"
            return
                "postgres://\(credentials)@/\(database)?host=\(directory)&port=\(port)&\(query.joined(separator: "&"))"
        }
    }
}

public struct DatabaseURLError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
