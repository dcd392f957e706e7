import BerthControlPlane
import SigV4

/// An ECS API error as clients see it: `{"__type": code, "message": ...}` with 400, or 500 for faults.
/// Every error of the layers below becomes one of these here, and only here.
struct APIError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: String, Sendable {
        case client = "ClientException"
        case invalidParameter = "InvalidParameterException"
        case serialization = "SerializationException"
        case unknownOperation = "UnknownOperationException"
        case unsupportedFeature = "UnsupportedFeatureException"
        case unrecognizedClient = "UnrecognizedClientException"
        case invalidSignature = "InvalidSignatureException"
        case missingAuthentication = "MissingAuthenticationTokenException"
        case server = "ServerException"
    }

    let type: String
    let message: String

    init(_ code: Code, _ message: String) {
        self.type = code.rawValue
        self.message = message
    }

    init(_ error: SigV4Error) {
        self.type = error.code.rawValue
        self.message = error.message
    }

    init(_ error: ClusterError) {
        self.type = error.code.rawValue
        self.message = error.message
    }

    /// 500 only for real faults: botocore retries them; a client mistake retried is a mistake five times.
    var status: Int { type == Code.server.rawValue ? 500 : 400 }

    /// What a client is told of a fault: its request ID, to find the cause in the log, and nothing of the
    /// cause itself (a store's error, a path).
    static func faultMessage(requestID: String) -> String {
        "The server could not complete the request; try again (request ID \(requestID))."
    }

    var description: String { "\(type): \(message)" }
}
