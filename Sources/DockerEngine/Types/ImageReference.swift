/// An image reference split as Docker splits it: `[registry/]path[:tag][@digest]`.
///
/// The pull API needs the tag separately: asked for a name without one, dockerd would pull every tag.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    /// The registry host, when the reference names one (`127.0.0.1:5000`, `registry.example.com`).
    public let registry: String?
    /// The repository path within the registry (`berth/busybox`, `library/nginx`, or `nginx` as written).
    public let path: String
    /// The tag; `latest` when neither tag nor digest is given.
    public let tag: String?
    /// `sha256:…`, when pinned.
    public let digest: String?

    /// Parses a reference; nil when it is empty or malformed.
    public init?(_ text: String) {
        guard !text.isEmpty, !text.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" }) else { return nil }
        var rest = Substring(text)
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            digest = String(rest[rest.index(after: at)...])
            rest = rest[..<at]
            guard let value = digest, value.contains(":") else { return nil }
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
            guard let value = tag, !value.isEmpty else { return nil }
        }
        var registry: String?
        if let slash = rest.firstIndex(of: "/") {
            let first = rest[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" {
                registry = String(first)
                rest = rest[rest.index(after: slash)...]
            }
        }
        guard !rest.isEmpty, !rest.hasPrefix("/"), !rest.hasSuffix("/") else { return nil }
        self.registry = registry
        self.path = String(rest)
        self.tag = tag ?? (digest == nil ? "latest" : nil)
        self.digest = digest
    }

    /// `registry/path` without tag or digest: the `fromImage` of a pull.
    public var repository: String { registry.map { "\($0)/\(path)" } ?? path }

    /// The reference with its tag made explicit.
    public var description: String {
        var text = repository
        if let tag { text += ":\(tag)" }
        if let digest { text += "@\(digest)" }
        return text
    }
}
