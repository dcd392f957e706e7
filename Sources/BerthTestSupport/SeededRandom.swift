import Foundation

/// A random number generator for tests whose randomness should be replayable: it prints its seed, and
/// `BERTH_TEST_SEED=N` in the environment makes every such generator start from N.
/// SplitMix64: small, fast and good enough to pick timings and cases.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    public let seed: UInt64
    private var state: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        self.state = seed
    }

    /// A generator for `label`, seeded from BERTH_TEST_SEED or at random; says which on standard output.
    public static func make(_ label: String) -> SeededRandom {
        let given = ProcessInfo.processInfo.environment["BERTH_TEST_SEED"].flatMap { UInt64($0) }
        let seed = given ?? UInt64.random(in: 1...UInt64(Int64.max))
        print("\(label): random seed \(seed) (BERTH_TEST_SEED=\(seed) replays it)")
        return SeededRandom(seed: seed)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
