import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Whatever the ECS API's port answers is shaped as ECS answers: a request the router has no route for
/// (another method or path), or an error the HTTP layer raised, becomes `{"__type","message"}` with its
/// 4xx status; anything else unexpected is a 500 whose text stays in the log.
struct ECSErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let status = error.status
            let type: APIError.Code =
                status == .notFound || status == .methodNotAllowed ? .unknownOperation : .serialization
            let message =
                type == .unknownOperation
                ? "Nothing is served at \(request.method) \(request.uri.path.prefix(256)); the ECS API is POST /."
                : "The request was refused: \(status.reasonPhrase)."
            return ECSAPIRouter.response(status, type: type.rawValue, message: message)
        } catch {
            let requestID = UUID().uuidString.lowercased()
            context.logger.error(
                "ECS API request failed",
                metadata: ["requestId": "\(requestID)", "error": "\(error)"]
            )
            return ECSAPIRouter.response(
                .internalServerError,
                type: APIError.Code.server.rawValue,
                message: APIError.faultMessage(requestID: requestID),
                requestID: requestID
            )
        }
    }
}
