import BerthAPI
import BerthAgent
import BerthModel
import DockerEngine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PropertyBased
import Testing

/// The task metadata endpoint in process: both versions' routes, unknown keys, and the rate limit per client.
@Suite("Task metadata endpoint: routes and rate limit")
struct TaskMetadataRouterTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let webKey = String(repeating: "a", count: 40)
    static let sideKey = String(repeating: "b", count: 40)

    /// One RUNNING task of two containers; Docker answers statistics for `web` only.
    struct OneTask: TaskMetadataSource {
        let record: TaskRecord = {
            var web = ContainerDefinition(name: "web", image: "busybox")
            web.memory = 64
            web.cpu = 128
            var record = TaskRecord(
                payload: TaskPayload(
                    taskArn: "arn:aws:ecs:us-east-1:123456789012:task/default/0123",
                    clusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/default",
                    family: "web",
                    revision: 3,
                    containers: [web, ContainerDefinition(name: "side", image: "busybox")]
                ),
                receivedAt: Timestamp(secondsSinceEpoch: 0)
            )
            record.knownStatus = .running
            for (index, key) in [TaskMetadataRouterTests.webKey, TaskMetadataRouterTests.sideKey].enumerated() {
                record.containers[index].metadataID = key
                record.containers[index].dockerID = "d-\(record.containers[index].name)"
                record.containers[index].knownStatus = .running
            }
            return record
        }()

        func task(ofContainerKey key: String) async -> (task: TaskRecord, container: String)? {
            record.containers.first { $0.metadataID == key }.map { (record, $0.name) }
        }

        func inspect(_ dockerID: String) async -> ContainerInspect? { nil }

        func stats(_ dockerID: String) async -> Data? {
            dockerID == "d-web" ? Data(#"{"cpu_stats":{"online_cpus":2}}"#.utf8) : nil
        }
    }

    static func get(_ client: some TestClientProtocol, _ path: String) async throws -> (HTTPResponse.Status, Data) {
        try await client.execute(uri: path, method: .get) { ($0.status, Data($0.body.readableBytesView)) }
    }

    static func object(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("v3 and v4 answer the same documents under a container's key; an unknown key is 404 naming the version")
    func routes() async throws {
        let app = Application(router: TaskMetadataRouter.make(source: OneTask()), logger: Self.logger)
        try await app.test(.router) { client in
            let (status, body) = try await Self.get(client, "/v4/\(Self.webKey)")
            #expect(status == .ok)
            let container = try Self.object(body)
            #expect(container["Name"] as? String == "web")
            #expect(container["DockerId"] as? String == "d-web")
            #expect(container["KnownStatus"] as? String == "RUNNING")
            #expect((container["Limits"] as? [String: Any])?["Memory"] as? Int == 64)
            let v3 = try Self.object(try await Self.get(client, "/v3/\(Self.webKey)").1)
            #expect(NSDictionary(dictionary: v3).isEqual(to: container), "\(v3)")

            for version in TaskMetadataRouter.versions {
                let (taskStatus, taskBody) = try await Self.get(client, "/\(version)/\(Self.sideKey)/task")
                #expect(taskStatus == .ok)
                let task = try Self.object(taskBody)
                #expect(task["TaskARN"] as? String == "arn:aws:ecs:us-east-1:123456789012:task/default/0123")
                #expect(task["Revision"] as? String == "3")
                let names = (task["Containers"] as? [[String: Any]])?.compactMap { $0["Name"] as? String }
                #expect(names == ["web", "side"])

                let stats = try await Self.get(client, "/\(version)/\(Self.webKey)/stats")
                #expect(try Self.object(stats.1)["cpu_stats"] != nil)
                let taskStats = try await Self.get(client, "/\(version)/\(Self.webKey)/task/stats")
                #expect(
                    String(decoding: taskStats.1, as: UTF8.self)
                        == #"{"d-side":null,"d-web":{"cpu_stats":{"online_cpus":2}}}"#
                )

                let unknown = String(repeating: "0", count: 40)
                let (missing, message) = try await Self.get(client, "/\(version)/\(unknown)/task")
                #expect(missing == .notFound)
                #expect(
                    String(decoding: message, as: UTF8.self)
                        == #""\#(version.uppercased()) metadata handler: no container with endpoint ID \#(unknown)""#
                )
            }
        }
    }

    @Test("past its burst a client gets 429, by the address it calls from, whichever version it asks")
    func rateLimitedByClient() async throws {
        // The clock stands still, so nothing refills however slowly a loaded machine sends the requests.
        let stopped = ContinuousClock.now
        let limiter = RequestRateLimiter(steady: 1, burst: 3, clock: { stopped })
        let app = Application(
            router: TaskMetadataRouter.make(source: OneTask(), limiter: limiter),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            logger: Self.logger
        )
        try await app.test(.live) { client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<4 { statuses.append(try await Self.get(client, "/v4/\(Self.webKey)").0) }
            #expect(statuses.prefix(3).allSatisfy { $0 == .ok })
            #expect(statuses.last == .tooManyRequests)
            let (status, body) = try await Self.get(client, "/v3/\(Self.webKey)")
            #expect(status == .tooManyRequests, "both versions draw on one bucket")
            #expect(String(decoding: body, as: UTF8.self).contains("127.0.0.1"))
            #expect(limiter.clients == 1)
        }
    }

    @Test("the first burst is let through, no window lets more than burst plus steady per second, a pause refills")
    func tokenBucketBounds() async {
        // The first two numbers choose the limit; the rest are the gaps between requests, in milliseconds.
        await propertyCheck(count: 200, input: Gen.int(in: 0...400).array(of: 3...122)) { numbers in
            let steady = numbers[0] % 20 + 1
            let burst = numbers[1] % 20 + 1
            let gaps = numbers.dropFirst(2)
            let limiter = RequestRateLimiter(steady: steady, burst: burst)
            let start = ContinuousClock.now
            var elapsed = 0
            var admitted: [Int] = []
            for (index, gap) in gaps.enumerated() {
                elapsed += gap
                let allowed = limiter.admit("client", now: start + .milliseconds(elapsed))
                if index < burst { #expect(allowed, "request \(index) of the first burst") }
                // After a pause of a whole token's worth, whatever came before, there is a token again.
                if index > 0, gap * steady >= 1000 { #expect(allowed, "after a \(gap) ms pause at \(steady)/s") }
                if allowed { admitted.append(elapsed) }
            }
            for (first, from) in admitted.enumerated() {
                for (last, to) in admitted.enumerated().dropFirst(first) {
                    let bound = Double(burst) + Double(steady) * Double(to - from) / 1000
                    #expect(
                        Double(last - first + 1) <= bound + 1e-9,
                        "\(last - first + 1) let through in \(to - from) ms"
                    )
                }
            }
        }
    }

    @Test("clients idle long enough to be full again are forgotten once more than clientsKept are known")
    func forgetsIdleClients() {
        let limiter = RequestRateLimiter(steady: 10, burst: 10, clientsKept: 2)
        let start = ContinuousClock.now
        #expect(limiter.admit("a", now: start) && limiter.admit("b", now: start) && limiter.admit("c", now: start))
        #expect(limiter.clients == 3, "none is idle yet: none is forgotten")
        #expect(limiter.admit("d", now: start + .seconds(5)))
        #expect(limiter.clients == 1)
    }
}
