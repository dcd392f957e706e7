/// An Amazon Resource Name, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`, split into its fields.
public struct ARN: Sendable, Hashable, CustomStringConvertible {
    public let partition: String
    public let service: String
    public let region: String
    public let account: String
    /// `task/CLUSTER/ID`, `cluster/NAME`, `container-instance/CLUSTER/ID`, `task-definition/FAMILY:REV`, …
    public let resource: String

    public init?(_ text: String) {
        let fields = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0] == "arn", !fields[1].isEmpty, !fields[2].isEmpty, !fields[5].isEmpty else {
            return nil
        }
        partition = String(fields[1])
        service = String(fields[2])
        region = String(fields[3])
        account = String(fields[4])
        resource = String(fields[5])
    }

    public init(partition: String = "aws", service: String = "ecs", region: String, account: String, resource: String) {
        self.partition = partition
        self.service = service
        self.region = region
        self.account = account
        self.resource = resource
    }

    /// The resource's type: `task` for `task/CLUSTER/ID`.
    public var resourceType: String { String(resource.prefix(while: { $0 != "/" })) }

    /// The last path component of the resource: a task's or an instance's ID, a cluster's name.
    public var resourceID: String { String(resource.split(separator: "/").last ?? "") }

    public var description: String { "arn:\(partition):\(service):\(region):\(account):\(resource)" }
}
