/// Wall-clock timing for benchmarks and progress reports (the monotonic clock, in seconds).
public enum Timing {
    public typealias Instant = ContinuousClock.Instant

    @inline(__always)
    public static func now() -> Instant { ContinuousClock.now }

    /// Seconds elapsed since `start`.
    public static func seconds(since start: Instant) -> Double {
        let elapsed = start.duration(to: ContinuousClock.now).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
    }
}
