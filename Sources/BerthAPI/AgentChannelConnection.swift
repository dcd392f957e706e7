import Logging
import NIOCore
import Synchronization

/// One agent's payload channel after its upgrade. NIO hands its frames over (``AgentChannelFrameHandler``)
/// and the work they ask for is done here, in order, by a task that exists only while there is work.
/// An idle channel keeps no task: a suspended task keeps the largest stack it ever used for as long as it
/// lives, and at 5,000 agents the tasks each channel kept (the server's connection task, the WebSocket
/// library's and this endpoint's) held about 25 KiB per channel, most of an idle control plane's memory.
final class AgentChannelConnection: Sendable {
    enum Work: Sendable {
        case connect
        case text(String)
        case binary
        case disconnect
    }

    let endpoint: AgentChannelEndpoint
    let session: WebSocketAgentSession
    let channel: any Channel
    private let state = Mutex(State())

    private struct State {
        var queue: [Work] = []
        var draining = false
        /// A read the channel asked for and was not let do: the queue was full.
        var readHeld = false
        var connected = false
    }

    /// Frames waiting beyond this many hold the channel's reading until the work catches up, so an agent
    /// that sends faster than the control plane takes its frames is slowed by TCP, not buffered here.
    static let queueLimit = 16

    init(endpoint: AgentChannelEndpoint, session: WebSocketAgentSession, channel: any Channel) {
        self.endpoint = endpoint
        self.session = session
        self.channel = channel
        enqueue(.connect)
        // The hook holds the connection until the session closes, which drops the hook: a session always
        // closes (its channel ends, or unanswered heartbeats end it), and its disconnect is never lost.
        session.onClose { self.enqueue(.disconnect) }
    }

    func received(_ work: Work) { enqueue(work) }

    /// Whether the channel may read on now; when not, it reads again once the queue has room.
    func mayRead() -> Bool {
        state.withLock { state in
            guard state.queue.count >= Self.queueLimit else { return true }
            state.readHeld = true
            return false
        }
    }

    /// The connection is gone (or the agent closed it): the session ends, and with it the agent's presence.
    func channelEnded() { session.connectionEnded() }

    private func enqueue(_ work: Work) {
        let start = state.withLock { state -> Bool in
            state.queue.append(work)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        // Started from NIO's threads, the task inherits no task-local values to copy.
        if start { Task { await self.drain() } }
    }

    private func drain() async {
        while let work = next() {
            await perform(work)
        }
    }

    private func next() -> Work? {
        let (work, resumeReading) = state.withLock { state -> (Work?, Bool) in
            guard !state.queue.isEmpty else {
                state.draining = false
                return (nil, false)
            }
            let work = state.queue.removeFirst()
            let resume = state.readHeld && state.queue.count < Self.queueLimit
            if resume { state.readHeld = false }
            return (work, resume)
        }
        if resumeReading { channel.read() }
        return work
    }

    private func perform(_ work: Work) async {
        let connected = state.withLock { $0.connected }
        switch work {
        case .connect:
            guard await endpoint.connect(session) else { return }
            state.withLock { $0.connected = true }
        case .text(let text) where connected:
            if await !endpoint.take(text, session: session) {
                session.close(reason: "the agent closed the channel")
            }
        case .binary where connected:
            session.logger.warning("Binary frame on the payload channel ignored")
        case .disconnect where connected:
            state.withLock { $0.connected = false }
            await endpoint.disconnected(session)
        case .text, .binary, .disconnect:
            // Refused (or not yet connected when it ended): the control plane holds nothing of it.
            return
        }
    }
}
