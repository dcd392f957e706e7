import Crypto
public import Foundation

/// AWS Signature Version 4 signing of a request, the counterpart of ``SigV4Verifier``: every header given
/// is signed (`host` among them), with `X-Amz-Date` added, the scope `DATE/REGION/SERVICE/aws4_request`.
public struct SigV4Signer: Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var region: String
    public var service: String

    public init(accessKeyID: String, secretAccessKey: String, region: String, service: String = "ecs") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.region = region
        self.service = service
    }

    /// The headers to add to the request: `X-Amz-Date` and `Authorization`. `headers` are those sent (names
    /// in any case), `host` included; `query` is the query as sent, already percent-encoded.
    public func sign(
        method: String,
        path: String,
        query: String,
        headers: [(name: String, value: String)],
        body: Data,
        now: Date = Date()
    ) -> [(name: String, value: String)] {
        let amzDate = SigV4Verifier.format(now)
        let day = String(amzDate.prefix(8))
        var signed = headers.map { (name: $0.name.lowercased(), value: SigV4Verifier.trim($0.value)) }
        signed.removeAll { $0.name == "x-amz-date" || $0.name == "authorization" }
        signed.append((name: "x-amz-date", value: amzDate))
        let names = Array(Set(signed.map(\.name))).sorted()
        let canonicalHeaders = names.map { name in
            "\(name):\(signed.filter { $0.name == name }.map(\.value).joined(separator: ","))\n"
        }.joined()
        let canonicalRequest = [
            method, path.isEmpty ? "/" : path, SigV4Verifier.canonicalQuery(query), canonicalHeaders,
            names.joined(separator: ";"), SigV4Verifier.sha256Hex(body),
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope, SigV4Verifier.sha256Hex(Data(canonicalRequest.utf8)),
        ].joined(separator: "\n")
        let signature = SigV4Verifier.signature(
            secret: secretAccessKey,
            date: day,
            region: region,
            service: service,
            stringToSign: stringToSign
        )
        return [
            (name: "X-Amz-Date", value: amzDate),
            (
                name: "Authorization",
                value:
                    "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(names.joined(separator: ";")), Signature=\(signature)"
            ),
        ]
    }
}
