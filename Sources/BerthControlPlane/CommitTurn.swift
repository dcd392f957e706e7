import Synchronization

/// A first-come, first-served turn, held across `await`s (an actor's own state cannot be: the actor runs
/// other calls whenever one awaits).
final class CommitTurn: Sendable {
    private struct State {
        var held = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state -> Bool in
                guard state.held else {
                    state.held = true
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.held = false
                return nil
            }
            // The turn passes straight to the next waiter: `held` stays true.
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
