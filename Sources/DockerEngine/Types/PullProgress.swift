/// One message of an image pull's progress stream.
public struct PullProgress: Sendable, Hashable, Decodable {
    /// `Pulling fs layer`, `Downloading`, `Download complete`, `Pull complete`, `Digest: sha256:…`, …
    public let status: String?
    /// The layer (or tag) the message is about.
    public let id: String?
    /// Bytes done and expected, for `Downloading` and `Extracting`.
    public let current: Int64?
    public let total: Int64?
    /// Set when the pull failed part way.
    public let errorMessage: String?

    enum CodingKeys: String, CodingKey {
        case status
        case id
        case progressDetail
        case error
        case errorDetail
    }

    enum DetailKeys: String, CodingKey {
        case current
        case total
        case message
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decodeIfPresent(String.self, forKey: .status)
        id = try container.decodeIfPresent(String.self, forKey: .id)
        if let detail = try? container.nestedContainer(keyedBy: DetailKeys.self, forKey: .progressDetail) {
            current = try detail.decodeIfPresent(Int64.self, forKey: .current)
            total = try detail.decodeIfPresent(Int64.self, forKey: .total)
        } else {
            current = nil
            total = nil
        }
        let detailMessage = try? container.nestedContainer(keyedBy: DetailKeys.self, forKey: .errorDetail)
            .decodeIfPresent(String.self, forKey: .message)
        errorMessage = try detailMessage ?? container.decodeIfPresent(String.self, forKey: .error)
    }

    /// The digest the pull resolved, from its `Digest: sha256:…` message.
    public var digest: String? {
        guard let status, status.hasPrefix("Digest: ") else { return nil }
        return String(status.dropFirst("Digest: ".count))
    }
}

/// How a pull ended.
public struct PullResult: Sendable, Hashable {
    /// The reference that was pulled, with its tag made explicit.
    public let reference: ImageReference
    /// The manifest digest dockerd reported, when it did.
    public let digest: String?
    /// The last status line, such as `Status: Downloaded newer image for …` or `Status: Image is up to date …`.
    public let finalStatus: String?
    /// Sum of the sizes of the layers that were downloaded (0 when everything was cached).
    public let downloadedBytes: Int64
}
