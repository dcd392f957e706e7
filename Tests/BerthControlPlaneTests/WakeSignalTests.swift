import BerthControlPlane
import Testing

@Suite("Wake signal")
struct WakeSignalTests {
    @Test("a signal sent before the wait is kept; several are one; the wait ends on a signal or its bound")
    func signals() async {
        let signal = WakeSignal()
        signal.signal()
        signal.signal()
        // Pending: returns at once, however long the bound.
        await signal.wait(upTo: .seconds(3600))
        // Consumed: the next wait ends at its (short) bound.
        await signal.wait(upTo: .milliseconds(1))
        let waiter = Task { await signal.wait(upTo: .seconds(3600)) }
        // Whether the waiter is already waiting or not, the signal ends its wait.
        signal.signal()
        await waiter.value
    }

    @Test("a cancelled wait ends, and leaves a later signal for the next wait")
    func cancellation() async {
        let signal = WakeSignal()
        let waiter = Task { await signal.wait(upTo: .seconds(3600)) }
        waiter.cancel()
        await waiter.value
        signal.signal()
        await signal.wait(upTo: .seconds(3600))
    }
}
