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
