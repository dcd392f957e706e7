public import BerthConfig
public import BerthModel
public import DockerEngine
public import Logging

/// Pulls task images as `ECS_IMAGE_PULL_BEHAVIOR` says, with the configured registry credentials, a bound
/// on concurrent pulls and one pull per image at a time; remembers what it pulled; and removes pulled
/// images nobody uses any more, least recently used first, as the image cleanup settings say.
public actor ImageManager {
    public struct Settings: Sendable {
        public var behavior: ImagePullBehavior = .default
        public var authentication: EngineAuthentication?
        public var inactivityTimeout: Duration = .seconds(60)
        public var maximumConcurrentPulls = 4
        /// Attempts for a pull that fails for a reason that may pass (dockerd busy, registry unreachable).
        public var attempts = 3
        public var cleanupEnabled = true
        public var cleanupInterval: Duration = .seconds(30 * 60)
        public var minimumCleanupAge: Duration = .seconds(3600)
        public var imagesPerCleanup = 5

        public init() {}

        public init(_ configuration: BerthConfiguration) {
            behavior = configuration.imagePullBehavior
            authentication = configuration.engineAuthentication
            inactivityTimeout = configuration.imagePullInactivityTimeout
            // prefer-cached keeps images: removing them would defeat it.
            cleanupEnabled = !configuration.imageCleanupDisabled && configuration.imagePullBehavior != .preferCached
            cleanupInterval = configuration.imageCleanupInterval
            minimumCleanupAge = configuration.imageMinimumCleanupAge
            imagesPerCleanup = configuration.imagesDeletedPerCycle
        }
    }

    /// How getting an image ended.
    public enum Outcome: Sendable, Hashable {
        case ready(digest: String?, imageID: String?)
        /// `stopsTask`: the behaviour makes the failure fatal to the whole task.
        case failed(reason: String, stopsTask: Bool)
    }

    private let docker: any DockerClient
    private let store: any AgentStateStore
    public nonisolated let settings: Settings
    private let logger: Logger
    private let now: @Sendable () -> Timestamp
    private var records: [String: ImageRecord] = [:]
    private var pullsInFlight: [String: Task<Outcome, Never>] = [:]
    private var removing: Set<String> = []
    private var activePulls = 0
    private var pullWaiters: [CheckedContinuation<Void, Never>] = []

    public init(
        docker: any DockerClient,
        store: any AgentStateStore,
        settings: Settings,
        logger: Logger,
        now: @escaping @Sendable () -> Timestamp = Timestamp.now
    ) {
        self.docker = docker
        self.store = store
        self.settings = settings
        self.logger = logger
        self.now = now
    }

    /// Loads what earlier runs pulled.
    public func load() async throws(AgentError) {
        for record in try await store.loadImages() { records[record.reference] = record }
    }

    public var pulledImages: [ImageRecord] { records.values.sorted { $0.reference < $1.reference } }

    /// Makes `image` available on the host, pulling it when the behaviour says so.
    public func ensure(_ image: String) async -> Outcome {
        while removing.contains(image) {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let behavior = settings.behavior
        if behavior == .preferCached || (behavior == .once && records[image] != nil) {
            if let cached = await cachedImage(image) { return cached }
        }
        if let pull = pullsInFlight[image] { return await pull.value }
        let pull = Task { await self.pull(image) }
        pullsInFlight[image] = pull
        let outcome = await pull.value
        pullsInFlight[image] = nil
        return outcome
    }

    private func pull(_ image: String) async -> Outcome {
        await acquirePullSlot()
        defer { releasePullSlot() }
        let auth = settings.authentication?.credentials(forImage: image).map {
            RegistryAuth(
                username: $0.credentials.username,
                password: $0.credentials.password,
                email: $0.credentials.email,
                serverAddress: $0.registry
            )
        }
        var failure: DockerError?
        var backoff = Backoff(initial: .seconds(1), maximum: .seconds(5))
        for attempt in 1...max(1, settings.attempts) {
            do {
                let started = ContinuousClock.now
                let result = try await docker.pullImage(
                    image,
                    auth: auth,
                    inactivityTimeout: settings.inactivityTimeout,
                    progress: { _ in }
                )
                let imageID = try? await docker.inspectImage(image).id
                if let imageID { await record(image, imageID: imageID) }
                logger.info(
                    "Pulled image",
                    metadata: [
                        "image": "\(image)", "digest": "\(result.digest ?? "-")",
                        "bytes": "\(result.downloadedBytes)", "duration": "\(ContinuousClock.now - started)",
                    ]
                )
                return .ready(digest: result.digest, imageID: imageID)
            } catch {
                failure = error
                let retriable = error.code == .daemonUnreachable || error.code == .timeout || error.code == .apiError
                guard retriable, attempt < settings.attempts else { break }
                logger.warning("Pull failed; trying again", metadata: ["image": "\(image)", "error": "\(error)"])
                try? await Task.sleep(for: backoff.next())
            }
        }
        let reason = "CannotPullContainerError: \(failure?.message ?? "pull failed")"
        switch settings.behavior {
        case .always, .once:
            return .failed(reason: reason, stopsTask: true)
        case .default, .preferCached:
            // The default behaviour runs with a cached image when the pull fails.
            if let cached = await cachedImage(image) {
                logger.warning(
                    "Pull failed; running with the cached image",
                    metadata: ["image": "\(image)", "error": "\(reason)"]
                )
                return cached
            }
            return .failed(reason: reason, stopsTask: false)
        }
    }

    /// The image as the host has it, when it has it; marks it used.
    private func cachedImage(_ image: String) async -> Outcome? {
        guard let cached = try? await docker.inspectImage(image) else { return nil }
        await touch(image, imageID: cached.id)
        return .ready(digest: cached.repoDigests.first.map(Self.digest(of:)), imageID: cached.id)
    }

    private func acquirePullSlot() async {
        if activePulls < settings.maximumConcurrentPulls {
            activePulls += 1
            return
        }
        await withCheckedContinuation { pullWaiters.append($0) }
    }

    private func releasePullSlot() {
        if pullWaiters.isEmpty {
            activePulls -= 1
        } else {
            pullWaiters.removeFirst().resume()
        }
    }

    private func record(_ image: String, imageID: String) async {
        let time = now()
        var record = records[image] ?? ImageRecord(reference: image, imageID: imageID, pulledAt: time, lastUsedAt: time)
        record.imageID = imageID
        record.pulledAt = time
        record.lastUsedAt = time
        records[image] = record
        await save(record)
    }

    private func touch(_ image: String, imageID: String) async {
        guard var record = records[image] else { return }
        record.lastUsedAt = now()
        record.imageID = imageID
        records[image] = record
        await save(record)
    }

    private func save(_ record: ImageRecord) async {
        do {
            try await store.save(record)
        } catch {
            logger.error("Cannot save image record", metadata: ["image": "\(record.reference)", "error": "\(error)"])
        }
    }

    /// Removes up to `imagesPerCleanup` images Berth pulled that are older than the minimum age and used by no
    /// container (in Docker, or in `referenced`: images of tasks the agent still tracks), least recently used
    /// first. Returns the references removed.
    @discardableResult
    public func cleanUp(referenced: Set<String>) async -> [String] {
        guard settings.cleanupEnabled else { return [] }
        let inUse: Set<String>
        do {
            let containers = try await docker.listContainers(all: true, filters: [:])
            inUse = Set(containers.map(\.imageID)).union(containers.map(\.image))
        } catch {
            logger.warning("Image cleanup skipped: cannot list containers", metadata: ["error": "\(error)"])
            return []
        }
        let oldest = now().adding(.zero - settings.minimumCleanupAge)
        let candidates = records.values
            .filter {
                $0.pulledAt <= oldest && !referenced.contains($0.reference) && !inUse.contains($0.imageID)
                    && !inUse.contains($0.reference) && pullsInFlight[$0.reference] == nil
            }
            .sorted { $0.lastUsedAt < $1.lastUsedAt }
            .prefix(settings.imagesPerCleanup)
        var removed: [String] = []
        for candidate in candidates {
            removing.insert(candidate.reference)
            defer { removing.remove(candidate.reference) }
            do {
                try await docker.removeImage(candidate.reference, force: false, prune: true)
            } catch  where error.code == .notFound {
                // Gone already: forget it below.
            } catch {
                logger.warning(
                    "Cannot remove image",
                    metadata: ["image": "\(candidate.reference)", "error": "\(error)"]
                )
                continue
            }
            records[candidate.reference] = nil
            do {
                try await store.deleteImage(reference: candidate.reference)
            } catch {
                logger.error("Cannot forget image", metadata: ["image": "\(candidate.reference)", "error": "\(error)"])
            }
            removed.append(candidate.reference)
            logger.info("Removed unused image", metadata: ["image": "\(candidate.reference)"])
        }
        return removed
    }

    /// `repo@sha256:…` → `sha256:…`.
    static func digest(of repoDigest: String) -> String {
        repoDigest.split(separator: "@", maxSplits: 1).last.map(String.init) ?? repoDigest
    }
}
