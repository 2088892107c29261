import CTernaryKernels

/// A persistent pool of worker threads (the caller is one of them); no thread is created per call.
/// `run` hands out contiguous runs of a range, long ones first (guided self-scheduling), so a
/// thread slowed by other work on the machine does not hold up the rest.
public final class WorkerPool: @unchecked Sendable {
    private let pool: OpaquePointer
    public let threads: Int

    public init(threads: Int) {
        precondition(threads >= 1, "a pool needs at least one thread")
        self.threads = threads
        self.pool = tk_pool_create(Int32(threads))
    }

    deinit { tk_pool_destroy(pool) }

    /// Runs `body` over `[0, total)` split into runs across the threads, run ends rounded to `grain`.
    /// A thread may get several runs.
    public func run(_ total: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        runIndexed(total, grain: grain) { range, _ in body(range) }
    }

    /// As `run`, also passing the index (0..<threads) of the thread that runs each range, for
    /// per-thread scratch memory.
    public func runIndexed(_ total: Int, grain: Int = 1, _ body: (Range<Int>, Int) -> Void) {
        guard total > 0 else { return }
        withoutActuallyEscaping(body) { escaping in
            var closure = escaping
            withUnsafeMutablePointer(to: &closure) { pointer in
                tk_pool_run(pool, { context, begin, end, worker in
                    // Call through the pointer (a borrow): copying the closure out would retain and
                    // release its context on every run, an atomic both threads contend for.
                    context!.assumingMemoryBound(to: ((Range<Int>, Int) -> Void).self).pointee(Int(begin)..<Int(end), Int(worker))
                }, pointer, Int64(total), Int64(grain))
            }
        }
    }

    /// The machine's logical core count.
    public static var coreCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
