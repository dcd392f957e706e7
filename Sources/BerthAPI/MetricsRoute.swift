import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /metrics` in Prometheus's text exposition format.
enum MetricsRoute {
    static func add(to router: Router<BasicRequestContext>, _ render: @escaping @Sendable () async -> String) {
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok,
                headers: headers,
                body: ResponseBody(byteBuffer: ByteBuffer(string: await render()))
            )
        }
        router.get("/metrics", use: handler)
    }
}
