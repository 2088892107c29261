import Foundation  // Thread and NSCondition
import Synchronization
import TernaryKernels
import TernaryModels
import TernaryTokenizer

/// Set when a request's consumer goes away; read by the scheduler between steps.
public final class CancellationFlag: Sendable {
    let value = Atomic<Bool>(false)
    public var isCancelled: Bool { value.load(ordering: .relaxed) }
    public func cancel() { value.store(true, ordering: .relaxed) }
}

/// A submitted request: its events, and the way to stop it. Releasing the handle stops it too.
public final class GenerationHandle: Sendable {
    public let events: AsyncThrowingStream<GenerationEvent, Error>
    let cancelled: CancellationFlag

    init(events: AsyncThrowingStream<GenerationEvent, Error>, cancelled: CancellationFlag) {
        self.events = events
        self.cancelled = cancelled
    }

    /// Stops the generation at the next step and frees its slot (its stream then just ends).
    public func cancel() { cancelled.cancel() }

    deinit { cancelled.cancel() }
}

/// One completion asked of a `BatchScheduler`.
public struct GenerationRequest: Sendable {
    public var prompt: [Int]
    public var maxTokens: Int
    public var options: SamplingOptions
    public var stopStrings: [String]
    /// Run to `maxTokens` even past the end of the text (benchmarks; llama.cpp's `ignore_eos`).
    public var ignoreEndOfText: Bool
    /// Each token's log-probability with this many alternatives (0…20); nil: none.
    public var logprobs: Int?
    /// The same for the prompt's tokens after the first, each given the ones before it (OpenAI's
    /// `echo` with `logprobs`: how evaluation harnesses score a text). Such a prompt is computed
    /// whole, never taken from the prompt cache.
    public var promptLogprobs: Int?
    /// The shape the text must have (JSON mode); plain text by default.
    public var format: OutputFormat

    public init(prompt: [Int], maxTokens: Int, options: SamplingOptions, stopStrings: [String] = [], ignoreEndOfText: Bool = false,
                logprobs: Int? = nil, promptLogprobs: Int? = nil, format: OutputFormat = .text) {
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.options = options
        self.stopStrings = stopStrings
        self.ignoreEndOfText = ignoreEndOfText
        self.logprobs = logprobs
        self.promptLogprobs = promptLogprobs
        self.format = format
    }
}

/// What a request's stream carries: text as it is generated, then one summary. With `logprobs`
/// asked, each text event carries the entries of the tokens whose text it completes (an event may
/// carry entries and no text, while a token's text is held back).
public enum GenerationEvent: Sendable {
    /// With `promptLogprobs` asked, once, before any text: the entries of the prompt's tokens
    /// after the first.
    case prompt(logprobs: [TokenLogprob])
    case text(String, logprobs: [TokenLogprob] = [])
    case done(CompletionSummary)
}

/// How a completion went: counts and timings (llama-server's `timings`).
public struct CompletionSummary: Sendable {
    public var stopReason: StopReason
    public var text: String
    public var tokens: [Int]
    public var promptTokens: Int
    /// Prompt tokens a slot already held (the prompt cache) and that were not computed again.
    public var cachedTokens: Int
    public var queueSeconds: Double
    public var prefillSeconds: Double
    public var decodeSeconds: Double
}

public enum SchedulerError: Error, CustomStringConvertible, Equatable {
    case queueFull(limit: Int)
    case promptTooLong(tokens: Int, contextSize: Int)
    case emptyPrompt
    case shutDown

    public var description: String {
        switch self {
        case let .queueFull(limit): "the server is busy: \(limit) requests are already waiting; retry later"
        case let .promptTooLong(tokens, contextSize):
            "the prompt has \(tokens) tokens, but this server's context size is \(contextSize) tokens (prompt and completion together); shorten it"
        case .emptyPrompt: "the prompt is empty"
        case .shutDown: "the server is shutting down"
        }
    }
}

/// Counters for /metrics, read at any time.
public struct SchedulerMetrics: Sendable {
    public var requests = 0
    public var promptTokens = 0
    public var cachedTokens = 0
    public var generatedTokens = 0
    public var active = 0
    public var queued = 0
    public var steps = 0
    /// Seconds spent in forward passes.
    public var busySeconds = 0.0

    public init() {}
}

/// Continuous batching: up to `slots` sequences, each with its own memory of `contextSize` tokens,
/// advanced together by one forward pass per step (each weight matrix is read once for all of
/// them). New requests join between steps; a long prompt is fed `prefillChunk` tokens per step, so
/// the sequences already decoding wait at most one chunk. A request whose prompt extends what a
/// free slot holds reuses that prefix (the prompt cache). A stream whose consumer goes away is
/// stopped at the next step and its slot freed.
///
/// The forward passes run on one thread of the scheduler's own; `submit` may be called from any
/// thread.
public final class BatchScheduler: @unchecked Sendable {
    public let model: any LanguageModel
    public let tokenizer: any Tokenizer
    public let slotCount: Int
    public let contextSize: Int
    public let prefillChunk: Int
    /// How many requests may wait while every slot is busy.
    public let maxQueue: Int
    /// Bytes of one slot's memory when full.
    public let bytesPerSlot: Int

    private let context: InferenceContext
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [Job] = []
    private var running = true
    private var counters = SchedulerMetrics()
    // Owned by the scheduler thread:
    private var slots: [Slot]
    private var thread: Thread?
    /// The vocabulary's bytes for output formats, made at the first request that asks for one.
    private lazy var tokenBytes = TokenBytes(tokenizer: tokenizer)
    /// The logits of every prompt row a step feeds whose prompt is scored (`promptLogprobs`): at
    /// most `prefillChunk` rows a step whatever the number of such requests, so one buffer of that
    /// many rows serves them all. Made when a step first needs it, freed when no slot scores.
    private var scoredRows: UnsafeMutableBufferPointer<Float>?

    public init(model: any LanguageModel, slots: Int, contextSize: Int? = nil, threads: Int = WorkerPool.coreCount,
                kvPrecision: KVPrecision = .f16, prefillChunk: Int = 128, maxQueue: Int = 256) throws {
        guard let tokenizer = model.tokenizer else { throw ModelError.noTokenizer(path: model.file.path) }
        self.model = model
        self.tokenizer = tokenizer
        slotCount = max(1, slots)
        self.contextSize = min(contextSize ?? model.contextLength, model.contextLength)
        self.prefillChunk = max(1, prefillChunk)
        self.maxQueue = max(0, maxQueue)
        context = InferenceContext(threads: threads, microBatch: max(self.prefillChunk, InferenceContext.defaultMicroBatch))
        let options = MemoryOptions(kvPrecision: kvPrecision, capacity: self.contextSize)
        self.slots = (0..<slotCount).map { _ in Slot(memory: model.makeMemory(options), vocabulary: model.vocabularySize) }
        bytesPerSlot = self.slots[0].memory.bytes
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "ternary-scheduler"
        self.thread = thread
        thread.start()
    }

    deinit {
        shutdown()
        scoredRows?.deallocate()
    }

    /// Queues a request. Its `events` yield text as it is generated and end with `.done`; its
    /// generation stops at the next step once the handle is cancelled or released, or the stream's
    /// consumer is cancelled. Throws at once when the prompt cannot fit or the queue is full.
    public func submit(_ request: GenerationRequest) throws -> GenerationHandle {
        guard !request.prompt.isEmpty else { throw SchedulerError.emptyPrompt }
        guard request.prompt.count < contextSize else { throw SchedulerError.promptTooLong(tokens: request.prompt.count, contextSize: contextSize) }
        try request.options.validate()
        if let token = request.options.logitBias.keys.first(where: { $0 >= model.vocabularySize }) {
            throw GenerationError.badOption(option: "logit_bias", value: "\(token)", expected: "token ids below the vocabulary size, \(model.vocabularySize)")
        }
        for n in [request.logprobs, request.promptLogprobs].compactMap({ $0 }) where !(0...TokenLogprob.maxAlternatives).contains(n) {
            throw GenerationError.badOption(option: "logprobs", value: "\(n)", expected: "an integer in 0...\(TokenLogprob.maxAlternatives)")
        }
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, Error>.makeStream(bufferingPolicy: .unbounded)
        let job = Job(request: request, continuation: continuation, tokenizer: tokenizer)
        let cancelled = job.cancelled
        continuation.onTermination = { _ in cancelled.value.store(true, ordering: .relaxed) }
        condition.lock()
        defer { condition.unlock() }
        guard running else { throw SchedulerError.shutDown }
        // Requests that a free slot will take at the next step do not wait; `maxQueue` bounds the rest.
        let freeSlots = max(0, slotCount - counters.active)
        guard queue.count < maxQueue + freeSlots else { throw SchedulerError.queueFull(limit: maxQueue) }
        queue.append(job)
        counters.requests += 1
        counters.queued = queue.count
        condition.signal()
        return GenerationHandle(events: stream, cancelled: cancelled)
    }

    public var metrics: SchedulerMetrics {
        condition.lock()
        defer { condition.unlock() }
        return counters
    }

    /// Stops taking requests, ends every stream (queued and running ones with `.shutDown`) and
    /// stops the thread. Streams that should finish first: wait for them before calling this.
    public func shutdown() {
        condition.lock()
        let wasRunning = running
        running = false
        condition.broadcast()
        condition.unlock()
        guard wasRunning, let thread, !thread.isMainThread else { return }
        while !thread.isFinished { usleep(1000) }
    }

    // MARK: - The scheduler thread

    private final class Job {
        let request: GenerationRequest
        let continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation
        let cancelled = CancellationFlag()
        var completion: Completion?
        let tokenizer: any Tokenizer
        var pending: [Int] = []
        var cached = 0
        let queuedAt = Timing.now()
        var startedAt: Timing.Instant?
        /// When the prompt's last token was fed (nil while prefilling).
        var prefillDoneAt: Timing.Instant?
        /// With `promptLogprobs`: the prompt's entries so far.
        var promptEntries: [TokenLogprob] = []
        /// Whether the rows fed now need their logits: the prompt's own log-probabilities are asked
        /// and it is still being fed.
        var scoresPrompt: Bool { request.promptLogprobs != nil && prefillDoneAt == nil }

        init(request: GenerationRequest, continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation, tokenizer: any Tokenizer) {
            self.request = request
            self.continuation = continuation
            self.tokenizer = tokenizer
        }
    }

    private final class Slot {
        let memory: SequenceMemory
        /// The tokens `memory` holds (for the prompt cache).
        var tokens: [Int] = []
        var job: Job?
        let logits: UnsafeMutableBufferPointer<Float>

        init(memory: SequenceMemory, vocabulary: Int) {
            self.memory = memory
            logits = .allocate(capacity: vocabulary)
            logits.initialize(repeating: 0)
        }

        deinit { logits.deallocate() }
    }

    private func run() {
        while true {
            condition.lock()
            while running, queue.isEmpty, slots.allSatisfy({ $0.job == nil }) { condition.wait() }
            if !running {
                let waiting = queue
                queue.removeAll()
                condition.unlock()
                for job in waiting + slots.compactMap(\.job) { job.continuation.finish(throwing: SchedulerError.shutDown) }
                return
            }
            admit()
            counters.queued = queue.count
            counters.active = slots.filter { $0.job != nil }.count
            condition.unlock()
            step()
        }
    }

    /// Moves queued requests into free slots (called with the lock held): the free slot whose
    /// tokens share the longest prefix with the prompt, cut back to that prefix.
    private func admit() {
        queue.removeAll { job in
            if job.cancelled.value.load(ordering: .relaxed) { job.continuation.finish(); return true }
            return false
        }
        while !queue.isEmpty, slots.contains(where: { $0.job == nil }) {
            let job = queue.removeFirst()
            let prompt = job.request.prompt
            let free = slots.filter { $0.job == nil }
            func shared(_ slot: Slot) -> Int { zip(slot.tokens, prompt).prefix { $0 == $1 }.count }
            let slot = free.max { shared($0) < shared($1) }!
            // Feed at least one token (its logits start the completion), and all of a prompt whose
            // own log-probabilities are asked for.
            var keep = job.request.promptLogprobs == nil ? min(shared(slot), prompt.count - 1) : 0
            if keep < slot.tokens.count, !slot.memory.truncate(to: keep) {
                slot.memory.reset()
                keep = 0
            }
            slot.tokens.removeLast(slot.tokens.count - keep)
            job.cached = keep
            job.pending = Array(prompt[keep...])
            job.startedAt = Timing.now()
            job.completion = Completion(tokenizer: tokenizer, prompt: prompt, maxTokens: job.request.maxTokens,
                                        capacityLeft: contextSize - prompt.count, options: job.request.options,
                                        stopStrings: job.request.stopStrings, ignoreEndOfText: job.request.ignoreEndOfText,
                                        logprobs: job.request.logprobs, format: job.request.format,
                                        tokenBytes: job.request.format == .text ? nil : tokenBytes)
            counters.promptTokens += prompt.count
            counters.cachedTokens += keep
            slot.job = job
        }
    }

    /// One forward pass over every active slot, then one sampling step for each that asked for logits.
    private func step() {
        // Slots whose consumer went away stop here; their memory stays for the prompt cache. Counters
        // first, so a client that has read its last event sees them.
        var dropped: [Slot] = []
        for slot in slots {
            guard let job = slot.job else { continue }
            if job.completion?.isFinished == true, job.request.promptLogprobs == nil {
                dropped.append(slot)  // nothing to generate (max_tokens 0) and nothing to score: no forward pass
                continue
            }
            guard job.cancelled.value.load(ordering: .relaxed) else { continue }
            // Its summary says .interrupted (a deadline reads it), with the text held back so far.
            if var completion = job.completion {
                let rest = completion.interrupt(), logprobs = completion.takeLogprobs()
                job.completion = completion
                if !rest.isEmpty || !logprobs.isEmpty { job.continuation.yield(.text(rest, logprobs: logprobs)) }
            }
            dropped.append(slot)
        }
        if !dropped.isEmpty {
            condition.lock()
            counters.active -= dropped.count
            condition.unlock()
            for slot in dropped { finish(slot) }
        }
        var steps: [ForwardStep] = []
        // `scoredRow`: where the rows' logits start in `scoredRows`, for a scored prompt's chunk.
        var fed: [(slot: Slot, tokens: [Int], wantsLogits: Bool, scoredRow: Int?)] = []
        var scoredRowCount = 0
        var prefillBudget = prefillChunk
        for slot in slots {
            guard let job = slot.job, !job.pending.isEmpty else { continue }
            var count = job.pending.count
            if job.prefillDoneAt == nil {
                guard prefillBudget > 0 else { continue }
                count = min(count, prefillBudget)
                prefillBudget -= count
            }
            let tokens = Array(job.pending.prefix(count))
            let wantsLogits = count == job.pending.count
            fed.append((slot, tokens, wantsLogits, job.scoresPrompt ? scoredRowCount : nil))
            if job.scoresPrompt { scoredRowCount += count }  // prefill rows: within the chunk budget
        }
        guard !fed.isEmpty else { return }
        if scoredRowCount > 0, scoredRows == nil {
            scoredRows = .allocate(capacity: prefillChunk * model.vocabularySize)
        }
        let started = Timing.now()
        for (slot, tokens, wantsLogits, scoredRow) in fed {
            if let scoredRow, let rows = scoredRows {
                steps.append(ForwardStep(tokens: tokens, memory: slot.memory, logits: .all,
                                         output: rows.baseAddress! + scoredRow * model.vocabularySize))
            } else {
                steps.append(ForwardStep(tokens: tokens, memory: slot.memory, logits: wantsLogits ? .last : .none,
                                         output: wantsLogits ? slot.logits.baseAddress : nil))
            }
        }
        do {
            try steps.withUnsafeMutableBufferPointer { try model.forward($0, context: context) }
        } catch {
            for (slot, _, _, _) in fed {
                slot.job?.continuation.finish(throwing: error)
                slot.job = nil
                slot.memory.reset()
                slot.tokens = []
            }
            return
        }
        let seconds = Timing.seconds(since: started)
        var generated = 0
        var finished: [Slot] = []
        for (slot, tokens, wantsLogits, scoredRow) in fed {
            guard let job = slot.job else { continue }
            if let scoredRow, let all = scoredRows {
                let rows = UnsafeMutableBufferPointer(rebasing: all[(scoredRow * model.vocabularySize)...].prefix(tokens.count * model.vocabularySize))
                do { try scorePrompt(job, rows: rows, from: slot.tokens.count, count: tokens.count, into: slot) } catch {
                    job.continuation.finish(throwing: error)
                    slot.job = nil
                    slot.memory.reset()
                    slot.tokens = []
                    continue
                }
            }
            slot.tokens += tokens
            job.pending.removeFirst(tokens.count)
            guard wantsLogits else { continue }
            if job.prefillDoneAt == nil {
                if job.scoresPrompt { job.continuation.yield(.prompt(logprobs: job.promptEntries)) }
                job.prefillDoneAt = Timing.now()
            }
            if job.completion!.isFinished {  // max_tokens 0: the prompt only
                finished.append(slot)
                continue
            }
            do {
                let (text, feed) = try job.completion!.next(logits: Array(slot.logits))
                let logprobs = job.completion!.takeLogprobs()
                if !text.isEmpty || !logprobs.isEmpty { job.continuation.yield(.text(text, logprobs: logprobs)) }
                if let feed {
                    job.pending = [feed]
                    generated += 1
                } else {
                    generated += job.completion!.stopReason == .eos ? 0 : 1
                    finished.append(slot)
                }
            } catch {
                job.continuation.finish(throwing: error)
                slot.job = nil
            }
        }
        // Counters first, so a client that has read its last event sees them.
        condition.lock()
        counters.active = slots.filter { $0.job != nil }.count - finished.count
        counters.steps += 1
        counters.busySeconds += seconds
        counters.generatedTokens += generated
        condition.unlock()
        for slot in finished { finish(slot) }
        if let rows = scoredRows, !slots.contains(where: { $0.job?.scoresPrompt == true }) {
            rows.deallocate()
            scoredRows = nil
        }
    }

    /// The entries of the prompt tokens that rows `first…first+count−1`' logits predict; the last
    /// row's logits, when they are the prompt's last, go to the slot for the first sampled token.
    /// Non-finite logits (corrupt weights) are an error, as when sampling.
    private func scorePrompt(_ job: Job, rows: UnsafeMutableBufferPointer<Float>, from first: Int, count: Int, into slot: Slot) throws {
        let vocabulary = model.vocabularySize, prompt = job.request.prompt, top = job.request.promptLogprobs ?? 0
        for r in 0..<count where first + r + 1 < prompt.count {
            let row = Array(rows[(r * vocabulary)..<((r + 1) * vocabulary)])
            if let bad = row.firstIndex(where: { !$0.isFinite }) { throw GenerationError.nonFiniteLogits(token: bad, value: row[bad]) }
            job.promptEntries.append(TokenLogprob(logits: row, token: prompt[first + r + 1], top: top))
        }
        if first + count == prompt.count {
            _ = slot.logits.update(fromContentsOf: rows[((count - 1) * vocabulary)..<(count * vocabulary)])
        }
    }

    private func finish(_ slot: Slot) {
        guard let job = slot.job, let completion = job.completion else { return }
        let started = job.startedAt ?? job.queuedAt, prefilled = job.prefillDoneAt ?? started
        func seconds(_ a: Timing.Instant, _ b: Timing.Instant) -> Double {
            let d = a.duration(to: b).components
            return Double(d.seconds) + Double(d.attoseconds) * 1e-18
        }
        job.continuation.yield(.done(CompletionSummary(
            stopReason: completion.stopReason ?? .length, text: completion.text, tokens: completion.generated,
            promptTokens: job.request.prompt.count, cachedTokens: job.cached,
            queueSeconds: seconds(job.queuedAt, started), prefillSeconds: seconds(started, prefilled),
            decodeSeconds: seconds(prefilled, Timing.now()))))
        job.continuation.finish()
        slot.job = nil
    }
}
