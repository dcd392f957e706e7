import HTTPTypes

extension HTTPRequest {
    /// The request's headers as a SigV4 signature covers them: lower-case names, and `host`, which HTTP/1
    /// delivers as the request's authority rather than as a header.
    var signableHeaders: [(name: String, value: String)] {
        var headers = headerFields.map { (name: $0.name.canonicalName, value: $0.value) }
        if let authority, !headers.contains(where: { $0.name == "host" }) {
            headers.append((name: "host", value: authority))
        }
        return headers
    }
}
