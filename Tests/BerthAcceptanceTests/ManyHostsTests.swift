import BerthTestSupport
import Foundation
import Testing

/// Several hosts on this machine: network namespaces joined by a bridge, each with its own dockerd
/// (`scripts/test-hosts.sh up`), each running its own `berth agent`, and one `berth control-plane` on the
/// bridge address, with signatures checked, driven by the aws CLI. `make test` runs this suite alone, after
/// the others, with the hosts up (BERTH_TEST_HOSTS=3).
@Suite(
    "Several hosts, one berth control-plane",
    .enabled(if: ProcessInfo.processInfo.environment["BERTH_TEST_HOSTS"] != nil),
    // The tests share the hosts, and one of them cuts a host's link.
    .serialized
)
struct ManyHostsTests {
    static let hosts = Int(ProcessInfo.processInfo.environment["BERTH_TEST_HOSTS"] ?? "") ?? 3
    /// The bridge's address in this namespace, where the control plane listens.
    static let bridgeAddress = "10.77.0.1"

    static func hostAddress(_ host: Int) -> String { "10.77.0.\(10 + host)" }
    static func dockerSocket(_ host: Int) -> String { "/run/berth-hosts/h\(host)/docker.sock" }

    /// `berth agent` as host `host`: in its namespace, on its dockerd, with its own instance id.
    static func startAgent(
        _ host: Int,
        remote: RemoteAgentTests.Remote,
        directory: URL? = nil,
        configuration: String = ""
    ) throws -> BerthAgentProcess {
        try RemoteAgentTests.agent(
            cluster: remote.cluster,
            controlPlane: remote.controlPlane,
            directory: directory,
            extraConfiguration: """
                DOCKER_HOST=unix://\(dockerSocket(host))
                BERTH_INSTANCE_ID=host-\(host)
                \(configuration)
                """,
            launcher: ["/usr/bin/nsenter", "--net=/var/run/netns/berth-h\(host)"]
        )
    }

    /// Runs `body` with an agent started on every host, all connected; afterwards each must end with status
    /// 0 on SIGTERM. On a failure the agents' logs are shown.
    static func withAgents(
        remote: RemoteAgentTests.Remote,
        configuration: String = "",
        _ body: ([Int: BerthAgentProcess]) async throws -> Void
    ) async throws {
        var agents: [Int: BerthAgentProcess] = [:]
        do {
            for host in 1...hosts {
                agents[host] = try startAgent(host, remote: remote, configuration: configuration)
            }
            let all = Set((1...hosts).map { "host-\($0)" })
            try await waitUntil("every host's agent connects") {
                try await connectedHosts(remote) == all
            }
            try await body(agents)
        } catch {
            for (host, agent) in agents.sorted(by: { $0.key < $1.key }) {
                Issue.record("agent of host-\(host):\n\(agent.logText.suffix(2500))")
                _ = await agent.terminate()
            }
            throw error
        }
        for agent in agents.values {
            #expect(await agent.terminate() == 0, "\(agent.logText.suffix(2000))")
            agent.removeDirectory()
        }
    }

    /// Cuts (or heals) host `host`'s link to the bridge: its packets are dropped, no connection is reset.
    static func setLink(_ host: Int, up: Bool) async throws {
        let result = try await offThePool {
            try ChildProcess.run(
                URL(fileURLWithPath: "/usr/sbin/ip"),
                ["link", "set", "bh\(host)", up ? "up" : "down"]
            )
        }
        try #require(result.status == 0, "ip link set bh\(host): \(result.standardError)")
    }

    /// The task ARN of each running container of `cluster` on host `host`.
    static func runningTaskArns(_ host: Int, cluster: String) async throws -> [String] {
        let listed = try await offThePool {
            try ChildProcess.run(
                URL(fileURLWithPath: "/usr/bin/docker"),
                [
                    "-H", "unix://\(dockerSocket(host))", "ps", "--filter",
                    "label=com.amazonaws.ecs.cluster=\(cluster)", "--format",
                    "{{.Label \"com.amazonaws.ecs.task-arn\"}}",
                ]
            )
        }
        return listed.standardOutput.split(separator: "\n").map(String.init)
    }

    /// The service's tasks (desired RUNNING) as DescribeTasks shows them.
    static func serviceTasks(_ service: String, remote: RemoteAgentTests.Remote) async throws -> [[String: Any]] {
        let listed = try await remote.controlPlane.ecs(
            "list-tasks",
            "--cluster",
            remote.cluster,
            "--service-name",
            service
        )
        let arns = listed.json?["taskArns"] as? [String] ?? []
        guard !arns.isEmpty else { return [] }
        let described = try await remote.controlPlane.ecs(
            ["describe-tasks", "--cluster", remote.cluster, "--tasks"] + arns
        )
        return described.json?["tasks"] as? [[String: Any]] ?? []
    }

    /// CreateService of the test's task definition, spread over the instances.
    static func createSpreadService(_ name: String, count: Int, remote: RemoteAgentTests.Remote) async throws {
        let created = try await remote.controlPlane.ecs(
            "create-service",
            "--cluster",
            remote.cluster,
            "--service-name",
            name,
            "--task-definition",
            "remote-app",
            "--desired-count",
            "\(count)",
            "--placement-strategy",
            "type=spread,field=instanceId"
        )
        #expect(created.status == 0, "\(created.error)")
    }

    /// The ec2InstanceId of the host each task runs on.
    static func hostsOf(_ tasks: [[String: Any]], remote: RemoteAgentTests.Remote) async throws -> [String: String] {
        let arns = tasks.compactMap { $0["taskArn"] as? String }
        let (instanceOf, hostOf) = try await placements(arns, remote: remote)
        return arns.reduce(into: [:]) { result, arn in result[arn] = instanceOf[arn].flatMap { hostOf[$0] } }
    }

    /// The containers of `cluster` that host `host`'s dockerd runs.
    static func runningContainers(_ host: Int, cluster: String) async throws -> [String] {
        let listed = try await offThePool {
            try ChildProcess.run(
                URL(fileURLWithPath: "/usr/bin/docker"),
                [
                    "-H", "unix://\(dockerSocket(host))", "ps", "-q", "--filter",
                    "label=com.amazonaws.ecs.cluster=\(cluster)",
                ]
            )
        }
        return listed.standardOutput.split(separator: "\n").map(String.init)
    }

    /// Each task's instance ARN, and the ec2InstanceId of each instance.
    static func placements(
        _ arns: [String],
        remote: RemoteAgentTests.Remote
    ) async throws -> (instanceOf: [String: String], hostOf: [String: String]) {
        let cluster = remote.cluster
        let tasks =
            try await remote.controlPlane.ecs(["describe-tasks", "--cluster", cluster, "--tasks"] + arns).json?["tasks"]
            as? [[String: Any]] ?? []
        var instanceOf: [String: String] = [:]
        for task in tasks {
            if let arn = task["taskArn"] as? String, let instance = task["containerInstanceArn"] as? String {
                instanceOf[arn] = instance
            }
        }
        let listed = try await remote.controlPlane.ecs("list-container-instances", "--cluster", cluster)
        let instanceArns = listed.json?["containerInstanceArns"] as? [String] ?? []
        let described = try await remote.controlPlane.ecs(
            ["describe-container-instances", "--cluster", cluster, "--container-instances"] + instanceArns
        )
        var hostOf: [String: String] = [:]
        for instance in described.json?["containerInstances"] as? [[String: Any]] ?? [] {
            if let arn = instance["containerInstanceArn"] as? String, let id = instance["ec2InstanceId"] as? String {
                hostOf[arn] = id
            }
        }
        return (instanceOf, hostOf)
    }

    static func connectedHosts(_ remote: RemoteAgentTests.Remote) async throws -> Set<String> {
        let listed = try await remote.controlPlane.ecs("list-container-instances", "--cluster", remote.cluster)
        let arns = listed.json?["containerInstanceArns"] as? [String] ?? []
        guard !arns.isEmpty else { return [] }
        let described = try await remote.controlPlane.ecs(
            ["describe-container-instances", "--cluster", remote.cluster, "--container-instances"] + arns
        )
        let instances = described.json?["containerInstances"] as? [[String: Any]] ?? []
        return Set(
            instances.filter { $0["agentConnected"] as? Bool == true }.compactMap { $0["ec2InstanceId"] as? String }
        )
    }

    /// RunTask of `count` tasks; with `distinct`, each on another instance than any task of the group.
    static func runTasks(_ count: Int, distinct: Bool, remote: RemoteAgentTests.Remote) async throws -> [String] {
        let run = try await remote.controlPlane.ecs(
            [
                "run-task", "--cluster", remote.cluster, "--task-definition", "remote-app", "--count", "\(count)",
            ] + (distinct ? ["--placement-constraints", "type=distinctInstance"] : [])
        )
        #expect(run.status == 0, "\(run.error)")
        #expect((run.json?["failures"] as? [Any])?.isEmpty ?? true, "\(run.output)")
        return (run.json?["tasks"] as? [[String: Any]] ?? []).compactMap { $0["taskArn"] as? String }
    }

    static func waitUntilRunning(_ arns: [String], remote: RemoteAgentTests.Remote) async throws {
        try await waitUntil("\(arns.count) task(s) RUNNING") {
            let tasks =
                try await remote.controlPlane.ecs(["describe-tasks", "--cluster", remote.cluster, "--tasks"] + arns)
                .json?["tasks"] as? [[String: Any]] ?? []
            return tasks.count == arns.count && tasks.allSatisfy { $0["lastStatus"] as? String == "RUNNING" }
        }
    }

    @Test(
        "one agent per host: distinctInstance puts a task on each, reachable on its host's address; a killed agent is seen gone, skipped by placement, and comes back to its task"
    )
    func hosts() async throws {
        let hosts = Self.hosts
        try await RemoteAgentTests.withRemote(address: Self.bridgeAddress) { remote in
            var agents: [Int: BerthAgentProcess] = [:]
            do {
                for host in 1...hosts { agents[host] = try Self.startAgent(host, remote: remote) }
                let all = Set((1...hosts).map { "host-\($0)" })
                try await waitUntil("every host's agent connects") {
                    try await Self.connectedHosts(remote) == all
                }

                // One task on each host, each reachable on its host's address and published port.
                let first = try await Self.runTasks(hosts, distinct: true, remote: remote)
                #expect(first.count == hosts)
                try await Self.waitUntilRunning(first, remote: remote)
                let (instanceOf, hostOf) = try await Self.placements(first, remote: remote)
                #expect(Set(first.compactMap { instanceOf[$0].flatMap { hostOf[$0] } }) == all)
                for arn in first {
                    let task = try await remote.controlPlane.task(arn, cluster: remote.cluster)
                    let container = (task["containers"] as? [[String: Any]])?.first
                    let binding = (container?["networkBindings"] as? [[String: Any]])?.first
                    let port = try #require(binding?["hostPort"] as? Int, "\(task)")
                    let host = try #require(instanceOf[arn].flatMap { hostOf[$0] }?.dropFirst("host-".count))
                    let address = Self.hostAddress(try #require(Int(host)))
                    _ = try await fetchWhenServing("http://\(address):\(port)/")
                }

                // Host 2's agent dies: the control plane sees it gone; new tasks go to the others only (not
                // distinct: every host already runs one of the group).
                await agents[2]?.kill()
                try await waitUntil("host-2 is seen disconnected") {
                    try await Self.connectedHosts(remote) == all.subtracting(["host-2"])
                }
                let second = try await Self.runTasks(hosts - 1, distinct: false, remote: remote)
                try await Self.waitUntilRunning(second, remote: remote)
                let (secondInstanceOf, secondHostOf) = try await Self.placements(second, remote: remote)
                #expect(!second.contains { secondInstanceOf[$0].flatMap { secondHostOf[$0] } == "host-2" })

                // It comes back on its state: reconnected, its task runs on, still one container there.
                agents[2] = try Self.startAgent(2, remote: remote, directory: agents[2]?.directory)
                try await waitUntil("host-2 is connected again") {
                    try await Self.connectedHosts(remote) == all
                }
                try await Self.waitUntilRunning(first, remote: remote)
                #expect(try await Self.runningContainers(2, cluster: remote.cluster).count == 1)

                // A service spread over the instances: the same number of its tasks on every host.
                let created = try await remote.controlPlane.ecs(
                    "create-service",
                    "--cluster",
                    remote.cluster,
                    "--service-name",
                    "spread",
                    "--task-definition",
                    "remote-app",
                    "--desired-count",
                    "\(2 * hosts)",
                    "--placement-strategy",
                    "type=spread,field=instanceId"
                )
                #expect(created.status == 0, "\(created.error)")
                var serviceTasks: [String] = []
                try await waitUntil("the service runs \(2 * hosts) tasks") {
                    let described = try await remote.controlPlane.ecs(
                        "describe-services",
                        "--cluster",
                        remote.cluster,
                        "--services",
                        "spread"
                    )
                    let service = (described.json?["services"] as? [[String: Any]])?.first
                    guard service?["runningCount"] as? Int == 2 * hosts else { return false }
                    let listed = try await remote.controlPlane.ecs(
                        "list-tasks",
                        "--cluster",
                        remote.cluster,
                        "--service-name",
                        "spread"
                    )
                    serviceTasks = listed.json?["taskArns"] as? [String] ?? []
                    return serviceTasks.count == 2 * hosts
                }
                let (serviceInstanceOf, serviceHostOf) = try await Self.placements(serviceTasks, remote: remote)
                var perHost: [String: Int] = [:]
                for arn in serviceTasks {
                    perHost[serviceInstanceOf[arn].flatMap { serviceHostOf[$0] } ?? "?", default: 0] += 1
                }
                #expect(perHost == Dictionary(uniqueKeysWithValues: all.map { ($0, 2) }), "\(perHost)")
            } catch {
                for (host, agent) in agents.sorted(by: { $0.key < $1.key }) {
                    Issue.record("agent of host-\(host):\n\(agent.logText.suffix(2500))")
                    _ = await agent.terminate()
                }
                throw error
            }
            for agent in agents.values {
                #expect(await agent.terminate() == 0, "\(agent.logText.suffix(2000))")
                agent.removeDirectory()
            }
        }
    }

    @Test(
        "a host cut off longer than BERTH_INSTANCE_LOST_AFTER: its service task is replaced on the others while its container runs on; healed, it reconnects, the orphan is stopped, and the service runs its count once"
    )
    func lostHost() async throws {
        let hosts = Self.hosts
        let cut = hosts
        // Short clocks: heartbeats every second (a dead link is seen in ~3 s), lost after 10 s; the agent
        // gives up on a silent channel after 3–6 s.
        try await RemoteAgentTests.withRemote(
            address: Self.bridgeAddress,
            controlPlaneConfiguration: """
                BERTH_INSTANCE_LOST_AFTER=10s
                BERTH_CHANNEL_HEARTBEAT_INTERVAL=1s
                """
        ) { remote in
            try await Self.withAgents(remote: remote, configuration: "BERTH_CHANNEL_SILENCE_TIMEOUT=3s") { _ in
                let all = Set((1...hosts).map { "host-\($0)" })
                try await Self.createSpreadService("steady", count: hosts, remote: remote)
                var before: [[String: Any]] = []
                try await waitUntil("the service runs one task on each host") {
                    before = try await Self.serviceTasks("steady", remote: remote)
                    return before.count == hosts && before.allSatisfy { $0["lastStatus"] as? String == "RUNNING" }
                }
                let hostOfBefore = try await Self.hostsOf(before, remote: remote)
                #expect(Set(hostOfBefore.values) == all, "\(hostOfBefore)")
                let orphan = try #require(hostOfBefore.first { $0.value == "host-\(cut)" }?.key)

                try await Self.setLink(cut, up: false)
                do {
                    try await waitUntil("host-\(cut) is seen disconnected") {
                        try await Self.connectedHosts(remote) == all.subtracting(["host-\(cut)"])
                    }
                    var lost: [String: Any] = [:]
                    try await waitUntil("host-\(cut)'s service task is STOPPED as lost") {
                        lost = try await remote.controlPlane.task(orphan, cluster: remote.cluster)
                        return lost["lastStatus"] as? String == "STOPPED"
                    }
                    #expect((lost["stoppedReason"] as? String)?.hasPrefix("Host lost: no contact since") == true)
                    #expect(lost["stopCode"] as? String == "ServiceSchedulerInitiated")
                    try await waitUntil("the service is back to \(hosts) tasks, on the other hosts") {
                        let tasks = try await Self.serviceTasks("steady", remote: remote)
                        guard tasks.count == hosts, tasks.allSatisfy({ $0["lastStatus"] as? String == "RUNNING" })
                        else { return false }
                        return try await !Self.hostsOf(tasks, remote: remote).values.contains("host-\(cut)")
                    }
                    // No control plane reaches into a host it cannot see: the container there runs on.
                    #expect(try await Self.runningTaskArns(cut, cluster: remote.cluster) == [orphan])
                } catch {
                    try? await Self.setLink(cut, up: true)
                    throw error
                }

                try await Self.setLink(cut, up: true)
                try await waitUntil("host-\(cut) is connected again") {
                    try await Self.connectedHosts(remote) == all
                }
                try await waitUntil("the orphan on host-\(cut) is stopped") {
                    try await Self.runningTaskArns(cut, cluster: remote.cluster).isEmpty
                }
                let after = try await Self.serviceTasks("steady", remote: remote)
                #expect(after.count == hosts && after.allSatisfy { $0["lastStatus"] as? String == "RUNNING" })
                let described = try await remote.controlPlane.ecs(
                    "describe-services",
                    "--cluster",
                    remote.cluster,
                    "--services",
                    "steady"
                )
                let service = (described.json?["services"] as? [[String: Any]])?.first
                #expect(service?["runningCount"] as? Int == hosts, "\(service ?? [:])")
                // Exactly the service's tasks run, each in one container.
                var running: [String] = []
                for host in 1...hosts { running += try await Self.runningTaskArns(host, cluster: remote.cluster) }
                #expect(running.sorted() == after.compactMap { $0["taskArn"] as? String }.sorted())
                #expect(
                    try await remote.controlPlane.task(orphan, cluster: remote.cluster)["lastStatus"] as? String
                        == "STOPPED"
                )
            }
        }
    }

    @Test(
        "the control plane SIGKILLed while tasks launch and stop on every host, and restarted on its state: the agents reconnect, every task ends as asked, each in one container, none orphaned"
    )
    func controlPlaneRestartUnderLoad() async throws {
        let hosts = Self.hosts
        try await RemoteAgentTests.withRemote(address: Self.bridgeAddress) { remote in
            try await Self.withAgents(remote: remote) { _ in
                let all = Set((1...hosts).map { "host-\($0)" })
                let first = try await Self.runTasks(2 * hosts, distinct: false, remote: remote)
                try await Self.waitUntilRunning(first, remote: remote)

                // Load: a service and more tasks being placed and launched, and some of the first stopped,
                // when the control plane dies.
                try await Self.createSpreadService("busy", count: 2 * hosts, remote: remote)
                let second = try await Self.runTasks(2 * hosts, distinct: false, remote: remote)
                let stopping = Array(first.prefix(hosts))
                for arn in stopping {
                    let stopped = try await remote.controlPlane.ecs(
                        "stop-task",
                        "--cluster",
                        remote.cluster,
                        "--task",
                        arn,
                        "--reason",
                        "under load"
                    )
                    #expect(stopped.status == 0, "\(stopped.error)")
                }
                await remote.controlPlane.kill()
                remote.controlPlane = try remote.controlPlane.restarted(directory: remote.directory)
                try await waitUntil("the control plane answers again") {
                    (try? await remote.controlPlane.ecs("list-clusters").status) == 0
                }
                try await waitUntil("every agent reconnects") {
                    try await Self.connectedHosts(remote) == all
                }

                let running = Array(first.dropFirst(hosts)) + second
                try await Self.waitUntilRunning(running, remote: remote)
                var serviceTasks: [[String: Any]] = []
                try await waitUntil("the service runs \(2 * hosts) tasks") {
                    serviceTasks = try await Self.serviceTasks("busy", remote: remote)
                    return serviceTasks.count == 2 * hosts
                        && serviceTasks.allSatisfy { $0["lastStatus"] as? String == "RUNNING" }
                }
                try await waitUntil("the stopped tasks are STOPPED") {
                    let tasks =
                        try await remote.controlPlane.ecs(
                            ["describe-tasks", "--cluster", remote.cluster, "--tasks"] + stopping
                        ).json?["tasks"] as? [[String: Any]] ?? []
                    return tasks.count == stopping.count
                        && tasks.allSatisfy { $0["lastStatus"] as? String == "STOPPED" }
                }
                // Every live task in exactly one container, and no container for any other task.
                let live = running + serviceTasks.compactMap { $0["taskArn"] as? String }
                try await waitUntil("the hosts run exactly the live tasks") {
                    var containers: [String] = []
                    for host in 1...hosts {
                        containers += try await Self.runningTaskArns(host, cluster: remote.cluster)
                    }
                    return containers.sorted() == live.sorted()
                }
            }
        }
    }
}
