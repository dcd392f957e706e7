import Foundation

/// Credentials for one pull, sent to dockerd in the `X-Registry-Auth` header. Its descriptions never show
/// the secret parts.
public struct RegistryAuth: Sendable, Hashable, Encodable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public var username: String
    public var password: String
    public var email: String?
    /// The registry, such as `127.0.0.1:5001` or `https://index.docker.io/v1/`.
    public var serverAddress: String

    public init(username: String, password: String, email: String? = nil, serverAddress: String) {
        self.username = username
        self.password = password
        self.email = email
        self.serverAddress = serverAddress
    }

    enum CodingKeys: String, CodingKey {
        case username
        case password
        case email
        case serverAddress = "serveraddress"
    }

    /// The header value: the JSON object in URL-safe base64, as the Docker CLI sends it.
    var headerValue: String {
        let json = (try? JSONEncoder().encode(self)) ?? Data()
        return json.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
    }

    public var description: String { "RegistryAuth(\(serverAddress), <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["serverAddress": serverAddress], displayStyle: .struct) }
}
