import Crypto
public import Foundation

/// Why a request's signature was not accepted, in the ECS API's words.
public struct SigV4Error: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case missingAuthentication = "MissingAuthenticationTokenException"
        case unrecognizedClient = "UnrecognizedClientException"
        case invalidSignature = "InvalidSignatureException"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// AWS Signature Version 4 verification of a request, as botocore signs them: the canonical request from
/// the signed headers and the body's hash, the scope `DATE/REGION/SERVICE/aws4_request`, HMAC-SHA256
/// down the key chain, compared in constant time; requests older or newer than the skew are refused.
public struct SigV4Verifier: Sendable {
    /// Secret keys by access key ID.
    public let secrets: [String: String]
    public let service: String
    public let allowedSkew: TimeInterval

    public init(secrets: [String: String], service: String = "ecs", allowedSkew: TimeInterval = 300) {
        self.secrets = secrets
        self.service = service
        self.allowedSkew = allowedSkew
    }

    /// The caller a verified request came from.
    public struct Caller: Sendable, Hashable {
        public var accessKeyID: String
        public var region: String
    }

    /// Verifies a request. `headers` are the request's headers as received (names in any case).
    public func verify(
        method: String,
        path: String,
        query: String,
        headers: [(name: String, value: String)],
        body: Data,
        now: Date = Date()
    ) throws(SigV4Error) -> Caller {
        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name }?.value
        }
        guard let authorization = header("authorization") else {
            throw SigV4Error(.missingAuthentication, "Missing Authentication Token")
        }
        let parsed = try Authorization(parsing: authorization)
        guard let secret = secrets[parsed.accessKeyID] else {
            throw SigV4Error(.unrecognizedClient, "The security token included in the request is invalid.")
        }
        guard parsed.service == service else {
            throw SigV4Error(.invalidSignature, "Credential should be scoped to correct service: '\(service)'.")
        }
        guard let amzDate = header("x-amz-date"), let signedAt = Self.parse(amzDate) else {
            throw SigV4Error(.invalidSignature, "The request must carry a valid X-Amz-Date header.")
        }
        guard amzDate.hasPrefix(parsed.date) else {
            throw SigV4Error(.invalidSignature, "Date in Credential scope does not match YYYYMMDD from X-Amz-Date.")
        }
        if abs(signedAt.timeIntervalSince(now)) > allowedSkew {
            throw SigV4Error(
                .invalidSignature,
                "Signature expired: \(amzDate) is now earlier than \(Self.format(now.addingTimeInterval(-allowedSkew))) (\(Self.format(now)) - 5 min.)"
            )
        }
        guard parsed.signedHeaders.contains("host") else {
            throw SigV4Error(.invalidSignature, "The host header must be signed.")
        }
        var canonicalHeaders = ""
        for name in parsed.signedHeaders {
            let values = headers.filter { $0.name.lowercased() == name }.map { Self.trim($0.value) }
            guard !values.isEmpty else {
                throw SigV4Error(.invalidSignature, "The signed header '\(name)' is missing from the request.")
            }
            canonicalHeaders += "\(name):\(values.joined(separator: ","))\n"
        }
        let payloadHash = header("x-amz-content-sha256") ?? Self.hex(SHA256.hash(data: body))
        let canonicalRequest = [
            method, path.isEmpty ? "/" : path, Self.canonicalQuery(query), canonicalHeaders,
            parsed.signedHeaders.joined(separator: ";"), payloadHash,
        ].joined(separator: "\n")
        let scope = "\(parsed.date)/\(parsed.region)/\(parsed.service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        let expected = Self.signature(
            secret: secret,
            date: parsed.date,
            region: parsed.region,
            service: parsed.service,
            stringToSign: stringToSign
        )
        guard Self.constantTimeEqual(expected, parsed.signature.lowercased()) else {
            throw SigV4Error(
                .invalidSignature,
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
            )
        }
        return Caller(accessKeyID: parsed.accessKeyID, region: parsed.region)
    }

    /// The signature of `stringToSign` with the key derived for the scope.
    public static func signature(
        secret: String,
        date: String,
        region: String,
        service: String,
        stringToSign: String
    )
        -> String
    {
        var key = SymmetricKey(data: Data("AWS4\(secret)".utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
    }

    struct Authorization {
        var accessKeyID: String
        var date: String
        var region: String
        var service: String
        var signedHeaders: [String]
        var signature: String

        init(parsing header: String) throws(SigV4Error) {
            let malformed = SigV4Error(
                .invalidSignature,
                "The Authorization header is not an AWS4-HMAC-SHA256 signature."
            )
            guard header.hasPrefix("AWS4-HMAC-SHA256 ") else { throw malformed }
            var fields: [String: String] = [:]
            for part in header.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",") {
                let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                guard pair.count == 2 else { throw malformed }
                fields[String(pair[0])] = String(pair[1])
            }
            guard let credential = fields["Credential"], let signed = fields["SignedHeaders"],
                let signature = fields["Signature"]
            else { throw malformed }
            let scope = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard scope.count == 5, scope[4] == "aws4_request" else { throw malformed }
            accessKeyID = scope[0]
            date = scope[1]
            region = scope[2]
            service = scope[3]
            signedHeaders = signed.split(separator: ";").map { $0.lowercased() }
            self.signature = signature
        }
    }

    static func trim(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    /// The query as SigV4 signs it: each name and value decoded and encoded again (RFC 3986, spaces as
    /// `%20`), sorted by name then value. Decoding first matters: the ECS agent's WebSocket URL writes
    /// spaces as `+` (Go's form encoding) while its signer signs `%20`.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&").map { pair -> (name: String, value: String) in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (
                name: encodeComponent(decodeComponent(parts[0])),
                value: parts.count > 1 ? encodeComponent(decodeComponent(parts[1])) : ""
            )
        }
        return pairs.sorted { $0.name == $1.name ? $0.value < $1.value : $0.name < $1.name }
            .map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    private static func decodeComponent(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// RFC 3986's unreserved characters stay; every other byte is `%XX`, upper-case: how SigV4 writes a
    /// query's names and values, and so how a signed URL's query should be sent.
    public static func encodeComponent(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded += String(format: "%%%02X", byte)
            }
        }
        return encoded
    }

    /// Lowercase hex of SHA-256, as payload hashes and canonical requests are written.
    public static func sha256Hex(_ data: Data) -> String { hex(SHA256.hash(data: data)) }

    static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func constantTimeEqual(_ left: String, _ right: String) -> Bool {
        let a = Array(left.utf8)
        let b = Array(right.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    static func parse(_ amzDate: String) -> Date? { formatter().date(from: amzDate) }
    static func format(_ date: Date) -> String { formatter().string(from: date) }

    private static func formatter() -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter
    }
}

/// Access keys from a file in the aws CLI's credentials format:
///
///     [operator]
///     aws_access_key_id = AKIA...
///     aws_secret_access_key = ...
///
/// Every section is one key pair; the section names are only labels.
public enum CredentialsFile {
    public static func parse(_ text: String) -> [String: String] {
        var secrets: [String: String] = [:]
        var keyID: String?
        var secret: String?
        func flush() {
            if let keyID, let secret { secrets[keyID] = secret }
            keyID = nil
            secret = nil
        }
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                flush()
                continue
            }
            let pair = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            switch pair[0].lowercased() {
            case "aws_access_key_id": keyID = pair[1]
            case "aws_secret_access_key": secret = pair[1]
            default: continue
            }
        }
        flush()
        return secrets
    }
}
