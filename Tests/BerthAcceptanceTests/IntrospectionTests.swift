import AsyncHTTPClient
import BerthTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The ECS agent's introspection API on `berth agent`, with its shapes and status codes.
@Suite("berth agent: the introspection API")
struct IntrospectionTests {
    static func get(_ url: String) async throws -> (status: Int, json: [String: Any]) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        return (Int(response.status.code), object ?? [:])
    }

    /// `/metrics` parses as Prometheus text and counts what just happened.
    static func checkMetrics(_ url: String) async throws {
        let samples = try await samples(url)
        #expect(samples[#"berth_tasks{status="RUNNING"}"#] == 1, "\(samples.keys.sorted())")
        #expect(samples[#"berth_containers{status="RUNNING"}"#] == 1)
        #expect(
            samples.contains {
                $0.key.hasPrefix("berth_api_requests_total") && $0.key.contains(#"operation="RunTask""#)
                    && $0.value >= 1
            }
        )
        #expect(
            samples.contains {
                $0.key.hasPrefix("berth_docker_call_duration_seconds_count") && $0.key.contains("containers/create")
            }
        )
    }

    /// Every sample of `/metrics`, by name and labels; each line must be a well-formed Prometheus sample.
    static func samples(_ url: String) async throws -> [String: Double] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        #expect(response.status == .ok)
        let text = String(buffer: try await response.body.collect(upTo: 1 << 22))
        // name{label="value",...} number; label values are quoted and may hold anything but an unescaped quote.
        let sample = try Regex(
            #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN)$"#
        )
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.wholeMatch(of: sample) != nil, "not a Prometheus sample: \(line)")
            if let space = line.lastIndex(of: " ") {
                samples[String(line[..<space])] = Double(line[line.index(after: space)...])
            }
        }
        return samples
    }

    @Test("/v1/metadata, /v1/tasks, by task ARN, by full and short docker ID; 400 and 404 as the ECS agent answers")
    func shapes() async throws {
        let cluster = "introspection-\(UUID().uuidString.prefix(8).lowercased())"
        try await BerthAgentProcess.withAgent(cluster: cluster) { agent in
            let index = try await Self.get(agent.introspection + "/")
            #expect(index.json["AvailableCommands"] as? [String] == ["/v1/metadata", "/v1/tasks", "/license"])

            let metadata = try await Self.get(agent.introspection + "/v1/metadata")
            #expect(metadata.status == 200)
            #expect(metadata.json["Cluster"] as? String == cluster)
            #expect(
                (metadata.json["ContainerInstanceArn"] as? String)?.contains("container-instance/\(cluster)/") == true
            )
            // The version and the commit of the build, as the ECS agent shows its own.
            let version = try #require(metadata.json["Version"] as? String)
            #expect(
                version.wholeMatch(of: /Berth Agent - v\d+\.\d+\.\d+ \([0-9a-f]{12}(-dirty)?\)/) != nil,
                "\(version)"
            )

            let definition =
                #"{"family":"peek","containerDefinitions":[{"name":"web","image":"\#(TestEnvironment.localImage)","memory":8,"command":["sleep","3600"],"stopTimeout":1,"portMappings":[{"containerPort":80,"hostPort":0}]}]}"#
            #expect(try await ECSCall.post(agent.endpoint, "RegisterTaskDefinition", definition).0 == 200)
            let (_, ran) = try await ECSCall.post(
                agent.endpoint,
                "RunTask",
                #"{"cluster":"\#(cluster)","taskDefinition":"peek"}"#
            )
            let arn = try #require(
                ((try JSONSerialization.jsonObject(with: ran) as? [String: Any])?["tasks"] as? [[String: Any]])?.first?[
                    "taskArn"
                ]
                    as? String
            )
            // The introspection API follows the engine: wait for RUNNING there.
            var task: [String: Any] = [:]
            let clock = ContinuousClock()
            let deadline = clock.now + TestEnvironment.loadedWait
            while clock.now < deadline {
                task = try await Self.get(agent.introspection + "/v1/tasks?taskarn=\(arn)").json
                if task["KnownStatus"] as? String == "RUNNING" { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            if task["KnownStatus"] as? String != "RUNNING" {
                let (_, described) = try await ECSCall.post(
                    agent.endpoint,
                    "DescribeTasks",
                    #"{"cluster":"\#(cluster)","tasks":["\#(arn)"]}"#
                )
                Issue.record("the task did not run: \(String(decoding: described, as: UTF8.self))")
            }
            #expect(task["Arn"] as? String == arn)
            #expect(task["DesiredStatus"] as? String == "RUNNING")
            #expect(task["KnownStatus"] as? String == "RUNNING")
            #expect(task["Family"] as? String == "peek")
            #expect(task["Version"] as? String == "1")
            let container = try #require((task["Containers"] as? [[String: Any]])?.first)
            #expect(container["Name"] as? String == "web")
            #expect((container["DockerName"] as? String)?.hasPrefix("ecs-peek-1-web-") == true)
            #expect(container["Image"] as? String == TestEnvironment.localImage)
            let port = try #require((container["Ports"] as? [[String: Any]])?.first)
            #expect(port["ContainerPort"] as? Int == 80)
            #expect(port["Protocol"] as? String == "tcp")
            #expect((port["HostPort"] as? Int ?? 0) > 0)
            let dockerID = try #require(container["DockerId"] as? String)
            #expect(dockerID.count == 64)

            let all = try await Self.get(agent.introspection + "/v1/tasks")
            #expect((all.json["Tasks"] as? [[String: Any]])?.map { $0["Arn"] as? String } == [arn])
            #expect(
                try await Self.get(agent.introspection + "/v1/tasks?dockerid=\(dockerID)").json["Arn"] as? String == arn
            )
            let short = String(dockerID.prefix(12))
            #expect(
                try await Self.get(agent.introspection + "/v1/tasks?dockerid=\(short)").json["Arn"] as? String == arn
            )
            #expect(
                try await Self.get(agent.introspection + "/v1/tasks?dockerid=\(short)&taskarn=\(arn)").status == 400
            )
            #expect(try await Self.get(agent.introspection + "/v1/tasks?dockerid=0000deadbeef").status == 404)
            #expect(
                try await Self.get(agent.introspection + "/v1/tasks?taskarn=arn:aws:ecs:us-east-1:1:task/x/y").status
                    == 404
            )

            try await Self.checkMetrics(agent.introspection + "/metrics")

            #expect(
                try await ECSCall.post(agent.endpoint, "StopTask", #"{"cluster":"\#(cluster)","task":"\#(arn)"}"#).0
                    == 200
            )
        }
    }
}
