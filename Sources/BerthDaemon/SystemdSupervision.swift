import BerthSystemd
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// What systemd hears from Berth: READY=1 once the API listens and (with an agent) the instance is
/// registered; STATUS= lines an operator reads in `systemctl status`; WATCHDOG=1 while the engine answers;
/// STOPPING=1 when a graceful shutdown begins.
final class SystemdSupervision: Service, Sendable {
    /// Says how things are, in one line for STATUS=; it must come back for the watchdog to be fed.
    typealias Probe = @Sendable () async -> String

    private let notifier: any ServiceManagerNotifier
    private let logger: Logger
    private let state = Mutex(State())
    /// When the probe last came back.
    private let lastAnswer = Mutex(ContinuousClock.now)

    private struct State {
        var listening = 0
        var listeners = 1
        var probe: Probe?
        var waiter: CheckedContinuation<Probe, Never>?
    }

    /// Readiness needs ``apiListening()`` from each of the `listeners` APIs and ``serving(probe:)``.
    init(notifier: any ServiceManagerNotifier = SystemdNotifier(), listeners: Int, logger: Logger) {
        self.notifier = notifier
        self.logger = logger
        state.withLock { $0.listeners = listeners }
    }

    /// One of the APIs accepts connections.
    func apiListening() {
        let resumed = state.withLock { state -> (CheckedContinuation<Probe, Never>, Probe)? in
            state.listening += 1
            return Self.readyWaiter(&state)
        }
        if let (waiter, probe) = resumed { waiter.resume(returning: probe) }
    }

    /// The work is being done: the agent registered and recovered (its `probe` asks the engine), or the
    /// control plane loaded its state.
    func serving(probe: @escaping Probe) {
        let resumed = state.withLock { state -> (CheckedContinuation<Probe, Never>, Probe)? in
            state.probe = probe
            return Self.readyWaiter(&state)
        }
        if let (waiter, probe) = resumed { waiter.resume(returning: probe) }
    }

    private static func readyWaiter(_ state: inout State) -> (CheckedContinuation<Probe, Never>, Probe)? {
        guard state.listening >= state.listeners, let probe = state.probe, let waiter = state.waiter else {
            return nil
        }
        state.waiter = nil
        return (waiter, probe)
    }

    /// Ends at once outside systemd; the group is told to ignore that.
    func run() async throws {
        guard notifier.isEnabled else { return }
        notifier.notify("STATUS=starting: waiting for dockerd, registration and the API")
        do {
            try await cancelWhenGracefulShutdown { try await self.superviseWhenReady() }
        } catch is CancellationError {
            // Graceful shutdown: said below.
        }
        notifier.notify("STOPPING=1", "STATUS=stopping; task containers keep running")
    }

    private func superviseWhenReady() async throws {
        let probe = await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Probe? in
                if state.listening >= state.listeners, let probe = state.probe { return probe }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
        let status = await probe()
        notifier.notify("READY=1", "STATUS=\(status)")
        logger.info("told systemd we are ready", metadata: ["status": "\(status)"])
        try await feedWatchdog(probe)
    }

    /// Probes in one loop and pings in another: when the probe stops coming back (a stuck engine), the pings
    /// stop and systemd restarts Berth after WatchdogSec.
    private func feedWatchdog(_ probe: @escaping Probe) async throws {
        let interval = notifier.watchdogInterval
        let period = interval.map { $0 / 4 } ?? .seconds(10)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while true {
                    let status = await probe()
                    self.lastAnswer.withLock { $0 = .now }
                    self.notifier.notify("STATUS=\(status)")
                    try await Task.sleep(for: period)
                }
            }
            if let interval {
                group.addTask {
                    while true {
                        if ContinuousClock.now - self.lastAnswer.withLock({ $0 }) < interval / 2 {
                            self.notifier.notify("WATCHDOG=1")
                        } else {
                            self.logger.warning("the engine does not answer; not feeding systemd's watchdog")
                        }
                        try await Task.sleep(for: period)
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
