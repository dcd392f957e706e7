import BerthTestSupport
import DockerEngine
import Foundation
import PropertyBased
import Synchronization
import Testing

@Suite("Event stream")
struct EventStreamTests {
    static func event(_ action: String, id: String, nanos: Int64, exitCode: Int? = nil) -> String {
        let extra = exitCode.map { #","exitCode":"\#($0)""# } ?? ""
        return
            #"{"status":"\#(action)","id":"\#(id)","Type":"container","Action":"\#(action)","Actor":{"ID":"\#(id)","Attributes":{"name":"web"\#(extra)}},"scope":"local","time":\#(nanos / 1_000_000_000),"timeNano":\#(nanos)}"#
    }

    static let lines = [
        event("create", id: "c1", nanos: 1_763_776_236_000_000_001),
        event("start", id: "c1", nanos: 1_763_776_236_500_000_000),
        event("die", id: "c1", nanos: 1_763_776_240_123_456_789, exitCode: 137),
    ]

    @Test("events decode whatever the chunk boundaries, and the stream ends with the answer")
    func chunkBoundaries() async throws {
        let text = Self.lines.joined(separator: "\n") + "\n"
        await propertyCheck(count: 20, input: Gen.int(in: 1...61)) { size in
            do {
                let dockerd = StubbedDocker { _ in
                    .stream(status: 200, steps: StubHTTPServer.StreamStep.chunks(of: text, size: size))
                }
                try await dockerd.run { client, _ in
                    var events: [DockerEvent] = []
                    for try await event in client.events(until: DockerEventTime(secondsSinceEpoch: 1_763_776_300)) {
                        events.append(event)
                    }
                    #expect(events.map(\.action) == ["create", "start", "die"])
                    #expect(events.last?.exitCode == 137)
                    #expect(events.last?.attributes["name"] == "web")
                    #expect(events.last?.time == DockerEventTime(nanosecondsSinceEpoch: 1_763_776_240_123_456_789))
                }
            } catch {
                Issue.record("events failed with chunks of \(size) bytes: \(error)")
            }
        }
    }

    @Test("since, until and filters are sent as dockerd expects")
    func query() async throws {
        let dockerd = StubbedDocker { _ in .stream(status: 200, steps: []) }
        try await dockerd.run { client, server in
            let stream = client.events(
                since: DockerEventTime(nanosecondsSinceEpoch: 1_763_776_240_000_000_042),
                until: DockerEventTime(secondsSinceEpoch: 1_763_776_300),
                filters: ["type": ["container"], "label": ["com.amazonaws.ecs.cluster=prod"]]
            )
            for try await _ in stream {}
            let request = try #require(server.apiRequests.first)
            #expect(request.path == "/v1.41/events")
            #expect(request.query["since"] == "1763776240.000000042")
            #expect(request.query["until"] == "1763776300.000000000")
            #expect(request.query["filters"] == #"{"label":["com.amazonaws.ecs.cluster=prod"],"type":["container"]}"#)
        }
    }

    @Test("nothing is requested until iteration starts")
    func lazy() async throws {
        let dockerd = StubbedDocker { _ in .stream(status: 200, steps: []) }
        try await dockerd.run { client, server in
            // One stream made and never iterated, then another iterated to its end: dockerd sees only the
            // second (an eager first one would have gone out before it).
            let idle = client.events(since: DockerEventTime(secondsSinceEpoch: 1))
            for try await _ in client.events(since: DockerEventTime(secondsSinceEpoch: 2)) {}
            #expect(server.apiRequests.map { $0.query["since"] } == ["2.000000000"])
            _ = idle
        }
    }

    @Test("cancelling the consumer ends an open stream promptly")
    func cancellation() async throws {
        let dockerd = StubbedDocker { _ in .stream(status: 200, steps: [.text(Self.lines[0] + "\n"), .hang]) }
        try await dockerd.run { client, _ in
            let seen = Mutex<[String]>([])
            let consumer = Task {
                do {
                    for try await event in client.events() { seen.withLock { $0.append(event.action) } }
                } catch {
                    return (error as? DockerError)?.code
                }
                return DockerError.Code?.none
            }
            // Cancel once the stream is open and has delivered, however slow the machine is.
            let clock = ContinuousClock()
            let deadline = clock.now + StubbedDocker.conditionWait
            while seen.withLock({ $0.isEmpty }), clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let started = ContinuousClock.now
            consumer.cancel()
            let code = await consumer.value
            #expect(seen.withLock { $0 } == ["create"])
            #expect(code == .cancelled)
            #expect(
                ContinuousClock.now - started < StubbedDocker.conditionWait,
                "cancelling must end the stream, which never ends by itself"
            )
        }
    }

    @Test("a broken stream fails as unreachable, so the caller can resume with since")
    func brokenStream() async throws {
        let dockerd = StubbedDocker { _ in .stream(status: 200, steps: [.text(Self.lines[0] + "\n"), .close]) }
        try await dockerd.run { client, _ in
            var seen: [DockerEvent] = []
            let error = await #expect(throws: DockerError.self) {
                for try await event in client.events() { seen.append(event) }
            }
            #expect(seen.count == 1)
            #expect(error?.code == .daemonUnreachable)
        }
    }

    @Test("an error answer fails the first iteration")
    func errorAnswer() async throws {
        let dockerd = StubbedDocker { _ in .dockerError(400, "invalid filter 'colour'") }
        try await dockerd.run { client, _ in
            let error = await #expect(throws: DockerError.self) {
                for try await _ in client.events(filters: ["colour": ["red"]]) {}
            }
            #expect(error?.code == .badRequest)
            #expect(error?.message == "follow docker events: invalid filter 'colour'")
        }
    }
}
