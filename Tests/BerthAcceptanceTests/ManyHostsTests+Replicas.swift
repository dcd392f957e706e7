import BerthTestSupport
import Foundation
import Testing

/// Replicas of `berth control-plane` sharing a PostgreSQL database (the tests' own server), on the bridge
/// address, each holding the agent of one host. In ManyHostsTests' suite, whose tests run one at a time,
/// since they share the hosts.
extension ManyHostsTests {
    typealias Remote = RemoteAgentTests.Remote

    /// Runs `body` with `hosts` replicas on one new database, each with its host's agent connected to it
    /// (host h to replica h), the cluster and the test's task definition registered through the first.
    /// Every `Remote` names the same cluster; afterwards the agents must end with status 0 on SIGTERM.
    /// The database is a new one on the tests' shared server, or the one `databaseLine` configures.
    /// `steered`: each replica says where agents reach it (BERTH_ADVERTISE_URL), and every agent is
    /// configured with the first replica; they start one at a time, each seen connected everywhere first.
    static func withReplicas(
        configuration: String = "",
        databaseLine: String? = nil,
        steered: Bool = false,
        _ body: ([Remote], [Int: BerthAgentProcess]) async throws -> Void
    ) async throws {
        let database = databaseLine == nil ? try await TestDatabase.create() : nil
        let configurationLine = databaseLine ?? database?.configurationLine ?? ""
        let cluster = "replicas-\(UUID().uuidString.prefix(8).lowercased())"
        var replicas: [Remote] = []
        var agents: [Int: BerthAgentProcess] = [:]
        do {
            for _ in 1...hosts {
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "berth-replica-\(UUID().uuidString)"
                )
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                let port = try TestPorts.free()
                let advertised = steered ? "BERTH_ADVERTISE_URL=http://\(bridgeAddress):\(port)" : ""
                let controlPlane = try RemoteAgentTests.ControlPlane(
                    directory: directory,
                    tls: nil,
                    port: port,
                    address: bridgeAddress,
                    extraConfiguration: "\(configurationLine)\n\(advertised)\n\(configuration)"
                )
                replicas.append(Remote(directory: directory, cluster: cluster, controlPlane: controlPlane))
            }
            for replica in replicas {
                try await waitUntil("replica \(replica.controlPlane.endpoint) answers") {
                    (try? await replica.controlPlane.ecs("list-clusters").status) == 0
                }
            }
            #expect(try await replicas[0].controlPlane.ecs("create-cluster", "--cluster-name", cluster).status == 0)
            try await replicas[0].controlPlane.registerTaskDefinition()
            for host in 1...hosts {
                agents[host] = try startAgent(host, remote: replicas[steered ? 0 : host - 1])
                guard steered else { continue }
                // Seen by every replica before the next asks where to connect.
                for replica in replicas {
                    try await waitUntil("host-\(host) is seen connected through \(replica.controlPlane.endpoint)") {
                        try await connectedHosts(replica).contains("host-\(host)")
                    }
                }
            }
            let all = Set((1...hosts).map { "host-\($0)" })
            for replica in replicas {
                try await waitUntil("every agent is seen connected through \(replica.controlPlane.endpoint)") {
                    try await connectedHosts(replica) == all
                }
            }
            try await body(replicas, agents)
        } catch {
            for (index, replica) in replicas.enumerated() {
                Issue.record("replica \(index + 1):\n\(replica.controlPlane.logText.suffix(2500))")
            }
            for (host, agent) in agents.sorted(by: { $0.key < $1.key }) {
                Issue.record("agent of host-\(host):\n\(agent.logText.suffix(2500))")
                _ = await agent.terminate()
            }
            for replica in replicas { await replica.controlPlane.terminate() }
            await database?.drop()
            throw error
        }
        for agent in agents.values {
            #expect(await agent.terminate() == 0, "\(agent.logText.suffix(2000))")
            agent.removeDirectory()
        }
        for replica in replicas {
            await replica.controlPlane.terminate()
            try? FileManager.default.removeItem(at: replica.directory)
        }
        await database?.drop()
    }

    /// The container instance ARN of each host, as `replica` lists them.
    static func instancesByHost(_ replica: Remote) async throws -> [String: String] {
        let listed = try await replica.controlPlane.ecs("list-container-instances", "--cluster", replica.cluster)
        let arns = listed.json?["containerInstanceArns"] as? [String] ?? []
        let described = try await replica.controlPlane.ecs(
            ["describe-container-instances", "--cluster", replica.cluster, "--container-instances"] + arns
        )
        var byHost: [String: String] = [:]
        for instance in described.json?["containerInstances"] as? [[String: Any]] ?? [] {
            if let id = instance["ec2InstanceId"] as? String, let arn = instance["containerInstanceArn"] as? String {
                byHost[id] = arn
            }
        }
        return byHost
    }

    /// Each task's last status and instance, as `replica` describes them.
    static func described(_ arns: [String], by replica: Remote) async throws -> [String: String] {
        let tasks =
            try await replica.controlPlane.ecs(["describe-tasks", "--cluster", replica.cluster, "--tasks"] + arns)
            .json?["tasks"] as? [[String: Any]] ?? []
        return tasks.reduce(into: [:]) { result, task in
            if let arn = task["taskArn"] as? String {
                result[arn] = "\(task["lastStatus"] ?? "?") on \(task["containerInstanceArn"] ?? "?")"
            }
        }
    }

    /// The task ARN of every container of `cluster` host `host`'s dockerd has, running or not.
    static func everyContainerTaskArn(_ host: Int, cluster: String) async throws -> [String] {
        let listed = try await offThePool {
            try ChildProcess.run(
                URL(fileURLWithPath: "/usr/bin/docker"),
                [
                    "-H", "unix://\(dockerSocket(host))", "ps", "-a", "--filter",
                    "label=com.amazonaws.ecs.cluster=\(cluster)", "--format",
                    "{{.Label \"com.amazonaws.ecs.task-arn\"}}",
                ]
            )
        }
        return listed.standardOutput.split(separator: "\n").map(String.init)
    }

    @Test(
        "replicas on one PostgreSQL, each holding one host's agent: a task started through any replica runs on the host another holds, every replica describes it alike, and calls alternating between replicas stop it"
    )
    func replicasDeliverAcross() async throws {
        let hosts = Self.hosts
        try await Self.withReplicas { replicas, _ in
            let byHost = try await Self.instancesByHost(replicas[0])
            // Through replica r, a task for the host replica r+1 holds.
            var started: [Int: String] = [:]
            for index in 0..<hosts {
                let target = (index + 1) % hosts + 1
                let instance = try #require(byHost["host-\(target)"])
                let start = try await replicas[index].controlPlane.ecs(
                    "start-task",
                    "--cluster",
                    replicas[index].cluster,
                    "--task-definition",
                    "remote-app",
                    "--container-instances",
                    instance
                )
                #expect(start.status == 0, "\(start.error)")
                started[target] = try #require((start.json?["tasks"] as? [[String: Any]])?.first?["taskArn"] as? String)
            }
            let arns = Array(started.values)
            try await waitUntil("the tasks are RUNNING, as every replica describes them") {
                var views: [[String: String]] = []
                for replica in replicas { views.append(try await Self.described(arns, by: replica)) }
                return views.allSatisfy { $0 == views[0] && $0.count == arns.count }
                    && views[0].values.allSatisfy { $0.hasPrefix("RUNNING") }
            }
            for (host, arn) in started {
                #expect(try await Self.runningTaskArns(host, cluster: replicas[0].cluster) == [arn])
            }

            // Alternating: each task stopped through the replica after the one that started it, and seen
            // STOPPED through the next.
            for (index, arn) in arns.enumerated() {
                let stop = try await replicas[(index + 1) % hosts].controlPlane.ecs(
                    "stop-task",
                    "--cluster",
                    replicas[0].cluster,
                    "--task",
                    arn
                )
                #expect(stop.status == 0, "\(stop.error)")
            }
            for (index, replica) in replicas.enumerated() {
                try await waitUntil("the tasks are STOPPED, through replica \(index + 1)") {
                    try await Self.described(arns, by: replica).values.allSatisfy { $0.hasPrefix("STOPPED") }
                }
            }
            for host in 1...hosts {
                #expect(try await Self.runningTaskArns(host, cluster: replicas[0].cluster).isEmpty)
            }
        }
    }

    @Test(
        "the replica holding the scheduler lease SIGKILLed during a rolling deployment: another takes the lease, the deployment completes, each task in one container started once"
    )
    func leaseHolderKilledMidDeployment() async throws {
        let hosts = Self.hosts
        try await Self.withReplicas { replicas, _ in
            let cluster = replicas[0].cluster
            try await Self.createSpreadService("rolling", count: hosts, remote: replicas[1])
            try await waitUntil("the service runs \(hosts) tasks") {
                let tasks = try await Self.serviceTasks("rolling", remote: replicas[2])
                return tasks.count == hosts && tasks.allSatisfy { $0["lastStatus"] as? String == "RUNNING" }
            }
            let holderLine = "this replica runs the singleton loops now"
            let holder = try #require(
                replicas.firstIndex { $0.controlPlane.logText.contains(holderLine) },
                "no replica says it holds the lease"
            )

            // A second revision, rolled out; the lease holder dies as the rollout begins.
            try await replicas[2].controlPlane.registerTaskDefinition()
            let update = try await replicas[(holder + 1) % hosts].controlPlane.ecs(
                "update-service",
                "--cluster",
                cluster,
                "--service",
                "rolling",
                "--task-definition",
                "remote-app:2"
            )
            #expect(update.status == 0, "\(update.error)")
            await replicas[holder].controlPlane.kill()
            let killedAt = ContinuousClock.now
            let survivors = replicas.indices.filter { $0 != holder }
            try await waitUntil("another replica takes the lease") {
                survivors.contains { replicas[$0].controlPlane.logText.contains(holderLine) }
            }
            print("lease taken over \(ContinuousClock.now - killedAt) after the holder was killed")

            // The killed replica comes back (a new replica on the same address), and its host's agent with it.
            replicas[holder].controlPlane = try replicas[holder].controlPlane.restarted(
                directory: replicas[holder].directory
            )
            let all = Set((1...hosts).map { "host-\($0)" })
            try await waitUntil("every agent is connected again") {
                try await Self.connectedHosts(replicas[survivors[0]]) == all
            }
            var live: [String] = []
            try await waitUntil("the deployment completes: \(hosts) tasks of revision 2 RUNNING, one deployment") {
                let described = try await replicas[survivors[0]].controlPlane.ecs(
                    "describe-services",
                    "--cluster",
                    cluster,
                    "--services",
                    "rolling"
                )
                let service = (described.json?["services"] as? [[String: Any]])?.first
                guard (service?["deployments"] as? [Any])?.count == 1 else { return false }
                let tasks = try await Self.serviceTasks("rolling", remote: replicas[survivors[0]])
                live = tasks.compactMap { $0["taskArn"] as? String }
                return tasks.count == hosts
                    && tasks.allSatisfy {
                        $0["lastStatus"] as? String == "RUNNING"
                            && ($0["taskDefinitionArn"] as? String)?.hasSuffix("remote-app:2") == true
                    }
            }
            // Started once: no task has two containers, and the running ones are exactly the live tasks.
            var every: [String] = []
            var running: [String] = []
            for host in 1...hosts {
                every += try await Self.everyContainerTaskArn(host, cluster: cluster)
                running += try await Self.runningTaskArns(host, cluster: cluster)
            }
            #expect(Set(every).count == every.count, "a task has two containers: \(every.sorted())")
            try await waitUntil("the hosts run exactly the live tasks") {
                running = []
                for host in 1...hosts { running += try await Self.runningTaskArns(host, cluster: cluster) }
                return running.sorted() == live.sorted()
            }
        }
    }

    @Test(
        "the walkthrough with the aws CLI through a round-robin balancer in front of the replicas: commands alternate between them, and each answers as one control plane would"
    )
    func walkthroughThroughBalancer() async throws {
        let hosts = Self.hosts
        try await Self.withReplicas { replicas, _ in
            let cluster = replicas[0].cluster
            let backends = replicas.map {
                RoundRobinBalancer.Backend(host: $0.controlPlane.address, port: $0.controlPlane.port)
            }
            try await RoundRobinBalancer.withBalancer(over: backends) { balancer in
                @discardableResult
                func ecs(_ arguments: String...) async throws -> [String: Any] { try await ecsCommand(arguments) }
                @discardableResult
                func ecsCommand(_ arguments: [String]) async throws -> [String: Any] {
                    let result = try await AWSCLI.run(
                        ["ecs"] + arguments,
                        endpoint: balancer.endpoint,
                        key: RemoteAgentTests.operatorKey.id,
                        secret: RemoteAgentTests.operatorKey.secret
                    )
                    guard result.status == 0 else {
                        throw WaitTimeout("aws ecs \(arguments.joined(separator: " ")) failed: \(result.error)")
                    }
                    return result.json ?? [:]
                }
                func describe(_ arns: [String]) async throws -> [[String: Any]] {
                    let answer = try await AWSCLI.run(
                        ["ecs", "describe-tasks", "--cluster", cluster, "--tasks"] + arns,
                        endpoint: balancer.endpoint,
                        key: RemoteAgentTests.operatorKey.id,
                        secret: RemoteAgentTests.operatorKey.secret
                    )
                    #expect(answer.status == 0, "\(answer.error)")
                    return answer.json?["tasks"] as? [[String: Any]] ?? []
                }

                // Creating the cluster again is answered with the cluster, whichever replica takes it.
                let created = try await ecs("create-cluster", "--cluster-name", cluster)
                #expect((created["cluster"] as? [String: Any])?["status"] as? String == "ACTIVE")
                // Every replica in turn lists the hosts' instances, each agent connected (to one of them).
                var instanceArns: [String] = []
                for _ in 0..<hosts {
                    let listed = try await ecs("list-container-instances", "--cluster", cluster)
                    let arns = (listed["containerInstanceArns"] as? [String] ?? []).sorted()
                    #expect(arns.count == hosts)
                    #expect(instanceArns.isEmpty || arns == instanceArns)
                    instanceArns = arns
                }
                let instances = try await ecs(
                    "describe-container-instances",
                    "--cluster",
                    cluster,
                    "--container-instances",
                    instanceArns[0]
                )
                let instance = try #require((instances["containerInstances"] as? [[String: Any]])?.first)
                #expect(instance["agentConnected"] as? Bool == true)

                let definitions = """
                    [{"name":"web","image":"\(TestEnvironment.localImage)","memory":32,"essential":true,
                      "command":["sh","-c","trap 'exit 0' TERM; mkdir -p /www; echo balanced-page > /www/index.html; httpd -f -p 8080 -h /www & wait"],
                      "portMappings":[{"containerPort":8080,"hostPort":0}]}]
                    """
                let registered = try await ecs(
                    "register-task-definition",
                    "--family",
                    "balanced",
                    "--container-definitions",
                    definitions
                )
                #expect((registered["taskDefinition"] as? [String: Any])?["revision"] as? Int == 1)

                let run = try await ecs(
                    "run-task",
                    "--cluster",
                    cluster,
                    "--task-definition",
                    "balanced",
                    "--count",
                    "\(hosts)",
                    "--placement-constraints",
                    "type=distinctInstance"
                )
                let arns = (run["tasks"] as? [[String: Any]] ?? []).compactMap { $0["taskArn"] as? String }
                #expect(arns.count == hosts, "\(run)")
                // The waiter's polls share one connection, so one replica; the describes after it go round.
                try await ecsCommand(["wait", "tasks-running", "--cluster", cluster, "--tasks"] + arns)
                var views: [[String]] = []
                for _ in 0..<hosts {
                    let tasks = try await describe(arns)
                    #expect(tasks.count == hosts)
                    #expect(tasks.allSatisfy { $0["lastStatus"] as? String == "RUNNING" })
                    views.append(tasks.map { "\($0["taskArn"] ?? "") \($0["containerInstanceArn"] ?? "")" }.sorted())
                }
                #expect(Set(views).count == 1, "replicas describe the tasks differently: \(views)")
                let (instanceOf, hostOf) = try await Self.placements(arns, remote: replicas[0])
                for task in try await describe(arns) {
                    let arn = try #require(task["taskArn"] as? String)
                    let container = (task["containers"] as? [[String: Any]])?.first
                    let port = try #require(
                        (container?["networkBindings"] as? [[String: Any]])?.first?["hostPort"] as? Int
                    )
                    let host = try #require(instanceOf[arn].flatMap { hostOf[$0] }?.dropFirst("host-".count))
                    let page = try await fetchWhenServing(
                        "http://\(Self.hostAddress(try #require(Int(host)))):\(port)/"
                    )
                    #expect(page == "balanced-page\n")
                }

                // Each stopped through the next replica in turn; all seen STOPPED with the reason given.
                for arn in arns {
                    try await ecs("stop-task", "--cluster", cluster, "--task", arn, "--reason", "walkthrough done")
                }
                try await ecsCommand(["wait", "tasks-stopped", "--cluster", cluster, "--tasks"] + arns)
                for _ in 0..<hosts {
                    let tasks = try await describe(arns)
                    #expect(tasks.count == hosts)
                    #expect(tasks.allSatisfy { $0["stoppedReason"] as? String == "walkthrough done" })
                }
                for host in 1...hosts {
                    #expect(try await Self.runningTaskArns(host, cluster: cluster).isEmpty)
                }
                let connections = balancer.connections
                #expect(Set(connections) == Set(0..<hosts), "\(connections)")
                print("walkthrough through the balancer: \(connections.count) connections over \(hosts) replicas")
            }
        }
    }

    /// The replica `agent`'s payload channel last opened on, by the port in its log; nil before any.
    static func channelReplica(_ agent: BerthAgentProcess?, among replicas: [Remote]) -> Int? {
        let opened = agent?.logText.split(separator: "\n").last { $0.contains("Payload channel open") } ?? ""
        return replicas.firstIndex { opened.contains(":\($0.controlPlane.port)/ws") }
    }

    @Test(
        "replicas that say where agents reach them (BERTH_ADVERTISE_URL): agents all configured with one replica have their channels spread, one per replica; the agent of a killed replica is steered to a live one"
    )
    func steeredChannels() async throws {
        let hosts = Self.hosts
        try await Self.withReplicas(steered: true) { replicas, agents in
            var onReplica: [Int: Int] = [:]
            for host in 1...hosts { onReplica[host] = Self.channelReplica(agents[host], among: replicas) }
            #expect(Set(onReplica.values) == Set(0..<hosts), "channels by host: \(onReplica)")

            // A replica other than the one the agents call dies: its agent opens its channel on another.
            let victim = hosts - 1
            let steeredHost = try #require(onReplica.first { $0.value == victim }?.key)
            await replicas[victim].controlPlane.kill()
            let all = Set((1...hosts).map { "host-\($0)" })
            try await waitUntil("host-\(steeredHost)'s channel reopens on a live replica") {
                let now = Self.channelReplica(agents[steeredHost], among: replicas)
                guard now != nil, now != victim else { return false }
                return try await Self.connectedHosts(replicas[0]) == all
            }
            // Back, so that the suite ends as it began.
            replicas[victim].controlPlane = try replicas[victim].controlPlane.restarted(
                directory: replicas[victim].directory
            )
        }
    }
}
