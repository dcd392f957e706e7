import BerthModel

/// `PayloadMessage`: tasks for one instance, acknowledged by `messageId` once the agent has stored them.
public struct ACSPayloadMessage: Sendable, Hashable, Codable {
    public var messageId: String
    public var clusterArn: String?
    public var containerInstanceArn: String?
    public var tasks: [ACSTask]
    public var seqNum: Int?
    /// Milliseconds since the epoch.
    public var generatedAt: Int64?

    public init(
        messageId: String,
        clusterArn: String?,
        containerInstanceArn: String?,
        tasks: [ACSTask],
        seqNum: Int? = nil,
        generatedAt: Int64? = nil
    ) {
        self.messageId = messageId
        self.clusterArn = clusterArn
        self.containerInstanceArn = containerInstanceArn
        self.tasks = tasks
        self.seqNum = seqNum
        self.generatedAt = generatedAt
    }

    /// The frame the control plane sends for a payload of `containerInstanceArn`.
    public init(
        _ message: PayloadMessage,
        clusterArn: String,
        containerInstanceArn: String,
        seqNum: Int? = nil,
        generatedAt: Int64? = nil
    ) {
        self.init(
            messageId: message.messageID,
            clusterArn: clusterArn,
            containerInstanceArn: containerInstanceArn,
            tasks: message.tasks.map(ACSTask.init),
            seqNum: seqNum,
            generatedAt: generatedAt
        )
    }

    /// The payload as the agent takes it. A task that cannot be read refuses the whole payload (it is not
    /// acknowledged, so the control plane sends it again), with the member at fault named.
    public func payloadMessage() throws(ControlPlaneError) -> PayloadMessage {
        var tasks: [TaskPayload] = []
        for (index, task) in self.tasks.enumerated() {
            do {
                tasks.append(try task.taskPayload(clusterArn: clusterArn))
            } catch {
                throw ControlPlaneError(.badFrame, "PayloadMessage: tasks[\(index)].\(error.message)")
            }
        }
        return PayloadMessage(messageID: messageId, tasks: tasks)
    }
}
