import CTernaryKernels
import Foundation

/// A STREAM-like read-bandwidth probe: every thread of `pool` sums its share of `region`
/// (which should be far larger than the caches, e.g. a model's weights); the best of `repeats`.
public enum MemoryBandwidth {
    public static func measure(region: UnsafeRawBufferPointer, pool: WorkerPool, repeats: Int = 5) -> Double {
        guard let base = region.baseAddress, region.count > 0 else { return 0 }
        var best = 0.0
        var sink: UInt64 = 0
        let grain = 1 << 16
        for _ in 0..<repeats {
            var sums = [UInt64](repeating: 0, count: pool.threads)
            let start = DispatchTime.now().uptimeNanoseconds
            sums.withUnsafeMutableBufferPointer { s in
                let out = s.baseAddress!
                pool.runIndexed((region.count + grain - 1) / grain) { range, worker in
                    let begin = range.lowerBound * grain, end = min(region.count, range.upperBound * grain)
                    out[worker] &+= tk_read_sum(base + begin, end - begin)
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            sink &+= sums.reduce(0, &+)
            best = max(best, Double(region.count) / seconds)
        }
        if sink == 42 { print("", terminator: "") }  // keep the sums alive
        return best
    }
}
