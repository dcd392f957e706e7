import BerthConfig
import PropertyBased
import Testing

@Suite("Go durations")
struct GoDurationTests {
    @Test(
        "Go's syntax",
        arguments: [
            ("30s", Duration.seconds(30)), ("1m", .seconds(60)), ("1h30m", .seconds(5400)), ("1.5h", .seconds(5400)),
            ("500ms", .milliseconds(500)), ("2h45m10s", .seconds(9910)), ("0", .zero), ("+5s", .seconds(5)),
            ("-1s", .seconds(-1)), ("10us", .microseconds(10)), ("10µs", .microseconds(10)), ("7ns", .nanoseconds(7)),
            (".5s", .milliseconds(500)), ("1.s", .seconds(1)),
        ]
    )
    func parses(text: String, expected: Duration) {
        #expect(GoDuration.parse(text) == expected)
    }

    @Test("not durations", arguments: ["", "30", "s", "1x", "1 s", "1h 30m", "-", "1.5", "1h-5m", "99999999999999h"])
    func rejects(text: String) {
        #expect(GoDuration.parse(text) == nil)
    }

    @Test(
        "formatting is compact and parses back",
        arguments: [
            (Duration.seconds(30), "30s"), (.seconds(3 * 3600), "3h"), (.seconds(90), "1m30s"),
            (.milliseconds(1500), "1s500ms"),
            (.zero, "0s"), (.seconds(-45), "-45s"),
        ]
    )
    func formats(duration: Duration, text: String) {
        #expect(GoDuration.format(duration) == text)
    }

    @Test("format then parse is the identity")
    func roundTrip() async {
        await propertyCheck(count: 500, input: Gen.int(in: 0...(200 * 3_600_000))) { milliseconds in
            let duration = Duration.milliseconds(milliseconds)
            #expect(GoDuration.parse(GoDuration.format(duration)) == duration)
        }
    }
}
