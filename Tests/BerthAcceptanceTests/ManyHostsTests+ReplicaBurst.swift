import BerthTestSupport
import Foundation
import Synchronization
import Testing

/// Replicas failing under load: one killed, then the database restarted, while clients keep placing tasks.
extension ManyHostsTests {
    /// What the clients of the burst were told, shared between them.
    final class BurstLedger: Sendable {
        let state = Mutex(BurstOutcomes())
    }

    struct BurstOutcomes: Sendable {
        /// The tasks each client token was answered with.
        var acknowledged: [String: [String]] = [:]
        /// A token answered with other tasks than before: placed twice.
        var answeredDifferently: [String] = []
        var failures = 0
        /// Failed calls while the database was down.
        var failuresDuringOutage = 0
        var databaseDown = false
        /// Set once the database is down: clients wait for it before their calls of the second half.
        var outageBegun = false
        var unfinished: [String] = []
    }

    @Test(
        "a replica SIGKILLed in a burst of RunTask, then PostgreSQL restarted, clients retrying each call with its client token through the next replica: every acknowledged task is there, none placed twice, each in one container, reservations equal the tasks"
    )
    func replicaKilledAndDatabaseRestartedMidBurst() async throws {
        let hosts = Self.hosts
        let server = try await PrivatePostgresServer.start()
        do {
            try await Self.withReplicas(databaseLine: server.configurationLine) { replicas, _ in
                try await Self.burst(replicas: replicas, server: server, hosts: hosts)
            }
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }

    private static func burst(replicas: [Remote], server: PrivatePostgresServer, hosts: Int) async throws {
        let cluster = replicas[0].cluster
        let endpoints = replicas.map(\.controlPlane.endpoint)
        var random = SeededRandom.make("replica burst")
        let victim = Int.random(in: 0..<hosts, using: &random)
        let (clients, callsPerClient) = (4, 5)
        let tokens = clients * callsPerClient
        // Each client's calls before the outage; the rest wait for it.
        let beforeOutage = callsPerClient / 2
        let ledger = BurstLedger()
        let clock = ContinuousClock()
        let deadline = clock.now + TestEnvironment.loadedWait * 2

        let burst = Task {
            await withTaskGroup(of: Void.self) { group in
                for client in 0..<clients {
                    group.addTask {
                        for call in 0..<callsPerClient {
                            let token = "burst-\(client)-\(call)"
                            // The later calls wait for the outage, so that some meet it.
                            while call >= beforeOutage, !ledger.state.withLock({ $0.outageBegun }),
                                clock.now < deadline
                            {
                                try? await Task.sleep(for: .milliseconds(20))
                            }
                            var attempt = 0
                            while clock.now < deadline {
                                // One attempt per replica in turn; the CLI's own retries are off.
                                let endpoint = endpoints[(client + call + attempt) % endpoints.count]
                                attempt += 1
                                let answer = try? await AWSCLI.run(
                                    [
                                        "ecs", "run-task", "--cluster", cluster, "--task-definition", "remote-app",
                                        "--client-token", token, "--started-by", token,
                                    ],
                                    endpoint: endpoint,
                                    key: RemoteAgentTests.operatorKey.id,
                                    secret: RemoteAgentTests.operatorKey.secret,
                                    settings: ["AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"]
                                )
                                let arns = (answer?.json?["tasks"] as? [[String: Any]])?
                                    .compactMap { $0["taskArn"] as? String }
                                let placed = answer?.status == 0 ? arns?.sorted() : nil
                                let done = ledger.state.withLock { seen in
                                    guard let placed, !placed.isEmpty else {
                                        seen.failures += 1
                                        if seen.databaseDown { seen.failuresDuringOutage += 1 }
                                        return false
                                    }
                                    if let earlier = seen.acknowledged[token], earlier != placed {
                                        seen.answeredDifferently.append("\(token): \(earlier) then \(placed)")
                                    }
                                    seen.acknowledged[token] = placed
                                    return true
                                }
                                if done { break }
                                try? await Task.sleep(for: .milliseconds(100))
                            }
                            if ledger.state.withLock({ $0.acknowledged[token] == nil }) {
                                ledger.state.withLock { $0.unfinished.append(token) }
                            }
                        }
                    }
                }
            }
        }
        do {
            try await waitUntil("a quarter of the calls are acknowledged") {
                ledger.state.withLock { $0.acknowledged.count >= tokens / 4 }
            }
            await replicas[victim].controlPlane.kill()
            print("replica \(victim + 1) killed after \(ledger.state.withLock { $0.acknowledged.count }) calls")
            try await waitUntil("the calls before the outage are acknowledged") {
                ledger.state.withLock { $0.acknowledged.count >= clients * beforeOutage }
            }
            try await server.stop(immediately: true)
            ledger.state.withLock {
                $0.databaseDown = true
                $0.outageBegun = true
            }
            try await waitUntil("calls meet the outage") {
                ledger.state.withLock { $0.failuresDuringOutage >= 2 }
            }
            try await server.start()
            ledger.state.withLock { $0.databaseDown = false }
            await burst.value
        } catch {
            burst.cancel()
            throw error
        }
        let seen = ledger.state.withLock { $0 }
        print("burst: \(seen.acknowledged.count) calls acknowledged, \(seen.failures) attempts failed")
        #expect(seen.unfinished.isEmpty, "never acknowledged: \(seen.unfinished)")
        #expect(seen.answeredDifferently.isEmpty, "\(seen.answeredDifferently)")

        // The killed replica comes back on its address, and its host's agent with it.
        replicas[victim].controlPlane = try replicas[victim].controlPlane.restarted(
            directory: replicas[victim].directory
        )
        let all = Set((1...hosts).map { "host-\($0)" })
        for replica in replicas {
            try await waitUntil("every agent is seen connected through \(replica.controlPlane.endpoint)") {
                try await Self.connectedHosts(replica) == all
            }
        }

        // Nothing acknowledged is lost and nothing was placed twice: the cluster's tasks are exactly the
        // acknowledged ones, one per token, and each replica says so.
        let acknowledged = seen.acknowledged.values.flatMap { $0 }
        #expect(acknowledged.count == tokens)
        for replica in replicas {
            let listed = try await replica.controlPlane.ecs("list-tasks", "--cluster", cluster)
            let arns = (listed.json?["taskArns"] as? [String] ?? []).sorted()
            #expect(arns == acknowledged.sorted(), "through \(replica.controlPlane.endpoint)")
        }
        try await waitUntil("every task is RUNNING, in one container") {
            var running: [String] = []
            for host in 1...hosts { running += try await Self.runningTaskArns(host, cluster: cluster) }
            return running.sorted() == acknowledged.sorted()
        }
        var every: [String] = []
        for host in 1...hosts { every += try await Self.everyContainerTaskArn(host, cluster: cluster) }
        #expect(Set(every).count == every.count, "a task has two containers: \(every.sorted())")
        try await Self.waitUntilRunning(acknowledged, remote: replicas[(victim + 1) % hosts])

        // Each instance's reservation is its tasks' memory (32 MiB each), through every replica.
        let (instanceOf, _) = try await Self.placements(acknowledged, remote: replicas[0])
        let tasksOn = Dictionary(grouping: acknowledged) { instanceOf[$0] ?? "?" }
        for replica in replicas {
            let arns = Array(try await Self.instancesByHost(replica).values)
            let described = try await replica.controlPlane.ecs(
                ["describe-container-instances", "--cluster", cluster, "--container-instances"] + arns
            )
            for instance in described.json?["containerInstances"] as? [[String: Any]] ?? [] {
                let arn = instance["containerInstanceArn"] as? String ?? ""
                #expect(
                    Self.memory(instance["registeredResources"]) - Self.memory(instance["remainingResources"])
                        == 32 * (tasksOn[arn]?.count ?? 0),
                    "\(arn) through \(replica.controlPlane.endpoint)"
                )
            }
        }

        // Stopped, to leave the hosts as they were.
        for (index, arn) in acknowledged.enumerated() {
            let stop = try await replicas[index % hosts].controlPlane.ecs(
                "stop-task",
                "--cluster",
                cluster,
                "--task",
                arn
            )
            #expect(stop.status == 0, "\(stop.error)")
        }
        try await waitUntil("the hosts run none of the tasks") {
            var running: [String] = []
            for host in 1...hosts { running += try await Self.runningTaskArns(host, cluster: cluster) }
            return running.isEmpty
        }
    }

    /// The MEMORY among an instance's resources, as DescribeContainerInstances shows them.
    static func memory(_ resources: Any?) -> Int {
        (resources as? [[String: Any]])?.first { $0["name"] as? String == "MEMORY" }?["integerValue"] as? Int ?? 0
    }
}
