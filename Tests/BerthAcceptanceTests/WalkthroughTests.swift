import BerthTestSupport
import DockerEngine
import Foundation
import Logging
import Testing

/// The ECS whitepaper's walkthrough, with the real aws CLI against `berth agent` on the real dockerd.
@Suite("aws ecs against berth agent", .serialized)
struct WalkthroughTests {
    static let cluster = "Walkthrough"
    static let image = TestEnvironment.image(in: TestEnvironment.openRegistry, repository: "api-busybox")

    /// One agent for the suite's steps, stopped and cleaned up whatever happens.
    static func withAgent(extraConfiguration: String = "", _ body: (Session) async throws -> Void) async throws {
        try await BerthAgentProcess.withAgent(cluster: cluster, extraConfiguration: extraConfiguration) { agent in
            try await body(Session(agent: agent))
        }
    }

    static func removeImage(_ image: String) async {
        let logger = Logger(label: "walkthrough", factory: { _ in SwiftLogNoOpLogHandler() })
        try? await DockerEngineClient.withClient(
            endpoint: .unixSocket(path: TestEnvironment.dockerSocket),
            logger: logger
        ) { docker in
            _ = try? await docker.removeImage(image, force: true, prune: true)
        }
    }

    /// Removes every container and volume labelled for `cluster` (the walkthrough's by default).
    static func removeContainers(cluster: String = cluster) async {
        let logger = Logger(label: "walkthrough", factory: { _ in SwiftLogNoOpLogHandler() })
        try? await DockerEngineClient.withClient(
            endpoint: .unixSocket(path: TestEnvironment.dockerSocket),
            logger: logger
        ) { docker in
            await docker.removeEverything(ofCluster: cluster)
        }
    }

    struct Session {
        let agent: BerthAgentProcess

        /// Runs `aws ecs ...`, which must succeed, and returns its JSON answer.
        @discardableResult
        func ecs(_ arguments: String...) async throws -> [String: Any] {
            let result = try await AWSCLI.run(["ecs"] + arguments, endpoint: agent.endpoint)
            guard result.status == 0 else {
                throw WaitTimeout(
                    "aws ecs \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.error)"
                )
            }
            return result.json ?? [:]
        }

        /// Runs `aws ecs ...`, which must fail; returns what the CLI printed.
        func failing(_ arguments: String...) async throws -> String {
            let result = try await AWSCLI.run(["ecs"] + arguments, endpoint: agent.endpoint)
            #expect(result.status != 0, "aws ecs \(arguments.joined(separator: " ")) should fail")
            return result.error
        }

        func registerTaskDefinition(_ definition: [String: Any]) async throws -> String {
            let data = try JSONSerialization.data(withJSONObject: definition)
            let answer = try await ecs(
                "register-task-definition",
                "--cli-input-json",
                String(decoding: data, as: UTF8.self)
            )
            let registered = answer["taskDefinition"] as? [String: Any]
            return try #require(registered?["taskDefinitionArn"] as? String)
        }

        func describeInstance(_ arn: String) async throws -> [String: Any] {
            let answer = try await ecs(
                "describe-container-instances",
                "--cluster",
                cluster,
                "--container-instances",
                arn
            )
            return try #require((answer["containerInstances"] as? [[String: Any]])?.first)
        }

        func describeTask(_ arn: String) async throws -> [String: Any] {
            let answer = try await ecs("describe-tasks", "--cluster", cluster, "--tasks", arn)
            return try #require((answer["tasks"] as? [[String: Any]])?.first)
        }
    }

    @Test("the walkthrough: cluster, instance, task definition, run-task, wait, curl, describe, stop-task, wait")
    func walkthrough() async throws {
        try await Self.withAgent { session in
            let created = try await session.ecs("create-cluster", "--cluster-name", Self.cluster)
            #expect((created["cluster"] as? [String: Any])?["status"] as? String == "ACTIVE")

            let listed = try await session.ecs("list-container-instances", "--cluster", Self.cluster)
            let instanceArn = try #require((listed["containerInstanceArns"] as? [String])?.first)
            let instance = try await session.describeInstance(instanceArn)
            #expect(instance["agentConnected"] as? Bool == true)
            let resources = try #require(instance["registeredResources"] as? [[String: Any]])
            let cpu = resources.first { $0["name"] as? String == "CPU" }?["integerValue"] as? Int ?? 0
            #expect(cpu == ProcessInfo.processInfo.activeProcessorCount * 1024)
            let memory = resources.first { $0["name"] as? String == "MEMORY" }?["integerValue"] as? Int ?? 0
            #expect(memory > 0)
            let ports = resources.first { $0["name"] as? String == "PORTS" }?["stringSetValue"] as? [String] ?? []
            #expect(Set(["22", "2375", "2376", "51678"]).isSubset(of: Set(ports)))

            let hostPort = try TestPorts.free()
            let definition = try await session.registerTaskDefinition([
                "family": "Walkthrough",
                "containerDefinitions": [
                    [
                        "name": "web", "image": Self.image, "memory": 64, "cpu": 128, "essential": true,
                        "stopTimeout": 2,
                        "command": [
                            "sh", "-c",
                            "mkdir -p /www && echo walkthrough-page > /www/index.html && httpd -f -p 80 -h /www",
                        ],
                        "portMappings": [["containerPort": 80, "hostPort": hostPort]],
                    ]
                ],
            ])
            #expect(
                definition.hasSuffix(":task-definition/Walkthrough:1")
                    || definition.contains("task-definition/Walkthrough:")
            )

            // Not cached: the agent pulls it from the registry (and counts the pull in /metrics).
            await Self.removeImage(Self.image)
            let run = try await session.ecs(
                "run-task",
                "--cluster",
                Self.cluster,
                "--task-definition",
                "Walkthrough",
                "--count",
                "1"
            )
            let task = try #require((run["tasks"] as? [[String: Any]])?.first)
            let taskArn = try #require(task["taskArn"] as? String)
            #expect(task["desiredStatus"] as? String == "RUNNING")
            try await session.ecs("wait", "tasks-running", "--cluster", Self.cluster, "--tasks", taskArn)

            #expect(try await fetchWhenServing("http://127.0.0.1:\(hostPort)/") == "walkthrough-page\n")
            let running = try await session.describeTask(taskArn)
            #expect(running["lastStatus"] as? String == "RUNNING")
            let container = try #require((running["containers"] as? [[String: Any]])?.first)
            let binding = try #require((container["networkBindings"] as? [[String: Any]])?.first)
            #expect(binding["hostPort"] as? Int == hostPort)
            #expect(binding["containerPort"] as? Int == 80)
            #expect(running["startedAt"] is Double || running["startedAt"] is Int || running["startedAt"] is String)

            // The pull and the reports that got the task here, in the agent's metrics.
            let samples = try await IntrospectionTests.samples(session.agent.introspection + "/metrics")
            #expect(samples[#"berth_image_pull_duration_seconds_count{result="ok"}"#] ?? 0 >= 1, "\(samples.keys)")
            // Its layers are the local test image's, already in Docker: counted, but nothing to download.
            #expect(samples["berth_image_pull_bytes_total"] == 0)
            #expect(samples[#"berth_state_change_report_duration_seconds_count{status="RUNNING"}"#] ?? 0 >= 1)

            let listedTasks = try await session.ecs("list-tasks", "--cluster", Self.cluster)
            #expect((listedTasks["taskArns"] as? [String])?.contains(taskArn) == true)

            try await session.ecs(
                "stop-task",
                "--cluster",
                Self.cluster,
                "--task",
                taskArn,
                "--reason",
                "walkthrough done"
            )
            try await session.ecs("wait", "tasks-stopped", "--cluster", Self.cluster, "--tasks", taskArn)
            let stopped = try await session.describeTask(taskArn)
            #expect(stopped["stoppedReason"] as? String == "walkthrough done")
            #expect(stopped["stopCode"] as? String == "UserInitiated")
        }
    }

    @Test("more tasks than fit: the ones that fit run, the rest come back as RESOURCE failures")
    func resourceFailures() async throws {
        try await Self.withAgent { session in
            let listed = try await session.ecs("list-container-instances", "--cluster", Self.cluster)
            let instanceArn = try #require((listed["containerInstanceArns"] as? [String])?.first)
            let instance = try await session.describeInstance(instanceArn)
            let remaining = try #require(instance["remainingResources"] as? [[String: Any]])
            let memory = try #require(remaining.first { $0["name"] as? String == "MEMORY" }?["integerValue"] as? Int)
            let half = memory / 2 + 1
            _ = try await session.registerTaskDefinition([
                "family": "WalkthroughBig",
                "containerDefinitions": [
                    [
                        "name": "big", "image": Self.image, "memory": half, "command": ["sleep", "600"],
                        "stopTimeout": 1,
                    ]
                ],
            ])
            let run = try await session.ecs(
                "run-task",
                "--cluster",
                Self.cluster,
                "--task-definition",
                "WalkthroughBig",
                "--count",
                "3"
            )
            let tasks = try #require(run["tasks"] as? [[String: Any]])
            let failures = try #require(run["failures"] as? [[String: Any]])
            #expect(tasks.count == 1)
            #expect(
                failures.contains {
                    $0["reason"] as? String == "RESOURCE:MEMORY" && $0["arn"] as? String == instanceArn
                }
            )

            let taskArn = try #require(tasks.first?["taskArn"] as? String)
            try await session.ecs("wait", "tasks-running", "--cluster", Self.cluster, "--tasks", taskArn)
            let ports = try await session.ecs(
                "run-task",
                "--cluster",
                Self.cluster,
                "--task-definition",
                "WalkthroughBig"
            )
            #expect((ports["tasks"] as? [Any])?.isEmpty == true)
            try await session.ecs("stop-task", "--cluster", Self.cluster, "--task", taskArn)
            try await session.ecs("wait", "tasks-stopped", "--cluster", Self.cluster, "--tasks", taskArn)
            // Stopped, its memory is free again.
            let again = try await session.ecs(
                "run-task",
                "--cluster",
                Self.cluster,
                "--task-definition",
                "WalkthroughBig"
            )
            let second = try #require((again["tasks"] as? [[String: Any]])?.first?["taskArn"] as? String)
            try await session.ecs("stop-task", "--cluster", Self.cluster, "--task", second)
        }
    }

    @Test("a task with links, a scratch volume, a host volume and volumesFrom works end to end")
    func multiContainer() async throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "berth-walkthrough-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: output) }
        try await Self.withAgent { session in
            _ = try await session.registerTaskDefinition([
                "family": "WalkthroughLinks",
                "volumes": [["name": "scratch"], ["name": "results", "host": ["sourcePath": output.path]]],
                "containerDefinitions": [
                    [
                        "name": "db", "image": Self.image, "memory": 32, "essential": true, "stopTimeout": 1,
                        "command": ["sh", "-c", "echo from-db > /data/index.html && httpd -f -p 80 -h /data"],
                        "mountPoints": [["sourceVolume": "scratch", "containerPath": "/data"]],
                    ],
                    [
                        "name": "app", "image": Self.image, "memory": 32, "essential": false,
                        "links": ["db:database"],
                        "dependsOn": [["containerName": "db", "condition": "START"]],
                        "volumesFrom": [["sourceContainer": "db", "readOnly": true]],
                        "mountPoints": [["sourceVolume": "results", "containerPath": "/results"]],
                        "command": [
                            "sh", "-c",
                            "sleep 1; wget -qO /results/linked http://database/index.html; cat /data/index.html > /results/shared; touch /data/x 2>/dev/null && echo writable > /results/ro || echo read-only > /results/ro",
                        ],
                    ],
                ],
            ])
            let run = try await session.ecs(
                "run-task",
                "--cluster",
                Self.cluster,
                "--task-definition",
                "WalkthroughLinks"
            )
            let taskArn = try #require((run["tasks"] as? [[String: Any]])?.first?["taskArn"] as? String)
            try await session.ecs("wait", "tasks-running", "--cluster", Self.cluster, "--tasks", taskArn)
            let clock = ContinuousClock()
            let deadline = clock.now + TestEnvironment.loadedWait
            var app: [String: Any] = [:]
            while clock.now < deadline {
                let task = try await session.describeTask(taskArn)
                app = (task["containers"] as? [[String: Any]])?.first { $0["name"] as? String == "app" } ?? [:]
                if app["lastStatus"] as? String == "STOPPED" { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(app["exitCode"] as? Int == 0, "\(app)")
            #expect(try String(contentsOf: output.appendingPathComponent("linked"), encoding: .utf8) == "from-db\n")
            #expect(try String(contentsOf: output.appendingPathComponent("shared"), encoding: .utf8) == "from-db\n")
            #expect(try String(contentsOf: output.appendingPathComponent("ro"), encoding: .utf8) == "read-only\n")
            // The non-essential container's exit leaves the task running.
            #expect(try await session.describeTask(taskArn)["lastStatus"] as? String == "RUNNING")
            try await session.ecs("stop-task", "--cluster", Self.cluster, "--task", taskArn)
            try await session.ecs("wait", "tasks-stopped", "--cluster", Self.cluster, "--tasks", taskArn)
        }
    }

    @Test("bad requests get ECS-shaped errors the CLI names")
    func badRequests() async throws {
        try await Self.withAgent { session in
            #expect(
                try await session.failing("describe-tasks", "--cluster", "nope", "--tasks", "x").contains(
                    "ClusterNotFoundException"
                )
            )
            #expect(
                try await session.failing("run-task", "--cluster", Self.cluster, "--task-definition", "missing")
                    .contains(
                        "ClientException"
                    )
            )
            _ = try await session.registerTaskDefinition([
                "family": "WalkthroughBad",
                "containerDefinitions": [["name": "a", "image": Self.image, "memory": 16]],
            ])
            let count = try await session.failing(
                "run-task",
                "--cluster",
                Self.cluster,
                "--task-definition",
                "WalkthroughBad",
                "--count",
                "11"
            )
            #expect(count.contains("InvalidParameterException"), "\(count)")
            let noMemory = try await session.failing(
                "register-task-definition",
                "--family",
                "x",
                "--container-definitions",
                #"[{"name":"a","image":"b"}]"#
            )
            #expect(noMemory.contains("ClientException"), "\(noMemory)")
            let strategy = try await session.failing(
                "run-task",
                "--cluster",
                Self.cluster,
                "--task-definition",
                "WalkthroughBad",
                "--placement-strategy",
                "type=binpack,field=disk"
            )
            #expect(strategy.contains("InvalidParameterException"), "\(strategy)")
            let filter = try await session.failing(
                "list-container-instances",
                "--cluster",
                Self.cluster,
                "--filter",
                "attribute:x =="
            )
            #expect(filter.contains("InvalidParameterException"), "\(filter)")
        }
    }

    @Test(
        "the instance says which host it is: BERTH_INSTANCE_ID as ec2InstanceId, its zone as an attribute to filter on"
    )
    func hostIdentity() async throws {
        let configuration = "BERTH_INSTANCE_ID=walkthrough-host-17\nBERTH_AVAILABILITY_ZONE=dc1-room2"
        try await Self.withAgent(extraConfiguration: configuration) { session in
            let listed = try await session.ecs(
                "list-container-instances",
                "--cluster",
                Self.cluster,
                "--filter",
                "attribute:ecs.availability-zone == dc1-room2"
            )
            let instanceArn = try #require((listed["containerInstanceArns"] as? [String])?.first)
            let instance = try await session.describeInstance(instanceArn)
            #expect(instance["ec2InstanceId"] as? String == "walkthrough-host-17")
            let attributes = instance["attributes"] as? [[String: Any]] ?? []
            #expect(
                attributes.contains {
                    $0["name"] as? String == "ecs.availability-zone" && $0["value"] as? String == "dc1-room2"
                }
            )
            let elsewhere = try await session.ecs(
                "list-container-instances",
                "--cluster",
                Self.cluster,
                "--filter",
                "attribute:ecs.availability-zone == dc2"
            )
            #expect((elsewhere["containerInstanceArns"] as? [String])?.isEmpty == true)
        }
    }

    @Test("with BERTH_API_CREDENTIALS_FILE the aws CLI's signatures are checked: right keys pass, others are refused")
    func signedRequests() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "berth-credentials-\(UUID().uuidString)"
        )
        try "[walkthrough]\naws_access_key_id = AKIDBERTHTEST\naws_secret_access_key = berth-test-secret\n".write(
            to: file,
            atomically: true,
            encoding: .utf8
        )
        defer { try? FileManager.default.removeItem(at: file) }
        try await Self.withAgent(extraConfiguration: "BERTH_API_CREDENTIALS_FILE=\(file.path)") { session in
            try await session.ecs("describe-clusters", "--clusters", Self.cluster)
            let wrongSecret = try await AWSCLI.run(
                ["ecs", "list-clusters"],
                endpoint: session.agent.endpoint,
                secret: "not-the-secret"
            )
            #expect(wrongSecret.status != 0)
            #expect(wrongSecret.error.contains("InvalidSignatureException"), "\(wrongSecret.error)")
            let unknownKey = try await AWSCLI.run(
                ["ecs", "list-clusters"],
                endpoint: session.agent.endpoint,
                key: "AKIDSTRANGER"
            )
            #expect(unknownKey.status != 0)
            #expect(unknownKey.error.contains("UnrecognizedClientException"), "\(unknownKey.error)")
        }
    }
}
