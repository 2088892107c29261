import TernaryFormat

/// A JSON Schema, compiled for `JSONSchemaPrefix`: the subset that structured outputs use
/// (OpenAI's `response_format: {"type": "json_schema"}`, llama.cpp's `--json-schema`).
///
/// Supported: `type` (one or a list), `properties` with `required` (properties are written in the
/// order given, the optional ones may be left out, and no others are written, whatever
/// `additionalProperties` says), `items` with `minItems`/`maxItems`, `minLength`/`maxLength`,
/// `enum`, `const`, `anyOf`/`oneOf` whose alternatives start with different characters (a
/// string or null; an object or an array), and `$ref` to `#/$defs/…` (or `#/definitions/…`) as
/// Pydantic and the `openai` SDK's `parse` write them, unless a definition refers to itself.
/// Annotations (`title`, `description`, `default`, `examples`, `format`, …) are ignored. Any
/// other keyword (`pattern`, `minimum`, `allOf`, …) is an error naming it, so a schema is never
/// silently half-enforced.
public final class JSONSchema: Sendable, Equatable {
    public struct CompileError: Error, CustomStringConvertible, Equatable {
        /// Where in the schema, e.g. `properties.name.maxLength`.
        public let path: String
        public let reason: String
        public var description: String { path.isEmpty ? reason : "'\(path)': \(reason)" }
    }

    enum Kind: Equatable, Sendable {
        /// Any JSON value starting with one of `first` (any value, any object, any array).
        case generic
        case object, array, string, number, integer
        /// One of `literals` (enum, const, boolean, null), byte for byte.
        case literals
        /// One of `alternatives`, told apart by their first byte.
        case union
    }

    struct Property: Equatable, Sendable {
        /// The key as written: `"name"`, quotes included.
        var key: [UInt8]
        var node: Int
        var required: Bool
    }

    struct Node: Equatable, Sendable {
        var kind: Kind
        /// The bytes this node's values may start with.
        var first = ByteSet()
        var properties: [Property] = []
        var item = -1
        var minItems = 0, maxItems = Int.max
        var minLength = 0, maxLength = Int.max
        var literals: [[UInt8]] = []
        var alternatives: [Int] = []
    }

    let nodes: [Node]
    let root: Int

    static let maxNodes = 1024, maxNesting = 32, maxChoices = 64

    public init(_ schema: JSONValue) throws {
        var compiler = Compiler(root: schema)
        root = try compiler.compile(schema, path: "", nesting: 0)
        nodes = compiler.nodes
        if nodes[root].first.containsAny(of: ByteSet.numberStart) {
            throw CompileError(path: "", reason: "the top level may be a number, which has no end a model can write; make it an object, an array, a string or an enum of those")
        }
    }

    public static func == (a: JSONSchema, b: JSONSchema) -> Bool { a === b }

    /// Resolves unions: the node a value starting with `byte` takes, or nil when none can.
    func node(_ index: Int, startingWith byte: UInt8) -> Int? {
        let node = nodes[index]
        guard node.first.contains(byte) else { return nil }
        guard node.kind == .union else { return index }
        for alternative in node.alternatives {
            if let resolved = self.node(alternative, startingWith: byte) { return resolved }
        }
        return nil
    }
}

/// A set of bytes (256 bits).
struct ByteSet: Equatable, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init() {}
    init<S: Sequence>(_ bytes: S) where S.Element == UInt8 { for b in bytes { insert(b) } }

    static let numberStart = ByteSet(Array("-0123456789".utf8))
    static let anyValueStart = ByteSet(Array("{[\"-0123456789tfn".utf8))

    func contains(_ b: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    func union(_ other: ByteSet) -> ByteSet {
        var u = ByteSet()
        u.words = (words.0 | other.words.0, words.1 | other.words.1, words.2 | other.words.2, words.3 | other.words.3)
        return u
    }

    func containsAny(of other: ByteSet) -> Bool {
        words.0 & other.words.0 != 0 || words.1 & other.words.1 != 0 || words.2 & other.words.2 != 0 || words.3 & other.words.3 != 0
    }

    var first: UInt8? { (0...255).first { contains(UInt8($0)) }.map(UInt8.init) }

    static func == (a: ByteSet, b: ByteSet) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }
}

private struct Compiler {
    let root: JSONValue
    var nodes: [JSONSchema.Node] = []
    /// Compiled definitions by reference, and those being compiled (a reference back to one of
    /// them is recursion, which a finite checker cannot hold).
    var definitions: [String: Int] = [:]
    var resolving: Set<String> = []

    init(root: JSONValue) { self.root = root }

    static let annotations: Set<String> = [
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "format", "deprecated", "readOnly", "writeOnly",
        "$defs", "definitions",
    ]
    static let assertions: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength", "enum",
        "const", "anyOf", "oneOf", "$ref",
    ]
    static let types = ["object", "array", "string", "number", "integer", "boolean", "null"]

    func fail(_ path: String, _ reason: String) -> JSONSchema.CompileError { JSONSchema.CompileError(path: path, reason: reason) }
    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    mutating func add(_ node: JSONSchema.Node, path: String) throws -> Int {
        guard nodes.count < JSONSchema.maxNodes else { throw fail(path, "the schema has more than \(JSONSchema.maxNodes) parts") }
        nodes.append(node)
        return nodes.count - 1
    }

    mutating func compile(_ schema: JSONValue, path: String, nesting: Int) throws -> Int {
        guard nesting <= JSONSchema.maxNesting else { throw fail(path, "the schema nests deeper than \(JSONSchema.maxNesting) levels") }
        if case .bool(true) = schema { return try add(.init(kind: .generic, first: ByteSet.anyValueStart), path: path) }
        guard case let .object(pairs) = schema else { throw fail(path, "a schema must be an object (or true), found \(schema.kindDescription)") }
        for (key, _) in pairs where !Self.annotations.contains(key) && !Self.assertions.contains(key) {
            throw fail(join(path, key), "'\(key)' is not supported here (supported: \(Self.assertions.sorted().joined(separator: ", ")))")
        }
        if let reference = schema["$ref"] {
            let others = pairs.map(\.0).filter { Self.assertions.contains($0) && $0 != "$ref" }
            guard others.isEmpty else { throw fail(path, "'$ref' beside '\(others[0])' is not supported") }
            return try resolve(reference, path: join(path, "$ref"), nesting: nesting)
        }
        if let values = schema["enum"] ?? schema["const"].map({ .array([$0]) }) {
            guard schema["enum"] == nil || schema["const"] == nil else { throw fail(path, "give 'enum' or 'const', not both") }
            guard let items = values.array, !items.isEmpty, items.count <= JSONSchema.maxChoices else {
                throw fail(join(path, "enum"), "expected a list of 1 to \(JSONSchema.maxChoices) values")
            }
            let literals = items.map { Array($0.serialized(sortKeys: false).utf8) }
            return try add(.init(kind: .literals, first: ByteSet(literals.compactMap(\.first)), literals: literals), path: path)
        }
        if let choices = schema["anyOf"] ?? schema["oneOf"] {
            let key = schema["anyOf"] != nil ? "anyOf" : "oneOf"
            guard let items = choices.array, !items.isEmpty, items.count <= JSONSchema.maxChoices else {
                throw fail(join(path, key), "expected a list of 1 to \(JSONSchema.maxChoices) schemas")
            }
            let others = pairs.map(\.0).filter { Self.assertions.contains($0) && $0 != key }
            guard others.isEmpty else { throw fail(path, "'\(key)' beside '\(others[0])' is not supported: put it inside each alternative") }
            let alternatives = try items.enumerated().map { try compile($1, path: join(path, "\(key)[\($0)]"), nesting: nesting + 1) }
            return try union(alternatives, path: join(path, key))
        }
        switch schema["type"] {
        case nil:
            if schema["properties"] != nil { return try single("object", schema, path: path, nesting: nesting) }
            if schema["items"] != nil { return try single("array", schema, path: path, nesting: nesting) }
            return try add(.init(kind: .generic, first: ByteSet.anyValueStart), path: path)
        case let .string(type)?:
            return try single(type, schema, path: path, nesting: nesting)
        case let .array(types)?:
            let names = try types.map { t -> String in
                guard let name = t.string else { throw fail(join(path, "type"), "expected type names, found \(t.kindDescription)") }
                return name
            }
            guard !names.isEmpty else { throw fail(join(path, "type"), "expected at least one type") }
            // A number and an integer start alike: "number" covers both.
            let kept = names.contains("number") ? names.filter { $0 != "integer" } : names
            return try union(try kept.map { try single($0, schema, path: path, nesting: nesting) }, path: join(path, "type"))
        case let other?:
            throw fail(join(path, "type"), "expected a type name or a list of them, found \(other.kindDescription)")
        }
    }

    /// `#/$defs/Name` or `#/definitions/Name` in the root schema, compiled once.
    mutating func resolve(_ reference: JSONValue, path: String, nesting: Int) throws -> Int {
        guard let target = reference.string else { throw fail(path, "expected a string") }
        if let node = definitions[target] { return node }
        let parts = target.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[0] == "#", parts[1] == "$defs" || parts[1] == "definitions",
              let definition = root[parts[1]]?[parts[2]] else {
            throw fail(path, "'\(target)' is not a definition of this schema (only #/$defs/NAME and #/definitions/NAME are followed)")
        }
        guard !resolving.contains(target) else { throw fail(path, "'\(target)' refers to itself; recursive schemas are not supported") }
        resolving.insert(target)
        defer { resolving.remove(target) }
        let node = try compile(definition, path: "\(parts[1]).\(parts[2])", nesting: nesting + 1)
        definitions[target] = node
        return node
    }

    mutating func union(_ alternatives: [Int], path: String) throws -> Int {
        if alternatives.count == 1 { return alternatives[0] }
        var first = ByteSet()
        for a in alternatives {
            guard !first.containsAny(of: nodes[a].first) else {
                throw fail(path, "alternatives that can start with the same character (two objects, two strings, two numbers) are not supported")
            }
            first = first.union(nodes[a].first)
        }
        return try add(.init(kind: .union, first: first, alternatives: alternatives), path: path)
    }

    func count(_ schema: JSONValue, _ key: String, path: String) throws -> Int? {
        guard let value = schema[key] else { return nil }
        guard let n = value.integer, n >= 0 else { throw fail(join(path, key), "expected an integer >= 0") }
        return n
    }

    mutating func single(_ type: String, _ schema: JSONValue, path: String, nesting: Int) throws -> Int {
        let allowed: Set<String>
        switch type {
        case "object": allowed = ["type", "properties", "required", "additionalProperties"]
        case "array": allowed = ["type", "items", "minItems", "maxItems"]
        case "string": allowed = ["type", "minLength", "maxLength"]
        case "number", "integer", "boolean", "null": allowed = ["type"]
        default: throw fail(join(path, "type"), "'\(type)' is not a type (expected one of \(Self.types.joined(separator: ", ")))")
        }
        let isUnion = schema["type"]?.array != nil
        if !isUnion, case let .object(pairs) = schema,
           let stray = pairs.map(\.0).first(where: { Self.assertions.contains($0) && !allowed.contains($0) }) {
            throw fail(join(path, stray), "'\(stray)' does not apply to type \(type)")
        }
        switch type {
        case "object":
            guard case let .object(properties)? = schema["properties"], !properties.isEmpty else {
                return try add(.init(kind: .generic, first: ByteSet([UInt8(ascii: "{")])), path: path)
            }
            guard properties.count <= JSONSchema.maxChoices else {
                throw fail(join(path, "properties"), "more than \(JSONSchema.maxChoices) properties are not supported")
            }
            var required = Set<String>()
            if let list = schema["required"] {
                guard let items = list.array, items.allSatisfy({ $0.string != nil }) else {
                    throw fail(join(path, "required"), "expected a list of property names")
                }
                required = Set(items.compactMap(\.string))
                if let missing = items.compactMap(\.string).first(where: { name in !properties.contains { $0.0 == name } }) {
                    throw fail(join(path, "required"), "'\(missing)' is required but not among the properties")
                }
            }
            if let extra = schema["additionalProperties"] {
                guard extra.boolean != nil || { if case .object = extra { true } else { false } }() else {
                    throw fail(join(path, "additionalProperties"), "expected true, false or a schema")
                }
            }
            var compiled: [JSONSchema.Property] = []
            for (name, sub) in properties {
                let node = try compile(sub, path: join(join(path, "properties"), name), nesting: nesting + 1)
                compiled.append(.init(key: Array(JSONValue.string(name).serialized().utf8), node: node, required: required.contains(name)))
            }
            return try add(.init(kind: .object, first: ByteSet([UInt8(ascii: "{")]), properties: compiled), path: path)
        case "array":
            let item = try schema["items"].map { try compile($0, path: join(path, "items"), nesting: nesting + 1) }
                ?? add(.init(kind: .generic, first: ByteSet.anyValueStart), path: path)
            let minItems = try count(schema, "minItems", path: path) ?? 0, maxItems = try count(schema, "maxItems", path: path) ?? Int.max
            guard minItems <= maxItems else { throw fail(join(path, "minItems"), "minItems \(minItems) is above maxItems \(maxItems)") }
            return try add(.init(kind: .array, first: ByteSet([UInt8(ascii: "[")]), item: item, minItems: minItems, maxItems: maxItems), path: path)
        case "string":
            let minLength = try count(schema, "minLength", path: path) ?? 0, maxLength = try count(schema, "maxLength", path: path) ?? Int.max
            guard minLength <= maxLength else { throw fail(join(path, "minLength"), "minLength \(minLength) is above maxLength \(maxLength)") }
            return try add(.init(kind: .string, first: ByteSet([UInt8(ascii: "\"")]), minLength: minLength, maxLength: maxLength), path: path)
        case "number", "integer":
            return try add(.init(kind: type == "number" ? .number : .integer, first: ByteSet.numberStart), path: path)
        case "boolean":
            return try add(.init(kind: .literals, first: ByteSet(Array("tf".utf8)), literals: [Array("true".utf8), Array("false".utf8)]), path: path)
        default:
            return try add(.init(kind: .literals, first: ByteSet([UInt8(ascii: "n")]), literals: [Array("null".utf8)]), path: path)
        }
    }
}
