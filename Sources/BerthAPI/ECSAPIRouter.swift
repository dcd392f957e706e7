public import BerthControlPlane
import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import Metrics
import NIOCore
public import SigV4

/// The ECS JSON 1.1 API on `POST /`: the operation comes from `X-Amz-Target`, the body is checked against
/// the model, and the answer carries `x-amzn-RequestId` and the JSON 1.1 content type; errors are
/// `{"__type","message"}` with 400, or 500 for real faults.
public enum ECSAPIRouter {
    static let contentType = "application/x-amz-json-1.1"
    static let maximumBodySize = 4 << 20
    static let targetHeader = headerName("X-Amz-Target")
    static let requestIDHeader = headerName("x-amzn-RequestId")

    /// A header name the code spells out; only a typo in the source can make it invalid.
    static func headerName(_ name: String) -> HTTPField.Name {
        guard let field = HTTPField.Name(name) else { preconditionFailure("'\(name)' is not a header name") }
        return field
    }

    /// A router for the API, for an `Application` or in-process tests.
    /// With a `verifier`, every request must carry a valid SigV4 signature by one of its keys.
    public static func make(
        controlPlane: ControlPlane,
        endpoint: String,
        verifier: SigV4Verifier? = nil,
        metrics: (@Sendable () async -> String)? = nil,
        channel: AgentChannelEndpoint? = nil
    ) -> Router<BasicRequestContext> {
        let operations = ECSOperations(controlPlane: controlPlane, endpoint: endpoint)
        let router = Router()
        router.add(middleware: ECSErrorMiddleware())
        let handle: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
            await respond(to: request, context: context, operations: operations, verifier: verifier)
        }
        router.post("/", use: handle)
        if let metrics { MetricsRoute.add(to: router, metrics) }
        channel?.addRefusal(to: router)
        return router
    }

    static func respond(
        to request: Request,
        context: BasicRequestContext,
        operations: ECSOperations,
        verifier: SigV4Verifier?
    ) async -> Response {
        let requestID = UUID().uuidString.lowercased()
        let target = request.headers[targetHeader] ?? ""
        let operation = target.split(separator: ".").last.map(String.init) ?? ""
        do throws(APIError) {
            guard target.hasPrefix(ECSSchema.targetPrefix + "."), !operation.isEmpty else {
                throw APIError(.unknownOperation, "Unknown or missing X-Amz-Target '\(target)'.")
            }
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: maximumBodySize)
            } catch {
                throw APIError(.serialization, "The request body is larger than \(maximumBodySize) bytes.")
            }
            let body = Data(buffer.readableBytesView)
            let caller = try verifier.map { verifier throws(APIError) in try verify(request, body: body, with: verifier)
            }
            let tree: JSONValue
            do {
                tree = try JSONDecoder().decode(JSONValue.self, from: body.isEmpty ? Data("{}".utf8) : body)
            } catch {
                throw APIError(.serialization, "The request body is not valid JSON.")
            }
            try ECSSchema.validate(tree, operation: operation)
            let answer = try await operations.handle(operation, body: body, caller: caller?.accessKeyID)
            Self.count(operation, error: nil)
            context.logger.debug(
                "ECS API request",
                metadata: ["operation": "\(operation)", "requestId": "\(requestID)"]
            )
            return response(.ok, answer, requestID: requestID)
        } catch {
            let level: Logger.Level = error.status == 500 ? .error : .info
            context.logger.log(
                level: level,
                "ECS API request refused",
                metadata: [
                    "operation": "\(operation)", "requestId": "\(requestID)", "error": "\(error.type)",
                    "message": "\(error.message)",
                ]
            )
            Self.count(operation, error: error.type)
            let message = error.status == 500 ? APIError.faultMessage(requestID: requestID) : error.message
            return response(
                HTTPResponse.Status(code: error.status),
                type: error.type,
                message: message,
                requestID: requestID
            )
        }
    }

    /// `berth_api_requests_total{operation, error}`; operations outside the model count as `unknown`, so a
    /// caller cannot invent label values.
    static func count(_ operation: String, error: String?) {
        let known = ECSSchema.operationInputs[operation] != nil ? operation : "unknown"
        Counter(label: "berth_api_requests_total", dimensions: [("operation", known), ("error", error ?? "none")])
            .increment()
    }

    @discardableResult
    static func verify(
        _ request: Request,
        body: Data,
        with verifier: SigV4Verifier
    ) throws(APIError)
        -> SigV4Verifier.Caller
    {
        do {
            return try verifier.verify(
                method: request.method.rawValue,
                path: request.uri.path,
                query: request.uri.query ?? "",
                headers: request.head.signableHeaders,
                body: body
            )
        } catch {
            throw APIError(error)
        }
    }

    /// An error answer: `{"__type","message"}`.
    static func response(
        _ status: HTTPResponse.Status,
        type: String,
        message: String,
        requestID: String = UUID().uuidString.lowercased()
    ) -> Response {
        let body = (try? ECSOperations.encoder.encode(["__type": type, "message": message])) ?? Data()
        return response(status, body, requestID: requestID)
    }

    static func response(_ status: HTTPResponse.Status, _ body: Data, requestID: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[requestIDHeader] = requestID
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
