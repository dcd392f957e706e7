import Synchronization

/// RunTask from concurrent clients, as the throughput benches call it: `clients` clients spread over `apis`,
/// each calling while the shared budget of calls lasts. A call refused (a ServerException, such as a change
/// that conflicted with other replicas' too often) is counted, not retried; with `refundRefused` its share of
/// the budget goes back, so that the budget counts calls that placed. A call that places other than
/// `count` tasks ends the run.
struct RunTaskClients {
    let apis: [ECSClient]
    let clients: Int
    let cluster: String
    let taskDefinition: String
    let count: Int

    /// The latencies of the calls that placed, sorted, and how many calls were refused.
    func run(calls budget: Int, refundRefused: Bool) async throws -> (latencies: [Duration], refused: Int) {
        let remaining = CallBudget(budget)
        let clock = ContinuousClock()
        let (cluster, taskDefinition, count) = (cluster, taskDefinition, count)
        return try await withThrowingTaskGroup(of: ([Duration], Int).self) { group in
            for client in 0..<clients {
                let api = apis[client % apis.count]
                group.addTask {
                    var latencies: [Duration] = []
                    var refused = 0
                    let request: [String: Any] = ["cluster": cluster, "taskDefinition": taskDefinition, "count": count]
                    while remaining.take() {
                        let started = clock.now
                        guard let answer = try? await api.call("RunTask", request) else {
                            refused += 1
                            if refundRefused { remaining.giveBack() }
                            continue
                        }
                        let placed = (answer["tasks"] as? [Any])?.count ?? 0
                        guard placed == count else { throw BenchError("RunTask placed \(placed): \(answer)") }
                        latencies.append(clock.now - started)
                    }
                    return (latencies, refused)
                }
            }
            var all: [Duration] = []
            var refused = 0
            for try await part in group {
                all += part.0
                refused += part.1
            }
            return (all.sorted(), refused)
        }
    }
}

/// The calls the clients still have to make, shared by them.
final class CallBudget: Sendable {
    private let left: Mutex<Int>

    init(_ calls: Int) { left = Mutex(calls) }

    /// One call of the budget; false when none is left.
    func take() -> Bool {
        left.withLock { left in
            guard left > 0 else { return false }
            left -= 1
            return true
        }
    }

    func giveBack() { left.withLock { $0 += 1 } }
}
