import BerthModel

/// Records by key, with secondary indexes kept in step on every write: the control plane finds a
/// cluster's tasks, an instance's live tasks or a service's group without scanning every record, so an
/// operation costs what it touches, not what the store has retained.
///
/// `indexKeys` names the postings a record belongs to; it must depend only on the record's value.
struct IndexedRecords<Value: Sendable, IndexKey: Hashable & Sendable>: Sendable {
    typealias Entry = ControlPlane.Versioned<Value>

    private(set) var records: [String: Entry] = [:]
    private var postings: [IndexKey: Set<String>] = [:]
    /// Bumped on every write: a pass over all records can be skipped while it has not moved.
    private(set) var generation = 0
    private let indexKeys: @Sendable (Value) -> [IndexKey]

    init(indexedBy indexKeys: @escaping @Sendable (Value) -> [IndexKey]) {
        self.indexKeys = indexKeys
    }

    subscript(key: String) -> Entry? {
        get { records[key] }
        set {
            let before = records[key].map { indexKeys($0.value) } ?? []
            let after = newValue.map { indexKeys($0.value) } ?? []
            if before != after {
                for index in before where !after.contains(index) {
                    postings[index]?.remove(key)
                    if postings[index]?.isEmpty == true { postings[index] = nil }
                }
                for index in after where !before.contains(index) { postings[index, default: []].insert(key) }
            }
            records[key] = newValue
            generation &+= 1
        }
    }

    var values: Dictionary<String, Entry>.Values { records.values }
    var count: Int { records.count }

    /// The keys of the records an index posts under `index`.
    func keys(_ index: IndexKey) -> Set<String> { postings[index] ?? [] }

    /// The records an index posts under `index`, in no particular order.
    func values(_ index: IndexKey) -> [Value] {
        guard let keys = postings[index] else { return [] }
        return keys.compactMap { records[$0]?.value }
    }

    /// How many records an index posts under `index`.
    func count(_ index: IndexKey) -> Int { postings[index]?.count ?? 0 }
}

/// What tasks are found by.
enum TaskIndex: Hashable, Sendable {
    case cluster(String)
    /// Tasks of a cluster not yet STOPPED: its counts, and whether it can be deleted.
    case liveInCluster(String)
    case clusterDesired(String, DesiredStatus)
    case instance(String)
    /// Tasks on an instance not yet STOPPED: what placement sees there.
    case liveOnInstance(String)
    /// A cluster's task group (`service:NAME`, `family:NAME` or a RunTask group).
    case group(cluster: String, group: String)
    /// Tasks of a group on an instance not yet STOPPED: what `distinctInstance` and `spread` count.
    case liveGroupOnInstance(instance: String, group: String)
    /// Tasks RUNNING on an instance (the query language's `runningTasksCount`).
    case runningOnInstance(String)

    static func keys(of task: ClusterTask) -> [TaskIndex] {
        var keys: [TaskIndex] = [
            .cluster(task.clusterArn), .clusterDesired(task.clusterArn, task.desiredStatus),
            .instance(task.containerInstanceArn), .group(cluster: task.clusterArn, group: task.group),
        ]
        if !task.isStopped {
            keys.append(.liveInCluster(task.clusterArn))
            keys.append(.liveOnInstance(task.containerInstanceArn))
            keys.append(.liveGroupOnInstance(instance: task.containerInstanceArn, group: task.group))
        }
        if task.lastStatus == "RUNNING" { keys.append(.runningOnInstance(task.containerInstanceArn)) }
        return keys
    }
}

/// What container instances are found by.
enum InstanceIndex: Hashable, Sendable {
    case cluster(String)

    static func keys(of instance: ContainerInstance) -> [InstanceIndex] { [.cluster(instance.clusterArn)] }
}

/// What task definitions are found by.
enum DefinitionIndex: Hashable, Sendable {
    /// Every stored revision of a family.
    case family(String)
    /// A family's ACTIVE revisions: the latest of them is what a bare family name runs.
    case activeFamily(String)

    static func keys(of definition: TaskDefinition) -> [DefinitionIndex] {
        definition.status == .active
            ? [.family(definition.family), .activeFamily(definition.family)] : [.family(definition.family)]
    }
}
