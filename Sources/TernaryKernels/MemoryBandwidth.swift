import CTernaryKernels
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A read-bandwidth probe: for each region in turn, every thread of `pool` sums a share of it, as
/// the matmuls share a weight matrix; the best of `repeats` passes over all regions. Given a
/// model's weight matrices it reads exactly what a decode step reads, in the same order.
/// `prefetching` reads with the decode kernels' software prefetches (the most this machine
/// delivered); without, it is a plain STREAM-style read.
public enum MemoryBandwidth {
    public static func measure(regions: [UnsafeRawBufferPointer], pool: WorkerPool, repeats: Int = 5,
                               prefetching: Bool = true) -> Double {
        let regions = regions.filter { $0.baseAddress != nil && $0.count > 0 }
        let total = regions.reduce(0) { $0 + $1.count }
        guard total > 0 else { return 0 }
        var best = 0.0
        var sink: UInt64 = 0
        let grain = 1 << 14
        var sums = [UInt64](repeating: 0, count: pool.threads)
        for _ in 0..<repeats {
            let start = Timing.now()
            sums.withUnsafeMutableBufferPointer { s in
                let out = s.baseAddress!
                for region in regions {
                    let base = region.baseAddress!, count = region.count
                    pool.runIndexed((count + grain - 1) / grain) { range, worker in
                        let begin = range.lowerBound * grain, end = min(count, range.upperBound * grain)
                        out[worker] &+= prefetching ? tk_read_sum(base + begin, end - begin)
                                                    : tk_read_sum_plain(base + begin, end - begin)
                    }
                }
            }
            let seconds = Timing.seconds(since: start)
            best = max(best, Double(total) / seconds)
        }
        sink = sums.reduce(0, &+)
        if sink == 42 { print("", terminator: "") }  // keep the sums alive
        return best
    }

    public static func measure(region: UnsafeRawBufferPointer, pool: WorkerPool, repeats: Int = 5) -> Double {
        measure(regions: [region], pool: pool, repeats: repeats)
    }
}
