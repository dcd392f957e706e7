public import BerthAgentChannel
public import BerthControlPlane
import BerthModel
import Foundation
public import Synchronization

/// An agent that does what it is sent at once: acknowledges each payload, reports RUNNING for tasks
/// desired running and STOPPED for tasks desired stopped, through the replica it is connected to.
public final class SimulatedAgent: Sendable {
    public let plane: ControlPlane
    public let instanceArn: String
    public let session: StreamSession
    private let stream: AsyncStream<PayloadMessage>

    public init(plane: ControlPlane, instanceArn: String) {
        self.plane = plane
        self.instanceArn = instanceArn
        let (stream, continuation) = AsyncStream.makeStream(of: PayloadMessage.self)
        self.stream = stream
        self.session = StreamSession(continuation: continuation)
    }

    /// True while a payload is sent and not yet reported on.
    public var isBusy: Bool { session.unreported.withLock { $0 > 0 } }

    /// Does what it is sent until its session closes.
    public func run() async {
        var sequences: [String: Int] = [:]
        for await message in stream {
            try? await plane.payloadAcknowledged(messageID: message.messageID, instanceArn: instanceArn)
            for task in message.tasks {
                let sequence = sequences[task.taskArn, default: 0] + 1
                sequences[task.taskArn] = sequence
                let status: BackendStatus = task.desiredStatus == .stopped ? .stopped : .running
                let now = Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970)
                try? await plane.taskStateChanged(
                    TaskStateChange(taskArn: task.taskArn, sequence: sequence, status: status, at: now),
                    instanceArn: instanceArn
                )
            }
            session.unreported.withLock { $0 -= 1 }
        }
    }
}

/// The session a replica sends an agent's payloads down; counts those the agent has not yet reported on.
public final class StreamSession: AgentSession {
    let continuation: AsyncStream<PayloadMessage>.Continuation
    public let unreported = Mutex(0)

    init(continuation: AsyncStream<PayloadMessage>.Continuation) { self.continuation = continuation }

    public func deliver(_ message: PayloadMessage) async -> Bool {
        unreported.withLock { $0 += 1 }
        continuation.yield(message)
        return true
    }

    public func close(reason: String) { continuation.finish() }
}

/// A connected agent that drops what it is sent.
public final class NullSession: AgentSession {
    public init() {}
    public func deliver(_ message: PayloadMessage) async -> Bool { true }
    public func close(reason: String) {}
}
