import Dispatch

/// Runs blocking work (a child process and its wait, a synchronous read) on a Dispatch thread, not on the
/// cooperative pool: on a 2-core machine two blocked pool threads would stall every other test.
public func offThePool<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result_(catching: work).result)
        }
    }
}

/// `Swift.Result` under a name the generic parameter above does not shadow.
private struct Result_<Success: Sendable> {
    let result: Swift.Result<Success, any Error>
    init(catching work: () throws -> Success) { result = Swift.Result(catching: work) }
}
