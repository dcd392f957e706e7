import BerthTestSupport
import DockerEngine
import Foundation
import Logging
import Synchronization
import Testing

/// `berth agent` as a process, SIGKILLed at random moments while tasks start and stop, restarted each
/// time: afterwards every task is in the state its containers are in, no container is duplicated or
/// orphaned, and no state change is lost.
@Suite("berth agent: SIGKILL at random moments", .serialized)
struct AgentCrashTests {
    static let image = TestEnvironment.localImage

    /// The agent of one trial, started again on the same data directory and port after each kill.
    final class Trial: Sendable {
        let cluster: String
        let directory: URL
        let port: Int
        /// The running agent; replaced on each restart.
        let agent = Mutex<BerthAgentProcess?>(nil)

        init(_ number: Int) throws {
            cluster = "crash-\(number)-\(UUID().uuidString.prefix(8).lowercased())"
            directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "berth-crash-\(UUID().uuidString)"
            )
            port = try TestPorts.free()
        }

        var endpoint: String { "http://127.0.0.1:\(port)" }
        var logText: String { agent.withLock { $0?.logText } ?? "" }

        func start() async throws {
            let process = try BerthAgentProcess(
                cluster: cluster,
                directory: directory,
                port: port,
                extraConfiguration: "ECS_CONTAINER_STOP_TIMEOUT=2s"
            )
            agent.withLock { $0 = process }
            try await process.waitUntilRegistered(cluster: cluster)
        }

        func kill() async { await agent.withLock { $0 }?.kill() }
        func terminate() async -> Int32 { await agent.withLock { $0 }?.terminate() ?? -1 }
    }

    /// What the trial asked for: tasks that keep running, tasks that finish by themselves, tasks stopped.
    struct Expectations: Sendable {
        var longRunning: Set<String> = []
        var finishing: Set<String> = []
        var stopped: Set<String> = []
        /// StopTask sent, its answer cut off by the kill: it may or may not have been taken.
        var maybeStopped: Set<String> = []
    }

    static func run(_ trial: Trial, family: String, count: Int) async throws -> [String] {
        let body = #"{"cluster":"\#(trial.cluster)","taskDefinition":"\#(family)","count":\#(count)}"#
        let (status, data) = try await ECSCall.post(trial.endpoint, "RunTask", body)
        guard status == 200 else { return [] }
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return (object?["tasks"] as? [[String: Any]] ?? []).compactMap { $0["taskArn"] as? String }
    }

    static func describe(_ trial: Trial, _ arns: [String]) async throws -> [String: [String: Any]] {
        var found: [String: [String: Any]] = [:]
        for batch in stride(from: 0, to: arns.count, by: 100) {
            let slice = Array(arns[batch..<min(batch + 100, arns.count)])
            let body = try JSONSerialization.data(withJSONObject: ["cluster": trial.cluster, "tasks": slice])
            let (_, data) = try await ECSCall.post(
                trial.endpoint,
                "DescribeTasks",
                String(decoding: body, as: UTF8.self)
            )
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            for task in object?["tasks"] as? [[String: Any]] ?? [] {
                if let arn = task["taskArn"] as? String { found[arn] = task }
            }
        }
        return found
    }

    @Test(
        "killed at random moments while tasks start and stop, restarted: states right, nothing duplicated, orphaned or lost",
        arguments: 0..<3
    )
    func crashes(number: Int) async throws {
        let trial = try Trial(number)
        defer { try? FileManager.default.removeItem(at: trial.directory) }
        let logger = Logger(label: "crash", factory: { _ in SwiftLogNoOpLogHandler() })
        try await DockerEngineClient.withClient(
            endpoint: .unixSocket(path: TestEnvironment.dockerSocket),
            logger: logger
        ) {
            docker in
            do {
                try await Self.runTrial(trial, docker: docker)
            } catch {
                Issue.record("berth log:\n\(trial.logText.suffix(3000))")
                await trial.kill()
                await docker.removeEverything(ofCluster: trial.cluster)
                throw error
            }
            #expect(await trial.terminate() == 0)
            await docker.removeEverything(ofCluster: trial.cluster)
        }
    }

    static func runTrial(_ trial: Trial, docker: DockerEngineClient) async throws {
        try await trial.start()
        for (family, command) in [("long", ["sleep", "3600"]), ("short", ["sh", "-c", "sleep 1; exit 0"])] {
            let body = try JSONSerialization.data(withJSONObject: [
                "family": family,
                "containerDefinitions": [
                    ["name": "main", "image": image, "memory": 8, "command": command, "stopTimeout": 1],
                    ["name": "side", "image": image, "memory": 8, "essential": false, "command": ["sleep", "3600"]],
                ],
            ])
            let (status, _) = try await ECSCall.post(
                trial.endpoint,
                "RegisterTaskDefinition",
                String(decoding: body, as: UTF8.self)
            )
            #expect(status == 200)
        }
        var expected = Expectations()
        var random = SeededRandom.make("SIGKILL timings of \(trial.cluster)")
        for _ in 0..<3 {
            // A burst in flight while the kill comes: what RunTask acknowledged must come true.
            let burst = Task {
                var launched = Expectations()
                for round in 0..<4 {
                    guard let long = try? await run(trial, family: "long", count: 2) else { break }
                    launched.longRunning.formUnion(long)
                    guard let short = try? await run(trial, family: "short", count: 1) else { break }
                    launched.finishing.formUnion(short)
                    if round % 2 == 1, let victim = long.first {
                        let body = #"{"cluster":"\#(trial.cluster)","task":"\#(victim)","reason":"crash test"}"#
                        launched.longRunning.remove(victim)
                        if let (status, _) = try? await ECSCall.post(trial.endpoint, "StopTask", body), status == 200 {
                            launched.stopped.insert(victim)
                        } else {
                            launched.maybeStopped.insert(victim)
                        }
                    }
                }
                return launched
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 200...2500, using: &random)))
            await trial.kill()
            let launched = await burst.value
            expected.longRunning.formUnion(launched.longRunning)
            expected.finishing.formUnion(launched.finishing)
            expected.stopped.formUnion(launched.stopped)
            expected.maybeStopped.formUnion(launched.maybeStopped)
            try await trial.start()
        }
        #expect(!expected.longRunning.isEmpty)

        // Let it settle: every task in the state its kind leads to.
        let all = Array(
            expected.longRunning.union(expected.finishing).union(expected.stopped).union(expected.maybeStopped)
        )
        let clock = ContinuousClock()
        let deadline = clock.now + TestEnvironment.loadedWait
        var tasks: [String: [String: Any]] = [:]
        func settled() -> Bool {
            expected.longRunning.allSatisfy { tasks[$0]?["lastStatus"] as? String == "RUNNING" }
                && expected.finishing.union(expected.stopped).allSatisfy {
                    tasks[$0]?["lastStatus"] as? String == "STOPPED"
                }
                && expected.maybeStopped.allSatisfy {
                    let status = tasks[$0]?["lastStatus"] as? String
                    return status == "STOPPED"
                        || (status == "RUNNING" && tasks[$0]?["desiredStatus"] as? String == "RUNNING")
                }
        }
        repeat {
            tasks = try await describe(trial, all)
            if settled() { break }
            try await Task.sleep(for: .milliseconds(500))
        } while clock.now < deadline
        #expect(Set(tasks.keys) == Set(all), "every acknowledged task is known after the crashes")
        for arn in expected.longRunning {
            #expect(tasks[arn]?["lastStatus"] as? String == "RUNNING", "\(arn): \(tasks[arn] ?? [:])")
        }
        for arn in expected.finishing {
            let main = (tasks[arn]?["containers"] as? [[String: Any]])?.first { $0["name"] as? String == "main" }
            #expect(tasks[arn]?["lastStatus"] as? String == "STOPPED", "\(arn): \(tasks[arn] ?? [:])")
            #expect(main?["exitCode"] as? Int == 0, "\(arn): the exit was reported: \(main ?? [:])")
            #expect(tasks[arn]?["stopCode"] as? String == "EssentialContainerExited")
        }
        for arn in expected.stopped {
            #expect(tasks[arn]?["lastStatus"] as? String == "STOPPED", "\(arn): \(tasks[arn] ?? [:])")
            #expect(tasks[arn]?["stoppedReason"] as? String == "crash test")
        }
        // Either way it went, it went all the way: running as asked, or stopped for the test's reason.
        var stillRunning = expected.longRunning
        for arn in expected.maybeStopped {
            if tasks[arn]?["lastStatus"] as? String == "STOPPED" {
                #expect(tasks[arn]?["stoppedReason"] as? String == "crash test", "\(arn): \(tasks[arn] ?? [:])")
            } else {
                #expect(tasks[arn]?["desiredStatus"] as? String == "RUNNING", "\(arn): \(tasks[arn] ?? [:])")
                stillRunning.insert(arn)
            }
        }

        // Docker agrees: one container per task container, each belonging to a known task; the running
        // tasks' containers run.
        let containers = try await docker.listContainers(
            all: true,
            filters: ["label": ["com.amazonaws.ecs.cluster=\(trial.cluster)"]]
        )
        // A RunTask whose answer the kill cut off may still have placed tasks: they count as known.
        let known = try await listAll(trial)
        var seen: [String: Int] = [:]
        for container in containers {
            let arn = container.labels["com.amazonaws.ecs.task-arn"] ?? ""
            let name = container.labels["com.amazonaws.ecs.container-name"] ?? ""
            seen["\(arn)/\(name)", default: 0] += 1
            #expect(known.contains(arn), "container \(container.id) belongs to no task: orphaned")
        }
        #expect(seen.values.allSatisfy { $0 == 1 }, "a container was created twice: \(seen.filter { $0.value > 1 })")
        for arn in stillRunning {
            let running = containers.filter { $0.labels["com.amazonaws.ecs.task-arn"] == arn && $0.state == "running" }
            #expect(running.count == 2, "\(arn) should have its two containers running")
        }
    }

    /// Every task the control plane knows in the trial's cluster, whatever its desired status.
    static func listAll(_ trial: Trial) async throws -> Set<String> {
        var arns = Set<String>()
        for desired in ["RUNNING", "STOPPED"] {
            let body = #"{"cluster":"\#(trial.cluster)","desiredStatus":"\#(desired)"}"#
            let (_, data) = try await ECSCall.post(trial.endpoint, "ListTasks", body)
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            arns.formUnion(object?["taskArns"] as? [String] ?? [])
        }
        return arns
    }

}
