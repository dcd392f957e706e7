public import Foundation

/// One text frame of the payload channel, as the ECS agent communication service (ACS) frames it:
/// `{"type": "<ShapeName>", "message": {…}}`, the shape names and members those of the ECS agent's
/// communication model (`AmazonEC2ContainerAgentServiceV20141113`).
public enum ACSMessage: Sendable, Hashable {
    /// Control plane → agent: tasks to run, or known tasks whose desired status changed.
    case payload(ACSPayloadMessage)
    /// Agent → control plane: a payload's tasks are stored (never sent before that).
    case ack(ACSAckRequest)
    /// Agent → control plane: a payload could not be taken; it will come again.
    case nack(ACSNackRequest)
    /// Control plane → agent, when the channel is idle.
    case heartbeat(ACSHeartbeatMessage)
    case heartbeatAck(ACSHeartbeatAckRequest)
    /// Control plane → agent: every task the control plane believes the instance runs.
    case taskManifest(ACSTaskManifestMessage)
    /// Agent → control plane: the local tasks the manifest lacks, to be confirmed before they are stopped.
    case taskStopVerification(ACSTaskStopVerificationMessage)
    /// Control plane → agent: the candidates the agent may stop.
    case taskStopVerificationAck(ACSTaskStopVerificationAck)
    /// Either side, before it closes the connection on purpose.
    case close(ACSCloseMessage)
    /// Control plane → agent: something went wrong on the channel.
    case error(ACSErrorMessage)

    /// The largest frame either side reads: a payload carries whole task definitions (each up to 64 KiB),
    /// far over the 16 KiB WebSocket libraries default to.
    public static let maximumFrameSize = 8 << 20

    /// The frame's `type`: the shape name in the model.
    public var typeName: String {
        switch self {
        case .payload: "PayloadMessage"
        case .ack: "AckRequest"
        case .nack: "NackRequest"
        case .heartbeat: "HeartbeatMessage"
        case .heartbeatAck: "HeartbeatAckRequest"
        case .taskManifest: "TaskManifestMessage"
        case .taskStopVerification: "TaskStopVerificationMessage"
        case .taskStopVerificationAck: "TaskStopVerificationAck"
        case .close: "CloseMessage"
        case .error: "ErrorMessage"
        }
    }

    /// The frame's text.
    public func frame() -> String {
        switch self {
        case .payload(let message): Self.frame(typeName, message)
        case .ack(let message): Self.frame(typeName, message)
        case .nack(let message): Self.frame(typeName, message)
        case .heartbeat(let message): Self.frame(typeName, message)
        case .heartbeatAck(let message): Self.frame(typeName, message)
        case .taskManifest(let message): Self.frame(typeName, message)
        case .taskStopVerification(let message): Self.frame(typeName, message)
        case .taskStopVerificationAck(let message): Self.frame(typeName, message)
        case .close(let message): Self.frame(typeName, message)
        case .error(let message): Self.frame(typeName, message)
        }
    }

    private static func frame<Message: Codable>(_ type: String, _ message: Message) -> String {
        // Every shape is made of strings, numbers, booleans, arrays and maps: encoding cannot fail.
        let data = (try? encoder.encode(Envelope(type: type, message: message))) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// One encoder for every frame (its settings never change, and it is safe to share): making one per
    /// frame was a good part of a heartbeat's cost.
    private static let encoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Reads a frame. A frame of a type this side does not know returns nil (the ECS agent logs and drops
    /// those, so either side can add types); a frame that is not JSON, has no type or message, or whose
    /// message does not fit its shape is a `badFrame` error that says where.
    public static func parse(_ text: some StringProtocol) throws(ControlPlaneError) -> ACSMessage? {
        let data = Data(text.utf8)
        guard data.count <= maximumFrameSize else {
            throw ControlPlaneError(.badFrame, "a frame of \(data.count) bytes; at most \(maximumFrameSize) are read")
        }
        do {
            return try JSONDecoder().decode(Frame.self, from: data).message
        } catch let failure as MessageFailure {
            throw ControlPlaneError(.badFrame, "\(failure.type): \(ACSDecodingFailure.describe(failure.error))")
        } catch {
            throw ControlPlaneError(.badFrame, "not an ACS frame: \(ACSDecodingFailure.describe(error))")
        }
    }

    /// A time as ACS messages carry it (`generatedAt`, `timeline`): milliseconds since 1970.
    public static func millisecondsSinceEpoch(_ date: Date = Date()) -> Int64 {
        Int64(date.timeIntervalSince1970 * 1000)
    }

    /// A frame read in one pass: its type, then its message in that type's shape.
    private struct Frame: Decodable {
        let message: ACSMessage?

        private enum Keys: String, CodingKey { case type, message }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            let type = try container.decode(String.self, forKey: .type)
            func body<Message: Decodable>() throws -> Message {
                do {
                    return try container.decode(Message.self, forKey: .message)
                } catch {
                    throw MessageFailure(type: type, error: error)
                }
            }
            message =
                switch type {
                case "PayloadMessage": .payload(try body())
                case "AckRequest": .ack(try body())
                case "NackRequest": .nack(try body())
                case "HeartbeatMessage": .heartbeat(try body())
                case "HeartbeatAckRequest": .heartbeatAck(try body())
                case "TaskManifestMessage": .taskManifest(try body())
                case "TaskStopVerificationMessage": .taskStopVerification(try body())
                case "TaskStopVerificationAck": .taskStopVerificationAck(try body())
                case "CloseMessage": .close(try body())
                case "ErrorMessage": .error(try body())
                default: nil
                }
        }
    }

    /// A frame of a known type whose message does not fit the type's shape.
    private struct MessageFailure: Error {
        let type: String
        let error: any Error
    }

    private struct Envelope<Message: Codable>: Codable {
        let type: String
        let message: Message
    }
}

/// Where a frame did not fit its shape, in words: the member's path and what was wrong with it.
enum ACSDecodingFailure {
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing"
        case .valueNotFound(_, let context):
            return "\(path(context.codingPath)) is null"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)) is not \(expected(type))"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "not JSON" : "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text.isEmpty ? "the frame" : text
    }

    private static func expected(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        default: "of the model's shape (\(type))"
        }
    }
}

/// `AckRequest`: the agent has stored the payload's tasks.
public struct ACSAckRequest: Sendable, Hashable, Codable {
    public var cluster: String?
    public var containerInstance: String?
    public var messageId: String

    public init(cluster: String?, containerInstance: String?, messageId: String) {
        self.cluster = cluster
        self.containerInstance = containerInstance
        self.messageId = messageId
    }
}

/// `NackRequest`: the agent could not take a payload.
public struct ACSNackRequest: Sendable, Hashable, Codable {
    public var cluster: String?
    public var containerInstance: String?
    public var messageId: String
    public var reason: String?

    public init(cluster: String?, containerInstance: String?, messageId: String, reason: String?) {
        self.cluster = cluster
        self.containerInstance = containerInstance
        self.messageId = messageId
        self.reason = reason
    }
}

/// `HeartbeatMessage`.
public struct ACSHeartbeatMessage: Sendable, Hashable, Codable {
    public var messageId: String
    public var healthy: Bool?

    public init(messageId: String, healthy: Bool? = true) {
        self.messageId = messageId
        self.healthy = healthy
    }
}

/// `HeartbeatAckRequest`.
public struct ACSHeartbeatAckRequest: Sendable, Hashable, Codable {
    public var messageId: String

    public init(messageId: String) { self.messageId = messageId }
}

/// `TaskIdentifier`: a task named in a manifest or a stop verification.
public struct ACSTaskIdentifier: Sendable, Hashable, Codable {
    public var taskArn: String
    public var taskClusterArn: String?
    public var desiredStatus: String?

    public init(taskArn: String, taskClusterArn: String?, desiredStatus: String?) {
        self.taskArn = taskArn
        self.taskClusterArn = taskClusterArn
        self.desiredStatus = desiredStatus
    }
}

/// `TaskManifestMessage`: the tasks the control plane believes the instance runs. Older `timeline`s are
/// ignored.
public struct ACSTaskManifestMessage: Sendable, Hashable, Codable {
    public var messageId: String
    public var clusterArn: String?
    public var containerInstanceArn: String?
    public var tasks: [ACSTaskIdentifier]
    public var generatedAt: Int64?
    public var timeline: Int64?

    public init(
        messageId: String,
        clusterArn: String?,
        containerInstanceArn: String?,
        tasks: [ACSTaskIdentifier],
        generatedAt: Int64?,
        timeline: Int64?
    ) {
        self.messageId = messageId
        self.clusterArn = clusterArn
        self.containerInstanceArn = containerInstanceArn
        self.tasks = tasks
        self.generatedAt = generatedAt
        self.timeline = timeline
    }
}

/// `TaskStopVerificationMessage`: the manifest's `messageId` and the local tasks it lacks.
public struct ACSTaskStopVerificationMessage: Sendable, Hashable, Codable {
    public var messageId: String
    public var stopCandidates: [ACSTaskIdentifier]

    public init(messageId: String, stopCandidates: [ACSTaskIdentifier]) {
        self.messageId = messageId
        self.stopCandidates = stopCandidates
    }
}

/// `TaskStopVerificationAck`: of the candidates, those the agent may stop.
public struct ACSTaskStopVerificationAck: Sendable, Hashable, Codable {
    public var messageId: String
    public var stopTasks: [ACSTaskIdentifier]
    public var generatedAt: Int64?

    public init(messageId: String, stopTasks: [ACSTaskIdentifier], generatedAt: Int64?) {
        self.messageId = messageId
        self.stopTasks = stopTasks
        self.generatedAt = generatedAt
    }
}

/// `CloseMessage`.
public struct ACSCloseMessage: Sendable, Hashable, Codable {
    public var message: String?

    public init(message: String?) { self.message = message }
}

/// `ErrorMessage`.
public struct ACSErrorMessage: Sendable, Hashable, Codable {
    public var message: String?

    public init(message: String?) { self.message = message }
}
