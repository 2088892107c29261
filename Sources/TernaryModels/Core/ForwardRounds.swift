import TernaryKernels

/// What every architecture's `forward` shares: checking the steps, cutting them into rounds of at
/// most a micro-batch of rows (each round takes the next chunk of every unfinished step, so one
/// pass over the weights serves all sequences), and writing the logits the steps ask for.
enum ForwardRounds {
    /// Every step is valid before any memory changes: its memory is this model's (`owns`) and no
    /// other step's, its tokens fit the memory and the vocabulary, and it has an output buffer.
    static func validate(_ steps: UnsafeMutableBufferPointer<ForwardStep>, vocabulary: Int, architecture: String,
                         owns: (any SequenceMemory) -> Bool) throws {
        for i in 0..<steps.count {
            let memory = steps[i].memory
            guard owns(memory) else { throw ModelError.foreignMemory(architecture: architecture) }
            for j in 0..<i where steps[j].memory === memory { throw ModelError.sharedMemory(step: i) }
            let needed = memory.length + steps[i].tokens.count
            guard needed <= memory.capacity else { throw ModelError.contextFull(needed: needed, contextLength: memory.capacity) }
            for token in steps[i].tokens where token < 0 || token >= vocabulary {
                throw ModelError.tokenOutOfRange(token: token, vocabularySize: vocabulary)
            }
            precondition(steps[i].logits == .none || steps[i].output != nil, "a step that asks for logits needs an output buffer")
        }
    }

    /// Calls `round(segments, count, rows, done)` until every step's tokens are consumed; `done[i]`
    /// is how many of step i's tokens earlier rounds took. The round must advance the memories.
    static func run(_ steps: UnsafeMutableBufferPointer<ForwardStep>, context: InferenceContext,
                    round: (UnsafeMutablePointer<Segment>, Int, Int, UnsafePointer<Int>) -> Void) {
        let n = steps.count, ws = context.workspace
        let done = ws.typed(.stepProgress, Int.self, n)
        for i in 0..<n { done[i] = 0 }
        let segments = ws.typed(.segments, Segment.self, n)
        while true {
            var count = 0, rows = 0
            for i in 0..<n where done[i] < steps[i].tokens.count && rows < context.microBatch {
                let c = min(steps[i].tokens.count - done[i], context.microBatch - rows)
                segments[count] = Segment(firstRow: rows, count: c, start: steps[i].memory.length, step: i)
                count += 1
                rows += c
            }
            if count == 0 { break }
            round(segments, count, rows, done)
            for s in 0..<count { done[segments[s].step] += segments[s].count }
        }
    }

    /// The final norm and the head, for the rows of `x` (rows, width) whose logits are asked for.
    static func writeLogits(_ steps: UnsafeMutableBufferPointer<ForwardStep>, segments: UnsafePointer<Segment>, count: Int,
                            done: UnsafePointer<Int>, x: UnsafePointer<Float>, width d: Int, vocabulary: Int,
                            finalNorm: Norm, head: LinearGroup, context: InferenceContext) {
        let ws = context.workspace
        // Which rows: every row of an `.all` step; the last row of a `.last` step whose tokens end here.
        func wanted(_ s: Int) -> Range<Int> {
            let segment = segments[s], step = steps[segment.step]
            switch step.logits {
            case .none: return segment.firstRow..<segment.firstRow
            case .all: return segment.firstRow..<(segment.firstRow + segment.count)
            case .last:
                let end = segment.firstRow + segment.count
                return done[segment.step] + segment.count == step.tokens.count ? (end - 1)..<end : end..<end
            }
        }
        var total = 0
        for s in 0..<count { total += wanted(s).count }
        guard total > 0 else { return }
        let normed = ws.floats(.headRows, total * d)
        var j = 0
        for s in 0..<count {
            for row in wanted(s) {
                finalNorm.apply(x + row * d, into: normed + j * d, d)
                j += 1
            }
        }
        if count == 1 {
            // One sequence: straight into its buffer.
            let step = steps[segments[0].step]
            let destination = step.output! + (step.logits == .all ? done[segments[0].step] * vocabulary : 0)
            head(normed, tokens: total, into: destination, stride: vocabulary, context: context)
            return
        }
        let logits = ws.floats(.logits, total * vocabulary)
        head(normed, tokens: total, into: logits, stride: vocabulary, context: context)
        j = 0
        for s in 0..<count {
            let range = wanted(s), step = steps[segments[s].step]
            guard !range.isEmpty else { continue }
            let destination = step.output! + (step.logits == .all ? done[segments[s].step] * vocabulary : 0)
            destination.update(from: logits + j * vocabulary, count: range.count * vocabulary)
            j += range.count
        }
    }
}
