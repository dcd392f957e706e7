import PropertyBased
import Testing

@testable import BerthAgent

@Suite("Reopening the payload channel")
struct ChannelReopeningTests {
    static func timing() -> Agent.Timing {
        var timing = Agent.Timing()
        timing.channelBackoff = Backoff(initial: .milliseconds(250), maximum: .seconds(120), factor: 1.5, jitter: 0.2)
        timing.channelSteadyAfter = .seconds(60)
        timing.inactiveInstanceRetry = .seconds(3600)
        return timing
    }

    @Test("a channel open a minute and closed on purpose is reopened at once; a short-lived one waits")
    func cleanClose() {
        var reopening = ChannelReopening(timing: Self.timing())
        #expect(reopening.delay(after: .closedOnPurpose, openFor: .seconds(30 * 60)) == .zero)
        #expect(reopening.delay(after: .closedOnPurpose, openFor: .seconds(60)) == .zero)
        let short = reopening.delay(after: .closedOnPurpose, openFor: .milliseconds(10))
        #expect(short >= .milliseconds(200) && short <= .milliseconds(300))
    }

    @Test("a deregistered instance is asked about again after an hour, and the backoff starts over")
    func inactive() {
        var reopening = ChannelReopening(timing: Self.timing())
        for _ in 0..<10 { _ = reopening.delay(after: .failed, openFor: .zero) }
        #expect(reopening.delay(after: .instanceInactive, openFor: .zero) == .seconds(3600))
        let next = reopening.delay(after: .failed, openFor: .zero)
        #expect(next <= .milliseconds(300))
    }

    /// Any sequence of endings: a delay is never negative nor over the backoff's cap (plus its jitter)
    /// unless the instance is inactive; only a steady clean close is immediate; a failure right after a
    /// steady connection waits the initial delay.
    @Test("any sequence of endings: delays stay within 0 and 2 min (+20 %), zero only after a steady clean close")
    func property() async {
        let endings = Gen.int(in: 0...5).array(of: 1...60)
        await propertyCheck(count: 300, input: endings) { script in
            var reopening = ChannelReopening(timing: Self.timing())
            for step in script {
                let ending: ChannelReopening.Ending = [.closedOnPurpose, .failed, .instanceInactive][step % 3]
                let openFor: Duration = step >= 3 ? .seconds(61) : .milliseconds(50)
                let delay = reopening.delay(after: ending, openFor: openFor)
                switch ending {
                case .instanceInactive:
                    #expect(delay == .seconds(3600))
                case .closedOnPurpose where openFor >= .seconds(60):
                    #expect(delay == .zero)
                default:
                    #expect(delay > .zero && delay <= .seconds(144))
                    if openFor >= .seconds(60) { #expect(delay <= .milliseconds(300)) }
                }
            }
        }
    }
}
