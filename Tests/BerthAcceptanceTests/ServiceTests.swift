import BerthAgent
import BerthTestSupport
import DockerEngine
import Foundation
import Logging
import Testing

/// Long-running services with the real aws CLI against `berth agent` on the real dockerd.
@Suite("aws ecs services against berth agent")
struct ServiceTests {
    typealias Session = WalkthroughTests.Session

    static func definition(_ family: String, command: [String]) -> [String: Any] {
        [
            "family": family,
            "containerDefinitions": [
                [
                    "name": "app", "image": TestEnvironment.localImage, "memory": 8, "command": command,
                    "stopTimeout": 1,
                ]
            ],
        ]
    }

    /// DescribeServices for one service.
    static func describe(_ session: Session, cluster: String, _ service: String) async throws -> [String: Any] {
        let answer = try await session.ecs("describe-services", "--cluster", cluster, "--services", service)
        return try #require((answer["services"] as? [[String: Any]])?.first)
    }

    /// The service's tasks the scheduler still wants (desired RUNNING), described.
    static func liveTasks(_ session: Session, cluster: String, _ service: String) async throws -> [[String: Any]] {
        let (_, listed) = try await ECSCall.post(
            session.agent.endpoint,
            "ListTasks",
            #"{"cluster":"\#(cluster)","serviceName":"\#(service)"}"#
        )
        let arns = (try JSONSerialization.jsonObject(with: listed) as? [String: Any])?["taskArns"] as? [String] ?? []
        guard !arns.isEmpty else { return [] }
        var tasks: [[String: Any]] = []
        for chunk in stride(from: 0, to: arns.count, by: 100).map({ Array(arns[$0..<min($0 + 100, arns.count)]) }) {
            let body = try JSONSerialization.data(withJSONObject: ["cluster": cluster, "tasks": chunk])
            let (_, data) = try await ECSCall.post(
                session.agent.endpoint,
                "DescribeTasks",
                String(decoding: body, as: UTF8.self)
            )
            tasks +=
                (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["tasks"] as? [[String: Any]] ?? []
        }
        return tasks
    }

    /// Polls DescribeServices until `done` holds, calling `each` on every sample; the last sample.
    @discardableResult
    static func waitFor(
        _ session: Session,
        cluster: String,
        _ service: String,
        timeout: Duration = TestEnvironment.loadedWait,
        each: ([String: Any]) async throws -> Void = { _ in },
        until done: ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var last: [String: Any] = [:]
        while clock.now < deadline {
            last = try await describe(session, cluster: cluster, service)
            try await each(last)
            if done(last) { return last }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw WaitTimeout("service \(service) did not get there: \(last)")
    }

    /// Registers a revision of `family` running `command` and updates `service` to it; the revision's ARN.
    @discardableResult
    static func deployRevision(
        _ session: Session,
        cluster: String,
        _ service: String,
        family: String,
        command: [String]
    ) async throws -> String {
        let revision = try await session.registerTaskDefinition(Self.definition(family, command: command))
        try await session.ecs(
            "update-service",
            "--cluster",
            cluster,
            "--service",
            service,
            "--task-definition",
            revision
        )
        return revision
    }

    static func isStable(_ service: [String: Any]) -> Bool {
        (service["deployments"] as? [Any])?.count == 1
            && service["runningCount"] as? Int == service["desiredCount"] as? Int
    }

    @Test(
        "create-service → services-stable with 3 RUNNING; a new revision rolls out within the bounds; a killed container is replaced; desiredCount 0 stops all; delete-service"
    )
    func lifecycle() async throws {
        try await Self.withAgent("services") { session, cluster in
            let first = try await session.registerTaskDefinition(Self.definition("svc", command: ["sleep", "3600"]))
            let created = try await session.ecs(
                "create-service",
                "--cluster",
                cluster,
                "--service-name",
                "web",
                "--task-definition",
                "svc",
                "--desired-count",
                "3",
                "--deployment-configuration",
                "maximumPercent=200,minimumHealthyPercent=50",
                "--tags",
                "key=team,value=berth"
            )
            let service = try #require(created["service"] as? [String: Any])
            #expect(service["serviceArn"] as? String == "arn:aws:ecs:us-east-1:123456789012:service/\(cluster)/web")
            #expect(service["status"] as? String == "ACTIVE")
            #expect(service["desiredCount"] as? Int == 3)
            #expect(service["taskDefinition"] as? String == first)
            #expect((service["deployments"] as? [[String: Any]])?.first?["status"] as? String == "PRIMARY")

            try await Self.waitFor(session, cluster: cluster, "web", until: Self.isStable)
            // The CLI's own waiter agrees (it asks at once, and the service is stable).
            try await session.ecs("wait", "services-stable", "--cluster", cluster, "--services", "web")
            let stable = try await Self.describe(session, cluster: cluster, "web")
            let deployment = try #require((stable["deployments"] as? [[String: Any]])?.first)
            #expect(deployment["rolloutState"] as? String == "COMPLETED")
            #expect(deployment["runningCount"] as? Int == 3)
            let events = (stable["events"] as? [[String: Any]])?.compactMap { $0["message"] as? String } ?? []
            #expect(events.first == "(service web) has reached a steady state.", "\(events)")
            #expect(events.contains { $0.hasPrefix("(service web) has started 3 tasks: (task ") }, "\(events)")
            let tasks = try await Self.liveTasks(session, cluster: cluster, "web")
            #expect(tasks.count == 3)
            #expect(tasks.allSatisfy { $0["lastStatus"] as? String == "RUNNING" })
            #expect(tasks.allSatisfy { $0["group"] as? String == "service:web" })
            #expect(tasks.allSatisfy { $0["startedBy"] as? String == deployment["id"] as? String })

            // A cluster with a service is not deleted.
            let refused = try await session.failing("delete-cluster", "--cluster", cluster)
            #expect(refused.contains("ClusterContainsServicesException"), "\(refused)")

            // A new revision: at most 6 tasks alive (200%), at least 2 RUNNING (50%, rounded up) throughout.
            let second = try await session.registerTaskDefinition(Self.definition("svc", command: ["sleep", "3601"]))
            try await session.ecs(
                "update-service",
                "--cluster",
                cluster,
                "--service",
                "web",
                "--task-definition",
                "svc:2"
            )
            let rolled = try await Self.waitFor(
                session,
                cluster: cluster,
                "web",
                each: { _ in
                    let live = try await Self.liveTasks(session, cluster: cluster, "web")
                    let running = live.filter { $0["lastStatus"] as? String == "RUNNING" }.count
                    #expect(live.count <= 6, "more tasks alive than maximumPercent allows: \(live.count)")
                    #expect(running >= 2, "fewer RUNNING than minimumHealthyPercent allows: \(running)")
                },
                until: {
                    Self.isStable($0)
                        && ($0["deployments"] as? [[String: Any]])?.first?["taskDefinition"] as? String == second
                }
            )
            #expect(rolled["taskDefinition"] as? String == second)
            let rolledTasks = try await Self.liveTasks(session, cluster: cluster, "web")
            #expect(rolledTasks.count == 3)
            #expect(rolledTasks.allSatisfy { $0["taskDefinitionArn"] as? String == second }, "old tasks left")

            // A container killed behind the scheduler's back: its task stops and another takes its place.
            let victim = try #require(rolledTasks.first)
            let victimArn = try #require(victim["taskArn"] as? String)
            let dockerID = try #require((victim["containers"] as? [[String: Any]])?.first?["runtimeId"] as? String)
            try await DockerEngineClient.withClient(
                endpoint: .unixSocket(path: TestEnvironment.dockerSocket),
                logger: Logger(label: "services") { _ in SwiftLogNoOpLogHandler() }
            ) { docker in try await docker.killContainer(dockerID) }
            try await session.agent.waitForTask(victimArn, cluster: cluster, status: "STOPPED")
            try await Self.waitFor(session, cluster: cluster, "web") { service in
                Self.isStable(service) && service["runningCount"] as? Int == 3
            }
            let replaced = try await Self.liveTasks(session, cluster: cluster, "web")
            #expect(replaced.count == 3)
            #expect(!replaced.contains { $0["taskArn"] as? String == victimArn })

            // Scaled to 0: every task stops.
            try await session.ecs("update-service", "--cluster", cluster, "--service", "web", "--desired-count", "0")
            try await Self.waitFor(session, cluster: cluster, "web") { $0["runningCount"] as? Int == 0 }
            #expect(try await Self.liveTasks(session, cluster: cluster, "web").isEmpty)

            let deleted = try await session.ecs("delete-service", "--cluster", cluster, "--service", "web")
            #expect(["DRAINING", "INACTIVE"].contains((deleted["service"] as? [String: Any])?["status"] as? String))
            try await Self.waitFor(session, cluster: cluster, "web") { $0["status"] as? String == "INACTIVE" }
            let listed = try await session.ecs("list-services", "--cluster", cluster)
            #expect((listed["serviceArns"] as? [String]) == [])
        }
    }

    /// Sets the cluster's one instance (the agent's) ACTIVE or DRAINING.
    static func setInstanceState(_ session: Session, cluster: String, _ status: String) async throws {
        let listed = try await session.ecs("list-container-instances", "--cluster", cluster)
        let instance = try #require((listed["containerInstanceArns"] as? [String])?.first)
        try await session.ecs(
            "update-container-instances-state",
            "--cluster",
            cluster,
            "--container-instances",
            instance,
            "--status",
            status
        )
    }

    /// Runs `body` with a fresh agent on a cluster of its own, cleaning up whatever happens.
    static func withAgent(_ prefix: String, _ body: (Session, String) async throws -> Void) async throws {
        let cluster = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        try await BerthAgentProcess.withAgent(cluster: cluster) { agent in
            try await body(Session(agent: agent), cluster)
        }
    }

    @Test("a revision whose essential container exits at once, with the circuit breaker on: FAILED and rolled back")
    func circuitBreaker() async throws {
        try await Self.withAgent("breaker") { session, cluster in
            let good = try await session.registerTaskDefinition(Self.definition("breaker", command: ["sleep", "3600"]))
            try await session.ecs(
                "create-service",
                "--cluster",
                cluster,
                "--service-name",
                "api",
                "--task-definition",
                "breaker",
                "--desired-count",
                "2",
                "--deployment-configuration",
                "deploymentCircuitBreaker={enable=true,rollback=true},maximumPercent=200,minimumHealthyPercent=100"
            )
            try await Self.waitFor(session, cluster: cluster, "api", until: Self.isStable)
            try await Self.deployRevision(session, cluster: cluster, "api", family: "breaker", command: ["false"])
            let rolledBack = try await Self.waitFor(session, cluster: cluster, "api") { service in
                Self.isStable(service) && service["taskDefinition"] as? String == good
                    && (service["deployments"] as? [[String: Any]])?.first?["rolloutState"] as? String == "COMPLETED"
                    && (service["events"] as? [[String: Any]])?.contains {
                        ($0["message"] as? String)?.contains("deployment failed: tasks failed to start.") == true
                    } == true
            }
            let events = (rolledBack["events"] as? [[String: Any]])?.compactMap { $0["message"] as? String } ?? []
            #expect(events.contains { $0.contains("rolling back to \(good)") }, "\(events)")
            let deployment = try #require((rolledBack["deployments"] as? [[String: Any]])?.first)
            #expect(deployment["taskDefinition"] as? String == good)
            #expect(deployment["rolloutState"] as? String == "COMPLETED")
            // The tasks of the good revision kept running throughout (minimumHealthyPercent 100).
            let live = try await Self.liveTasks(session, cluster: cluster, "api")
            #expect(live.count == 2)
            #expect(live.allSatisfy { $0["taskDefinitionArn"] as? String == good })
        }
    }

    @Test(
        "DRAINING the only instance stops the service's tasks (min 0%), not a standalone task; ACTIVE again, they come back"
    )
    func draining() async throws {
        try await Self.withAgent("draining") { session, cluster in
            _ = try await session.registerTaskDefinition(Self.definition("drain", command: ["sleep", "3600"]))
            let standalone = try await session.agent.runTask(cluster: cluster, taskDefinition: "drain")
            try await session.ecs(
                "create-service",
                "--cluster",
                cluster,
                "--service-name",
                "worker",
                "--task-definition",
                "drain",
                "--desired-count",
                "2",
                "--deployment-configuration",
                "maximumPercent=100,minimumHealthyPercent=0"
            )
            try await Self.waitFor(session, cluster: cluster, "worker", until: Self.isStable)
            try await Self.setInstanceState(session, cluster: cluster, "DRAINING")
            try await Self.waitFor(session, cluster: cluster, "worker") { $0["runningCount"] as? Int == 0 }
            #expect(try await Self.liveTasks(session, cluster: cluster, "worker").isEmpty)
            let kept = try await session.agent.waitForTask(standalone, cluster: cluster, status: "RUNNING")
            #expect(kept["desiredStatus"] as? String == "RUNNING")

            try await Self.setInstanceState(session, cluster: cluster, "ACTIVE")
            try await Self.waitFor(session, cluster: cluster, "worker", until: Self.isStable)
            #expect(try await Self.liveTasks(session, cluster: cluster, "worker").count == 2)
        }
    }

    @Test("DAEMON: one task on the instance, a new revision replaces it, DRAINING stops it, ACTIVE brings it back")
    func daemon() async throws {
        try await Self.withAgent("daemon") { session, cluster in
            _ = try await session.registerTaskDefinition(Self.definition("agentd", command: ["sleep", "3600"]))
            let created = try await session.ecs(
                "create-service",
                "--cluster",
                cluster,
                "--service-name",
                "logs",
                "--task-definition",
                "agentd",
                "--scheduling-strategy",
                "DAEMON"
            )
            let service = try #require(created["service"] as? [String: Any])
            #expect(service["schedulingStrategy"] as? String == "DAEMON")
            let configuration = service["deploymentConfiguration"] as? [String: Any]
            #expect(configuration?["maximumPercent"] as? Int == 100)
            #expect(configuration?["minimumHealthyPercent"] as? Int == 0)
            let stable = try await Self.waitFor(session, cluster: cluster, "logs") {
                Self.isStable($0) && $0["desiredCount"] as? Int == 1
            }
            #expect(stable["runningCount"] as? Int == 1)
            let listed = try await session.ecs("list-services", "--cluster", cluster, "--scheduling-strategy", "DAEMON")
            #expect((listed["serviceArns"] as? [String])?.count == 1)

            let second = try await Self.deployRevision(
                session,
                cluster: cluster,
                "logs",
                family: "agentd",
                command: ["sleep", "3601"]
            )
            try await Self.waitFor(session, cluster: cluster, "logs") {
                Self.isStable($0)
                    && ($0["deployments"] as? [[String: Any]])?.first?["taskDefinition"] as? String == second
            }
            let live = try await Self.liveTasks(session, cluster: cluster, "logs")
            #expect(live.count == 1)
            #expect(live.first?["taskDefinitionArn"] as? String == second)

            let refused = try await session.failing(
                "update-service",
                "--cluster",
                cluster,
                "--service",
                "logs",
                "--desired-count",
                "3"
            )
            #expect(refused.contains("InvalidParameterException"), "\(refused)")

            try await Self.setInstanceState(session, cluster: cluster, "DRAINING")
            try await Self.waitFor(session, cluster: cluster, "logs") {
                $0["desiredCount"] as? Int == 0 && $0["runningCount"] as? Int == 0
            }
            try await Self.setInstanceState(session, cluster: cluster, "ACTIVE")
            try await Self.waitFor(session, cluster: cluster, "logs") {
                Self.isStable($0) && $0["runningCount"] as? Int == 1
            }
        }
    }

    @Test("health checks: a task is HEALTHY once Docker's check passes; when it fails, the task is replaced")
    func healthChecks() async throws {
        try await Self.withAgent("health") { session, cluster in
            _ = try await session.registerTaskDefinition([
                "family": "checked",
                "containerDefinitions": [
                    [
                        "name": "app", "image": TestEnvironment.localImage, "memory": 8, "stopTimeout": 1,
                        "command": ["sh", "-c", "touch /tmp/healthy && exec sleep 3600"],
                        "healthCheck": [
                            "command": ["CMD-SHELL", "test -f /tmp/healthy"], "interval": 5, "timeout": 2,
                            "retries": 1, "startPeriod": 0,
                        ],
                    ]
                ],
            ])
            try await session.ecs(
                "create-service",
                "--cluster",
                cluster,
                "--service-name",
                "checked",
                "--task-definition",
                "checked",
                "--desired-count",
                "1"
            )
            // RUNNING comes first; the rollout completes once the check has passed.
            try await Self.waitFor(session, cluster: cluster, "checked") {
                Self.isStable($0)
                    && ($0["deployments"] as? [[String: Any]])?.first?["rolloutState"] as? String == "COMPLETED"
            }
            let first = try #require(try await Self.liveTasks(session, cluster: cluster, "checked").first)
            #expect(first["healthStatus"] as? String == "HEALTHY")
            #expect((first["containers"] as? [[String: Any]])?.first?["healthStatus"] as? String == "HEALTHY")
            let arn = try #require(first["taskArn"] as? String)
            let dockerID = try #require((first["containers"] as? [[String: Any]])?.first?["runtimeId"] as? String)

            // The check starts failing: the task is stopped for it and another takes its place.
            let removed = try await offThePool { () throws -> Int32 in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/docker")
                process.arguments = ["exec", dockerID, "rm", "/tmp/healthy"]
                try process.run()
                process.waitUntilExit()
                return process.terminationStatus
            }
            #expect(removed == 0)
            let stopped = try await session.agent.waitForTask(arn, cluster: cluster, status: "STOPPED")
            #expect(stopped["stoppedReason"] as? String == "Task failed container health checks")
            #expect(stopped["stopCode"] as? String == "ServiceSchedulerInitiated")
            var replacement: [String: Any] = [:]
            let clock = ContinuousClock()
            let deadline = clock.now + TestEnvironment.loadedWait
            while clock.now < deadline {
                replacement = try await Self.liveTasks(session, cluster: cluster, "checked").first ?? [:]
                if replacement["healthStatus"] as? String == "HEALTHY" { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(replacement["taskArn"] as? String != arn)
            #expect(replacement["healthStatus"] as? String == "HEALTHY", "\(replacement)")
            let healed = try await Self.describe(session, cluster: cluster, "checked")
            let events = (healed["events"] as? [[String: Any]])?.compactMap { $0["message"] as? String } ?? []
            let id = arn.split(separator: "/").last.map(String.init) ?? arn
            #expect(events.contains("(service checked) (task \(id)) failed container health checks."), "\(events)")
        }
    }

    @Test(
        "berth killed with SIGKILL in the middle of a deployment: restarted, it completes; no container is duplicated"
    )
    func killedDuringDeployment() async throws {
        let cluster = "resume-\(UUID().uuidString.prefix(8).lowercased())"
        var agent = try BerthAgentProcess(cluster: cluster)
        let directory = agent.directory
        let port = agent.port
        defer { agent.removeDirectory() }
        do {
            try await agent.waitUntilRegistered(cluster: cluster)
            var session = Session(agent: agent)
            _ = try await session.registerTaskDefinition(Self.definition("resume", command: ["sleep", "3600"]))
            try await session.ecs(
                "create-service",
                "--cluster",
                cluster,
                "--service-name",
                "web",
                "--task-definition",
                "resume",
                "--desired-count",
                "3"
            )
            try await Self.waitFor(session, cluster: cluster, "web", until: Self.isStable)
            let second = try await Self.deployRevision(
                session,
                cluster: cluster,
                "web",
                family: "resume",
                command: ["sleep", "3601"]
            )
            var random = SeededRandom.make("SIGKILL during a deployment")
            try await Task.sleep(for: .milliseconds(Int.random(in: 100...900, using: &random)))
            await agent.kill()

            agent = try BerthAgentProcess(cluster: cluster, directory: directory, port: port)
            session = Session(agent: agent)
            try await agent.waitUntilRegistered(cluster: cluster)
            try await Self.waitFor(session, cluster: cluster, "web") { service in
                Self.isStable(service) && service["taskDefinition"] as? String == second
            }
            let live = try await Self.liveTasks(session, cluster: cluster, "web")
            #expect(live.count == 3)
            #expect(live.allSatisfy { $0["taskDefinitionArn"] as? String == second })
            // Docker runs exactly the live tasks' containers, each once.
            let runtimeIDs = Set(
                live.compactMap { ($0["containers"] as? [[String: Any]])?.first?["runtimeId"] as? String }
            )
            let running = try await DockerEngineClient.withClient(
                endpoint: .unixSocket(path: TestEnvironment.dockerSocket),
                logger: Logger(label: "services") { _ in SwiftLogNoOpLogHandler() }
            ) { docker in
                try await docker.listContainers(all: false, filters: ContainerSpec.clusterFilter(cluster)).map(\.id)
            }
            #expect(running.count == 3, "containers running: \(running.count)")
            #expect(Set(running) == runtimeIDs)
        } catch {
            Issue.record("berth log:\n\(agent.logText.suffix(3000))")
            _ = await agent.terminate()
            await WalkthroughTests.removeContainers(cluster: cluster)
            throw error
        }
        #expect(await agent.terminate() == 0)
        await WalkthroughTests.removeContainers(cluster: cluster)
    }
}
