import AsyncHTTPClient
import Foundation
import NIOCore

/// GETs a URL from a server a test just started, retrying while it comes up: a published port accepts
/// (docker-proxy listens at once) and then closes the connection until the process inside listens.
public func fetchWhenServing(_ url: String, attempts: Int = 50) async throws -> String {
    var lastError: (any Error)?
    for _ in 0..<attempts {
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
            let body = try await response.body.collect(upTo: 1 << 20)
            return String(buffer: body)
        } catch {
            lastError = error
            try await Task.sleep(for: .milliseconds(100))
        }
    }
    throw lastError ?? WaitTimeout("no answer from \(url)")
}
