import BerthModel

/// Records by key, with secondary indexes kept in step on every write: the control plane finds a
/// cluster's tasks, an instance's live tasks or a service's group without scanning every record, so an
/// operation costs what it touches, not what the store has retained.
///
/// `indexKeys` names the postings a record belongs to; it must depend only on the record's value.
///
/// Memory, which at 50,000 tasks is most of the control plane's: each record is kept boxed (a dictionary's
/// buckets are as wide as its values and it keeps up to twice as many buckets as records, so tasks of some
/// 420 bytes held inline cost 55 MiB of buckets where boxed they cost 3 MiB of buckets and 22 MiB of boxes),
/// and a posting names a record by its slot, 4 bytes, not by its key, 16 (a task is in eight postings).
struct IndexedRecords<Value: Sendable, IndexKey: Hashable & Sendable>: Sendable {
    typealias Entry = ControlPlane.Versioned<Value>

    /// One record, never changed in place: a write puts a new box, so copies of the records stay values.
    final class Box: Sendable {
        let key: String
        let entry: Entry

        init(key: String, entry: Entry) {
            self.key = key
            self.entry = entry
        }
    }

    private var slotByKey: [String: Int32] = [:]
    /// Boxes by slot; a forgotten record's slot is empty until a new record takes it.
    private var slots: [Box?] = []
    private var freeSlots: [Int32] = []
    private var postings: [IndexKey: Set<Int32>] = [:]
    /// Bumped on every write: a pass over all records can be skipped while it has not moved.
    private(set) var generation = 0
    private let indexKeys: @Sendable (Value) -> [IndexKey]

    init(indexedBy indexKeys: @escaping @Sendable (Value) -> [IndexKey]) {
        self.indexKeys = indexKeys
    }

    subscript(key: String) -> Entry? {
        get { slotByKey[key].flatMap { slots[Int($0)]?.entry } }
        set {
            generation &+= 1
            let slot = slotByKey[key]
            let before = slot.flatMap { slots[Int($0)] }.map { indexKeys($0.entry.value) } ?? []
            guard let newValue else {
                guard let slot else { return }
                for index in before { unpost(slot, from: index) }
                slots[Int(slot)] = nil
                freeSlots.append(slot)
                slotByKey[key] = nil
                return
            }
            let place: Int32
            if let slot {
                place = slot
            } else {
                // (Two billion records would not fit in memory long before the slot numbers ran out.)
                place = freeSlots.popLast() ?? Int32(slots.count)
                if Int(place) == slots.count { slots.append(nil) }
                slotByKey[key] = place
            }
            slots[Int(place)] = Box(key: key, entry: newValue)
            let after = indexKeys(newValue.value)
            guard before != after else { return }
            for index in before where !after.contains(index) { unpost(place, from: index) }
            for index in after where !before.contains(index) { postings[index, default: []].insert(place) }
        }
    }

    private mutating func unpost(_ slot: Int32, from index: IndexKey) {
        postings[index]?.remove(slot)
        if postings[index]?.isEmpty == true { postings[index] = nil }
    }

    /// Every record with its key, in no particular order.
    var records: some Sequence<(key: String, value: Entry)> {
        slots.lazy.compactMap { $0 }.map { (key: $0.key, value: $0.entry) }
    }
    /// Every record, in no particular order.
    var values: some Sequence<Entry> { slots.lazy.compactMap { $0?.entry } }
    var count: Int { slotByKey.count }

    /// The keys of the records an index posts under `index`, in no particular order, each read when it is
    /// asked for: RunTask draws a few of a cluster's thousands of instances, and reading every box would
    /// cost more than the placement.
    func keys(_ index: IndexKey) -> LazyMapCollection<[Int32], String> {
        let slots = self.slots
        // (A posting names only filled slots: the empty key, which names no record, is never read.)
        return Array(postings[index] ?? []).lazy.map { slots[Int($0)]?.key ?? "" }
    }

    /// The records an index posts under `index`, in no particular order.
    func values(_ index: IndexKey) -> [Value] {
        postings[index]?.compactMap { slots[Int($0)]?.entry.value } ?? []
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
