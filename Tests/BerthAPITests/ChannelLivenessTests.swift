import BerthTestSupport
import Testing

@testable import BerthAPI

/// What the channel keeper decides for one channel, as a pure function of the channel's liveness and the
/// time: heartbeats when idle, closes when they go unanswered or cannot be written, periodic manifests.
@Suite("Agent channel: liveness decisions")
struct ChannelLivenessTests {
    static let opened = ContinuousClock.now
    static var timing: AgentChannelEndpoint.Timing {
        var timing = AgentChannelEndpoint.Timing()
        timing.heartbeatInterval = .seconds(20)
        timing.missedHeartbeatsBeforeClose = 2
        timing.manifestInterval = .seconds(300)
        return timing
    }

    static func at(_ seconds: Double) -> ContinuousClock.Instant { opened + .seconds(seconds) }

    @Test("an idle channel gets one heartbeat per interval; two unanswered close it")
    func unanswered() {
        var liveness = ChannelLiveness(openedAt: Self.opened, manifestInterval: Self.timing.manifestInterval)
        #expect(liveness.take(at: Self.at(19.9), timing: Self.timing) == .init())
        #expect(liveness.take(at: Self.at(20), timing: Self.timing) == .init(heartbeat: true))
        // Not again while it is being written.
        #expect(liveness.take(at: Self.at(21), timing: Self.timing) == .init())
        liveness.heartbeatWriteStartedAt = nil
        liveness.lastSent = Self.at(21)
        #expect(liveness.take(at: Self.at(40), timing: Self.timing) == .init())
        #expect(liveness.take(at: Self.at(41), timing: Self.timing) == .init(heartbeat: true))
        liveness.heartbeatWriteStartedAt = nil
        liveness.lastSent = Self.at(41)
        #expect(liveness.take(at: Self.at(61), timing: Self.timing) == .init(close: "heartbeats unanswered"))
    }

    @Test("an answer resets the count; a frame sent puts the next heartbeat off")
    func answered() {
        var liveness = ChannelLiveness(openedAt: Self.opened, manifestInterval: Self.timing.manifestInterval)
        for round in 1...10 {
            let now = Self.at(Double(round) * 20)
            #expect(liveness.take(at: now, timing: Self.timing) == .init(heartbeat: true), "round \(round)")
            liveness.heartbeatWriteStartedAt = nil
            liveness.lastSent = now
            liveness.unansweredHeartbeats = 0
        }
        liveness.lastSent = Self.at(210)
        #expect(liveness.take(at: Self.at(229), timing: Self.timing) == .init())
    }

    @Test(
        "a heartbeat that cannot be written for a whole interval closes the channel, or for the write limit when one is set"
    )
    func stuckWrite() {
        var liveness = ChannelLiveness(openedAt: Self.opened, manifestInterval: Self.timing.manifestInterval)
        #expect(liveness.take(at: Self.at(20), timing: Self.timing) == .init(heartbeat: true))
        #expect(liveness.take(at: Self.at(39), timing: Self.timing) == .init())
        #expect(
            liveness.take(at: Self.at(40), timing: Self.timing) == .init(close: "the agent does not read its channel")
        )

        var limited = Self.timing
        limited.heartbeatWriteLimit = .seconds(50)
        liveness = ChannelLiveness(openedAt: Self.opened, manifestInterval: limited.manifestInterval)
        #expect(liveness.take(at: Self.at(20), timing: limited) == .init(heartbeat: true))
        #expect(liveness.take(at: Self.at(69), timing: limited) == .init())
        #expect(liveness.take(at: Self.at(70), timing: limited) == .init(close: "the agent does not read its channel"))
    }

    @Test("manifests: the first goes on opening, then one per interval after the last went out")
    func manifests() {
        var liveness = ChannelLiveness(openedAt: Self.opened, manifestInterval: Self.timing.manifestInterval)
        liveness.unansweredHeartbeats = -1_000_000  // (heartbeats are not what is looked at here)
        #expect(liveness.take(at: Self.at(299), timing: Self.timing).manifest == false)
        liveness.manifestInFlight = false
        liveness.nextManifest = Self.at(1) + Self.timing.manifestInterval
        #expect(liveness.take(at: Self.at(300), timing: Self.timing).manifest == false)
        #expect(liveness.take(at: Self.at(301), timing: Self.timing).manifest == true)
        #expect(liveness.take(at: Self.at(302), timing: Self.timing).manifest == false)
    }

    @Test("an agent that answers within the interval is never closed, and never has two heartbeats out")
    func answeringAgentIsKept() {
        var random = SeededRandom.make("answeringAgentIsKept")
        for _ in 0..<200 {
            var liveness = ChannelLiveness(openedAt: Self.opened, manifestInterval: Self.timing.manifestInterval)
            var now = 0.0
            var writeEnds: Double?
            var answerAt: Double?
            for _ in 0..<300 {
                now += Double.random(in: 0...2, using: &random)
                if let end = writeEnds, now >= end {
                    liveness.heartbeatWriteStartedAt = nil
                    liveness.lastSent = Self.at(end)
                    writeEnds = nil
                    answerAt = end + Double.random(in: 0..<19, using: &random)
                }
                if let answer = answerAt, now >= answer {
                    liveness.unansweredHeartbeats = 0
                    answerAt = nil
                }
                if Double.random(in: 0..<1, using: &random) < 0.05 {
                    liveness.lastSent = Self.at(now)  // a payload went out
                }
                let idle = Self.at(now) - liveness.lastSent
                let duties = liveness.take(at: Self.at(now), timing: Self.timing)
                #expect(duties.close == nil, "seed \(random.seed) at \(now)")
                if duties.heartbeat {
                    #expect(idle >= Self.timing.heartbeatInterval)
                    #expect(writeEnds == nil, "a second heartbeat while one is being written")
                    writeEnds = now + Double.random(in: 0..<5, using: &random)
                }
            }
        }
    }
}
