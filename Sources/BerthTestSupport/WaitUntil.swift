/// Waits until `condition` holds, checking it every `interval`; throws ``WaitTimeout`` naming `what` when it
/// has not held within `bound`. Tests wait for a condition with a bound, never for a fixed time; the bound
/// only delays a failure under load, it never makes a pass.
public func waitUntil(
    _ what: String,
    within bound: Duration = TestEnvironment.loadedWait,
    every interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + bound
    while true {
        if try await condition() { return }
        guard clock.now < deadline else { throw WaitTimeout("not within \(bound): \(what)") }
        try await Task.sleep(for: interval)
    }
}
