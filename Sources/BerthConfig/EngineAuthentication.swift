import Foundation

/// A user name and password for one registry. Its descriptions never show the secret parts, so that
/// interpolating it into a log line by mistake leaks nothing.
public struct RegistryCredentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public let username: String
    public let password: String
    public let email: String?

    public init(username: String, password: String, email: String? = nil) {
        self.username = username
        self.password = password
        self.email = email
    }

    public var description: String { "RegistryCredentials(<redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// Private registry credentials from `ECS_ENGINE_AUTH_TYPE` and `ECS_ENGINE_AUTH_DATA`.
///
/// - `docker`: `{"REGISTRY":{"username":"…","password":"…","email":"…"}}`
/// - `dockercfg`: `{"REGISTRY":{"auth":"base64(user:password)","email":"…"}}`
///
/// Registry keys may carry a scheme and a `/v1/` or `/v2/` suffix (`https://index.docker.io/v1/`); Docker
/// Hub's host names all mean the same registry. An image uses the longest key that prefixes its name.
public struct EngineAuthentication: Sendable, Hashable, CustomStringConvertible {
    public enum AuthType: String, Sendable, Hashable, CaseIterable {
        case docker
        case dockercfg
    }

    public let type: AuthType
    /// Normalized registry key → credentials.
    private let credentialsByRegistry: [String: RegistryCredentials]

    /// The registries credentials are configured for (not secret).
    public var registries: [String] { credentialsByRegistry.keys.sorted() }

    /// Parses the data. Error messages name registries and fields, never user names or passwords.
    public init(type: AuthType, data: String) throws(ConfigurationError) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else {
            throw ConfigurationError(.invalidValue, "not a JSON object; expected \(Self.expectedShape(type))")
        }
        var credentials: [String: RegistryCredentials] = [:]
        for (registry, entry) in object {
            guard let fields = entry as? [String: Any] else {
                throw ConfigurationError(
                    .invalidValue,
                    "registry '\(registry)' is not a JSON object; expected \(Self.expectedShape(type))"
                )
            }
            let email = fields["email"] as? String
            let parsed: RegistryCredentials
            switch type {
            case .docker:
                guard let username = fields["username"] as? String, !username.isEmpty,
                    let password = fields["password"] as? String
                else {
                    throw ConfigurationError(.invalidValue, "registry '\(registry)' needs string username and password")
                }
                parsed = RegistryCredentials(username: username, password: password, email: email)
            case .dockercfg:
                guard let auth = fields["auth"] as? String,
                    let decoded = Data(base64Encoded: auth).flatMap({ String(data: $0, encoding: .utf8) }),
                    let colon = decoded.firstIndex(of: ":"),
                    colon != decoded.startIndex
                else {
                    throw ConfigurationError(
                        .invalidValue,
                        "registry '\(registry)': auth must be the base64 encoding of USER:PASSWORD"
                    )
                }
                parsed = RegistryCredentials(
                    username: String(decoded[..<colon]),
                    password: String(decoded[decoded.index(after: colon)...]),
                    email: email
                )
            }
            let key = Self.normalizedRegistry(registry)
            guard !key.isEmpty else {
                throw ConfigurationError(.invalidValue, "a registry key is empty")
            }
            credentials[key] = parsed
        }
        self.type = type
        self.credentialsByRegistry = credentials
    }

    /// The credentials for an image reference such as `127.0.0.1:5001/team/app:1.2`, with the registry key
    /// they were found under.
    public func credentials(forImage image: String) -> (registry: String, credentials: RegistryCredentials)? {
        let name = Self.qualifiedName(ofImage: image)
        var best: (registry: String, credentials: RegistryCredentials)?
        for (registry, credentials) in credentialsByRegistry where name == registry || name.hasPrefix(registry + "/") {
            if registry.count > (best?.registry.count ?? -1) { best = (registry, credentials) }
        }
        return best
    }

    public var description: String {
        "\(type.rawValue) credentials for \(registries.joined(separator: ", ")) (<redacted>)"
    }

    static let dockerHubHosts: Set<String> = [
        "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com",
    ]

    /// `https://index.docker.io/v1/` → `index.docker.io`; `http://127.0.0.1:5001/` → `127.0.0.1:5001`.
    static func normalizedRegistry(_ key: String) -> String {
        var key = Substring(key.trimmingCharacters(in: .whitespaces))
        for scheme in ["https://", "http://"] where key.lowercased().hasPrefix(scheme) {
            key = key.dropFirst(scheme.count)
        }
        while key.hasSuffix("/") { key = key.dropLast() }
        for suffix in ["/v1", "/v2"] where key.hasSuffix(suffix) {
            key = key.dropLast(suffix.count)
        }
        let parts = key.split(separator: "/", maxSplits: 1)
        guard let host = parts.first.map({ $0.lowercased() }) else { return "" }
        let canonicalHost = dockerHubHosts.contains(host) ? "index.docker.io" : host
        return parts.count > 1 ? "\(canonicalHost)/\(parts[1])" : canonicalHost
    }

    /// The image name with its registry made explicit and tag or digest dropped, as Docker resolves it:
    /// the first component is a registry when it has a `.` or `:` or is `localhost`; otherwise Docker Hub.
    static func qualifiedName(ofImage image: String) -> String {
        var name = Substring(image)
        if let at = name.firstIndex(of: "@") { name = name[..<at] }
        if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") { name = name[..<colon] }
        let parts = name.split(separator: "/", maxSplits: 1)
        guard parts.count == 2,
            parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost"
        else {
            let path = parts.count == 1 ? "library/\(name)" : String(name)
            return "index.docker.io/\(path)"
        }
        let host = parts[0].lowercased()
        return "\(dockerHubHosts.contains(host) ? "index.docker.io" : host)/\(parts[1])"
    }

    private static func expectedShape(_ type: AuthType) -> String {
        switch type {
        case .docker: #"{"REGISTRY":{"username":"USER","password":"PASSWORD"}}"#
        case .dockercfg: #"{"REGISTRY":{"auth":"BASE64(USER:PASSWORD)"}}"#
        }
    }
}
