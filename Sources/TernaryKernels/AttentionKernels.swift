import CTernaryKernels

/// Attention over a run of positions whose keys and values are rows `stride` elements apart: all the
/// scores of one query, or the weighted sum of all values, in one call (AVX2 + F16C + FMA where the
/// CPU has them, plain loops elsewhere).
public enum AttentionKernels {
    /// scores[j] = scale · q · keys[j·stride ..< j·stride + n], for j in 0..<count.
    @inline(__always)
    public static func scores(
        query q: UnsafePointer<Float>, keys: UnsafePointer<Float>, stride: Int, count: Int, width n: Int,
        scale: Float, into scores: UnsafeMutablePointer<Float>
    ) {
        tk_attention_scores_f32(q, keys, stride, count, n, scale, scores)
    }

    @inline(__always)
    public static func scores(
        query q: UnsafePointer<Float>, keys: UnsafePointer<Float16>, stride: Int, count: Int, width n: Int,
        scale: Float, into scores: UnsafeMutablePointer<Float>
    ) {
        keys.withMemoryRebound(to: UInt16.self, capacity: max(1, (count - 1) * stride + n)) {
            tk_attention_scores_f16(q, $0, stride, count, n, scale, scores)
        }
    }

    /// out[0..<n] += Σ_j p[j] · values[j·stride ..< j·stride + n], for j in 0..<count.
    @inline(__always)
    public static func accumulate(
        weights p: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, count: Int, width n: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        tk_attention_values_f32(p, values, stride, count, n, out)
    }

    @inline(__always)
    public static func accumulate(
        weights p: UnsafePointer<Float>, values: UnsafePointer<Float16>, stride: Int, count: Int, width n: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        values.withMemoryRebound(to: UInt16.self, capacity: max(1, (count - 1) * stride + n)) {
            tk_attention_values_f16(p, $0, stride, count, n, out)
        }
    }

    /// The most causal query rows one call of the row-block kernels takes.
    public static let maxRows = 4

    /// Up to `maxRows` query rows over one KV head's f16 rows, row r (q + r · queryStride) seeing
    /// the first firstCount + r positions when `causal` (consecutive rows of one head in a prefill),
    /// else firstCount (the query heads sharing a KV head at one position): scores[r · scoreStride
    /// + j] = scale · q_r · keys[j] (a row's scores past its own count are not used). Each score
    /// comes out the same whatever the rows are, so a decode step and a prefill block agree
    /// exactly. Each key is converted once for all the rows.
    @inline(__always)
    public static func scores(
        queries q: UnsafePointer<Float>, queryStride: Int, rows: Int, causal: Bool, keys: UnsafePointer<Float16>, stride: Int,
        firstCount: Int, width n: Int, scale: Float, into scores: UnsafeMutablePointer<Float>, scoreStride: Int
    ) {
        precondition(rows >= 1 && rows <= maxRows && firstCount >= 1, "1...\(maxRows) rows, each seeing a position")
        let step = causal ? 1 : 0
        keys.withMemoryRebound(to: UInt16.self, capacity: (firstCount + (rows - 1) * step - 1) * stride + n) {
            tk_attention_scores_f16_rows(q, queryStride, rows, $0, stride, firstCount, step, n, scale, scores, scoreStride)
        }
    }

    /// The rows of `scores(queries:…)`: out_r[0..<n] += Σ_j p_r[j] · values[j·stride ..< j·stride + n]
    /// over row r's positions, p_r = p + r · weightStride, out_r = out + r · outStride; each output
    /// the same whatever the rows are.
    @inline(__always)
    public static func accumulate(
        weights p: UnsafePointer<Float>, weightStride: Int, rows: Int, causal: Bool, firstCount: Int, values: UnsafePointer<Float16>,
        stride: Int, width n: Int, into out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        precondition(rows >= 1 && rows <= maxRows && firstCount >= 1, "1...\(maxRows) rows, each seeing a position")
        let step = causal ? 1 : 0
        values.withMemoryRebound(to: UInt16.self, capacity: (firstCount + (rows - 1) * step - 1) * stride + n) {
            tk_attention_values_f16_rows(p, weightStride, rows, firstCount, step, $0, stride, n, out, outStride)
        }
    }

    /// q8 rows: scores[j] = scale · keyScales[j·scaleStride] · q · keys[j·stride ..< j·stride + n].
    @inline(__always)
    public static func scores(
        query q: UnsafePointer<Float>, keys: UnsafePointer<Int8>, stride: Int, keyScales: UnsafePointer<Float>,
        scaleStride: Int, count: Int, width n: Int, scale: Float, into scores: UnsafeMutablePointer<Float>
    ) {
        tk_attention_scores_q8(q, keys, stride, keyScales, scaleStride, count, n, scale, scores)
    }

    /// q8 rows: out[0..<n] += Σ_j p[j] · valueScales[j·scaleStride] · values[j·stride ..< j·stride + n].
    @inline(__always)
    public static func accumulate(
        weights p: UnsafePointer<Float>, values: UnsafePointer<Int8>, stride: Int, valueScales: UnsafePointer<Float>,
        scaleStride: Int, count: Int, width n: Int, into out: UnsafeMutablePointer<Float>
    ) {
        tk_attention_values_q8(p, values, stride, valueScales, scaleStride, count, n, out)
    }

    /// Quantizes one row to int8 with a single scale (returned): x ≈ scale · q, |q| ≤ 127. Aligned
    /// rows may be written with streaming stores: call `storeFence()` before another thread reads
    /// them.
    @inline(__always)
    public static func quantizeRow(_ x: UnsafePointer<Float>, into q: UnsafeMutablePointer<Int8>, count n: Int) -> Float {
        tk_quantize_row_q8(x, q, n)
    }

    /// Makes this thread's streaming stores (from `quantizeRow`) visible before its later stores,
    /// such as the worker pool's completion flag.
    @inline(__always)
    public static func storeFence() { tk_store_fence() }
}
