import BerthAgentChannel
import Foundation
import HummingbirdWSClient
import Testing

@testable import BerthRemoteChannel

@Suite("DiscoverPollEndpoint's answer, kept as the ECS agent keeps it")
struct PollEndpointCacheTests {
    static let instance = "arn:aws:ecs:us-east-1:123456789012:container-instance/default/a"
    let replicaA: URL
    let replicaB: URL

    init() throws {
        replicaA = try #require(URL(string: "https://cp-a.example:51680"))
        replicaB = try #require(URL(string: "https://cp-b.example:51680"))
    }

    @Test("an answer is used without asking for its lifetime, and only for its instance")
    func current() {
        let start = ContinuousClock.now
        var cache = PollEndpointCache(lifetime: .seconds(12 * 3600))
        #expect(cache.current(for: Self.instance, now: start) == nil)
        cache.record(replicaA, for: Self.instance, now: start)
        #expect(cache.current(for: Self.instance, now: start + .seconds(11 * 3600)) == replicaA)
        #expect(
            cache.current(for: "arn:aws:ecs:us-east-1:123456789012:container-instance/default/b", now: start) == nil
        )
        #expect(cache.current(for: Self.instance, now: start + .seconds(12 * 3600)) == nil)
    }

    @Test("when asking fails, an expired answer is still used; a newer answer replaces it")
    func fallback() {
        let start = ContinuousClock.now
        var cache = PollEndpointCache(lifetime: .seconds(60))
        #expect(cache.fallback(for: Self.instance) == nil)
        cache.record(replicaA, for: Self.instance, now: start)
        #expect(cache.current(for: Self.instance, now: start + .seconds(120)) == nil)
        #expect(cache.fallback(for: Self.instance) == replicaA)
        cache.record(replicaB, for: Self.instance, now: start + .seconds(120))
        #expect(cache.current(for: Self.instance, now: start + .seconds(130)) == replicaB)
    }

    @Test("an answer no channel could be opened to is dropped, so the next connection asks again")
    func forget() {
        let start = ContinuousClock.now
        var cache = PollEndpointCache(lifetime: .seconds(12 * 3600))
        cache.record(replicaA, for: Self.instance, now: start)
        cache.forget(replicaB)
        #expect(cache.current(for: Self.instance, now: start) == replicaA)
        cache.forget(replicaA)
        #expect(cache.current(for: Self.instance, now: start) == nil)
        #expect(cache.fallback(for: Self.instance) == nil)
    }

    @Test("failing to reach the endpoint is a connection failure; a refused upgrade is not")
    func connectionFailure() {
        struct ConnectionRefused: Error {}
        #expect(RemoteControlPlaneConnection.isConnectionFailure(ConnectionRefused()))
        #expect(!RemoteControlPlaneConnection.isConnectionFailure(WebSocketClientError.webSocketUpgradeFailed))
        #expect(
            !RemoteControlPlaneConnection.isConnectionFailure(ControlPlaneError(.instanceInactive, "deregistered"))
        )
    }
}
