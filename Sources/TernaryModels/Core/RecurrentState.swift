/// A state-space model's memory of one sequence (Mamba-2): per layer the last `convWindow − 1`
/// inputs of its causal convolution and its SSM state (heads × head size × state size), in one
/// allocation whose size does not depend on how many tokens the sequence has seen.
///
/// A state summarizes every token so far and cannot be rewound: `truncate` succeeds only for the
/// length it already has or for 0 (a reset). To come back to an earlier point, keep a `copy` of
/// the state taken there (a checkpoint) and `restore` it.
public final class RecurrentState: SequenceMemory {
    public let layers: Int
    /// Rows of remembered convolution inputs (the kernel size − 1) and their width (channels).
    public let convRows: Int
    public let convWidth: Int
    /// Floats of one layer's SSM state.
    public let ssmSize: Int
    public let capacity: Int
    /// The model that made it (a state of the same shape from another model means nothing here).
    let owner: ObjectIdentifier?
    private let storage: UnsafeMutablePointer<Float>
    private let layerFloats: Int
    public private(set) var length = 0
    public var bytes: Int { layers * layerFloats * MemoryLayout<Float>.size }

    public init(layers: Int, convRows: Int, convWidth: Int, ssmSize: Int, capacity: Int, owner: ObjectIdentifier? = nil) {
        self.layers = layers
        self.convRows = convRows
        self.convWidth = convWidth
        self.ssmSize = ssmSize
        self.capacity = capacity
        self.owner = owner
        layerFloats = convRows * convWidth + ssmSize
        storage = .allocate(capacity: max(1, layers * layerFloats))
        storage.initialize(repeating: 0, count: max(1, layers * layerFloats))
    }

    deinit { storage.deallocate() }

    public func reset() {
        storage.update(repeating: 0, count: layers * layerFloats)
        length = 0
    }

    /// Only to where it is (nothing to do) or to 0 (a reset): a recurrent state cannot forget the
    /// last tokens without a checkpoint taken before them (`copy`, then `restore`).
    public func truncate(to count: Int) -> Bool {
        if count == length { return true }
        if count == 0 { reset(); return true }
        return false
    }

    /// A checkpoint: an independent state equal to this one.
    public func copy() -> RecurrentState {
        let other = RecurrentState(layers: layers, convRows: convRows, convWidth: convWidth, ssmSize: ssmSize, capacity: capacity, owner: owner)
        other.restore(self)
        return other
    }

    /// Becomes equal to `checkpoint` (a state of the same model).
    public func restore(_ checkpoint: RecurrentState) {
        precondition(checkpoint.owner == owner && checkpoint.layerFloats == layerFloats && checkpoint.layers == layers, "a checkpoint of another model")
        storage.update(from: checkpoint.storage, count: layers * layerFloats)
        length = checkpoint.length
    }

    /// Layer `l`'s convolution inputs, oldest first: (convRows, convWidth).
    func convolution(_ l: Int) -> UnsafeMutablePointer<Float> { storage + l * layerFloats }
    /// Layer `l`'s SSM state: (heads, head size, state size).
    func ssm(_ l: Int) -> UnsafeMutablePointer<Float> { storage + l * layerFloats + convRows * convWidth }

    /// Called by the model once all layers have consumed `count` new tokens.
    func advance(by count: Int) { length += count }
}
