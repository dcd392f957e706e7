import BerthTestSupport
import Foundation
import Testing

/// The task metadata endpoint (v4 and v3), read from inside a bridge-mode task container as an application
/// reads it: with the URLs in ECS_CONTAINER_METADATA_URI_V4 and ECS_CONTAINER_METADATA_URI and busybox's wget.
@Suite("berth agent: the task metadata endpoint, from inside a container")
struct TaskMetadataTests {
    static func object(_ url: URL) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    @Test("a bridge-mode container reads its container, task and stats documents; an unknown ID is 404")
    func fromInsideABridgeContainer() async throws {
        let cluster = "metadata-\(UUID().uuidString.prefix(8).lowercased())"
        // Each document fetched from inside the container into a host folder; `done` when all are there. The
        // agent records RUNNING just after Docker starts the container: the script waits to see it, as an
        // application that needs it would.
        let script = """
            cd /out && u="$ECS_CONTAINER_METADATA_URI_V4" && echo "$u" > uri \
            && for i in $(seq 1 50); do wget -q -O container.json "$u" \
            && grep -q '"KnownStatus":"RUNNING"' container.json && break; sleep 0.2; done \
            && wget -q -O task.json "$u/task" \
            && wget -q -O stats.json "$u/stats" && wget -q -O task-stats.json "$u/task/stats" \
            && echo "$ECS_CONTAINER_METADATA_URI" > uri3 && wget -q -O container-v3.json "$ECS_CONTAINER_METADATA_URI" \
            && wget -q -O task-v3.json "$ECS_CONTAINER_METADATA_URI/task" \
            && touch done; sleep 3600
            """
        try await BerthAgentProcess.withAgent(cluster: cluster) { agent in
            let output = agent.directory.appendingPathComponent("out")
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            let definition: [String: Any] = [
                "family": "metadata",
                "volumes": [["name": "out", "host": ["sourcePath": output.path]]],
                "containerDefinitions": [
                    [
                        "name": "sidecar", "image": TestEnvironment.localImage, "memory": 8, "essential": false,
                        "command": ["sleep", "3600"], "stopTimeout": 1,
                    ],
                    [
                        "name": "reader", "image": TestEnvironment.localImage, "memory": 16, "cpu": 64,
                        "command": ["sh", "-c", script], "stopTimeout": 1,
                        "dependsOn": [["containerName": "sidecar", "condition": "START"]],
                        "mountPoints": [["sourceVolume": "out", "containerPath": "/out"]],
                        "dockerLabels": ["team": "berth"],
                    ],
                ],
            ]
            let body = String(decoding: try JSONSerialization.data(withJSONObject: definition), as: UTF8.self)
            #expect(try await ECSCall.post(agent.endpoint, "RegisterTaskDefinition", body).0 == 200)
            let arn = try await agent.runTask(cluster: cluster, taskDefinition: "metadata")
            let task = try await agent.waitForTask(arn, cluster: cluster, status: "RUNNING")
            let containers = try #require(task["containers"] as? [[String: Any]])
            let reader = try #require(containers.first { $0["name"] as? String == "reader" })
            let sidecar = try #require(containers.first { $0["name"] as? String == "sidecar" })

            let clock = ContinuousClock()
            let deadline = clock.now + TestEnvironment.loadedWait
            while !FileManager.default.fileExists(atPath: output.appendingPathComponent("done").path),
                clock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(200))
            }
            try #require(
                FileManager.default.fileExists(atPath: output.appendingPathComponent("done").path),
                "the container did not fetch every document: \((try? FileManager.default.contentsOfDirectory(atPath: output.path)) ?? [])"
            )

            // The URL names the agent's port on Docker's bridge gateway and a key of this container's own.
            let uri = try String(contentsOf: output.appendingPathComponent("uri"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(uri.wholeMatch(of: /http:\/\/[0-9.]+:\d+\/v4\/[0-9a-f]{40}/) != nil, "\(uri)")
            #expect(uri.contains(":\(agent.metadataPort)/v4/"))

            let container = try Self.object(output.appendingPathComponent("container.json"))
            #expect(container["Name"] as? String == "reader")
            #expect(container["DockerId"] as? String == reader["runtimeId"] as? String)
            #expect((container["DockerName"] as? String)?.hasPrefix("ecs-metadata-1-reader-") == true)
            #expect(container["Image"] as? String == TestEnvironment.localImage)
            #expect((container["ImageID"] as? String)?.hasPrefix("sha256:") == true)
            #expect(container["DesiredStatus"] as? String == "RUNNING")
            #expect(container["KnownStatus"] as? String == "RUNNING")
            #expect(container["Type"] as? String == "NORMAL")
            #expect(container["ContainerARN"] as? String == reader["containerArn"] as? String)
            let limits = try #require(container["Limits"] as? [String: Any])
            #expect(limits["CPU"] as? Double == 64)
            #expect(limits["Memory"] as? Int == 16)
            let labels = try #require(container["Labels"] as? [String: String])
            #expect(labels["team"] == "berth")
            #expect(labels["com.amazonaws.ecs.task-arn"] == arn)
            let network = try #require((container["Networks"] as? [[String: Any]])?.first)
            #expect(network["NetworkMode"] as? String == "bridge")
            #expect((network["IPv4Addresses"] as? [String])?.first?.isEmpty == false)
            #expect(
                (container["Volumes"] as? [[String: Any]])?.contains { $0["Destination"] as? String == "/out" } == true
            )

            let taskDocument = try Self.object(output.appendingPathComponent("task.json"))
            #expect(taskDocument["TaskARN"] as? String == arn)
            #expect(taskDocument["Cluster"] as? String == task["clusterArn"] as? String)
            #expect(taskDocument["Family"] as? String == "metadata")
            #expect(taskDocument["Revision"] as? String == "1")
            #expect(taskDocument["DesiredStatus"] as? String == "RUNNING")
            #expect(taskDocument["LaunchType"] as? String == "EC2")
            let names = (taskDocument["Containers"] as? [[String: Any]])?.compactMap { $0["Name"] as? String }
            #expect(Set(names ?? []) == ["reader", "sidecar"])

            let stats = try Self.object(output.appendingPathComponent("stats.json"))
            #expect(stats["cpu_stats"] is [String: Any])
            #expect(stats["memory_stats"] is [String: Any])
            let taskStats = try Self.object(output.appendingPathComponent("task-stats.json"))
            for id in [reader["runtimeId"], sidecar["runtimeId"]].compactMap({ $0 as? String }) {
                #expect((taskStats[id] as? [String: Any])?["cpu_stats"] != nil, "no stats for \(id): \(taskStats.keys)")
            }

            // Version 3, under ECS_CONTAINER_METADATA_URI: the same key, the same documents.
            let uri3 = try String(contentsOf: output.appendingPathComponent("uri3"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(uri3 == uri.replacingOccurrences(of: "/v4/", with: "/v3/"), "\(uri3)")
            let containerV3 = try Self.object(output.appendingPathComponent("container-v3.json"))
            #expect(NSDictionary(dictionary: containerV3).isEqual(to: container), "\(containerV3)")
            let taskV3 = try Self.object(output.appendingPathComponent("task-v3.json"))
            #expect(taskV3["TaskARN"] as? String == arn)
            #expect((taskV3["Containers"] as? [[String: Any]])?.count == 2)

            // A key no container was given.
            let base = try #require(uri.firstRange(of: "/v4/").map { String(uri[..<$0.upperBound]) })
            #expect(try await IntrospectionTests.get(base + String(repeating: "0", count: 40)).status == 404)
        }
    }
}
