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
        // Work too small to split runs right here: no dispatch, and no closure boxing (handing the
        // closure to C through withoutActuallyEscaping costs two small heap allocations).
        if threads == 1 || total <= grain {
            body(0..<total, 0)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            var closure = escaping
            withUnsafeMutablePointer(to: &closure) { pointer in
                tk_pool_run(pool, { context, begin, end, worker in
                    // Call through the pointer (a borrow): copying the closure out would retain and
                    // release its context on every run, an atomic both threads contend for.
                    context!.assumingMemoryBound(to: ((Range<Int>, Int) -> Void).self).pointee(Int(begin)..<Int(end), Int(worker))
                }, pointer, Int64(total), Int64(grain), 0)
            }
        }
    }

    /// As `runIndexed`, for a task value instead of a closure: nothing is allocated per call, which
    /// keeps a decode step free of allocations (a closure handed to C costs two small boxes).
    /// `ownedFirst`: each thread starts with its own run (`firstRun`), which `prefetchHints` can
    /// name in advance.
    public func run<Task: ParallelTask>(_ total: Int, grain: Int = 1, ownedFirst: Bool = false, _ task: Task) {
        guard total > 0 else { return }
        if threads == 1 || total <= grain {
            task.run(0..<total, worker: 0)
            return
        }
        withUnsafePointer(to: task) { taskPointer in
            // A one-word existential fits its container's inline buffer: no heap box.
            var runner: any TaskRunner = PointerRunner(task: taskPointer)
            withUnsafeMutablePointer(to: &runner) { pointer in
                tk_pool_run(pool, { context, begin, end, worker in
                    context!.assumingMemoryBound(to: (any TaskRunner).self).pointee.run(Int(begin)..<Int(end), worker: Int(worker))
                }, pointer, Int64(total), Int64(grain), ownedFirst ? 1 : 0)
            }
        }
    }

    /// The run of `0..<total` that thread `thread` takes first in `run(total, grain:, ownedFirst:
    /// true)` (empty when that call does not split the work).
    public func firstRun(_ total: Int, grain: Int, thread: Int) -> Range<Int> {
        var begin: Int64 = 0, end: Int64 = 0
        tk_pool_first_run(pool, Int64(total), Int64(grain), Int32(thread), &begin, &end)
        return Int(begin)..<Int(max(begin, end))
    }

    /// Tells each thread what it will likely read first in a coming run (`ranges[thread]`, at most
    /// two byte ranges each): a thread waiting for work reads them into its L2 meanwhile, so memory
    /// keeps streaming through barriers and serial steps. Replaces the previous hints.
    public func prefetchHints(_ ranges: (_ thread: Int, _ slot: Int) -> UnsafeRawBufferPointer?) {
        guard threads > 1 else { return }
        for thread in 0..<threads {
            for slot in 0..<2 {
                let range = ranges(thread, slot)
                tk_pool_set_prefetch(pool, Int32(thread), Int32(slot), range?.baseAddress, Int64(range?.count ?? 0))
            }
        }
        tk_pool_publish_prefetch(pool)
    }

    /// The machine's logical core count.
    public static var coreCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}

/// Work for `WorkerPool.run(_:grain:_:)`: handles one contiguous run of the range on thread
/// `worker` (0..<threads). Runs of one call may execute concurrently.
public protocol ParallelTask {
    func run(_ range: Range<Int>, worker: Int)
}

private protocol TaskRunner {
    func run(_ range: Range<Int>, worker: Int)
}

private struct PointerRunner<Task: ParallelTask>: TaskRunner {
    let task: UnsafePointer<Task>
    func run(_ range: Range<Int>, worker: Int) { task.pointee.run(range, worker: worker) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
