import Foundation
import Testing
@testable import TernaryGeneration
import TernaryFormat
import TernaryKernels
import TernaryModels
import TernaryTokenizer

/// Structured outputs: a JSON Schema compiles or is refused with the keyword named, its checker
/// takes exactly the texts the schema accepts, and generation held to it writes such texts.
@Suite("JSON schema")
struct JSONSchemaTests {
    static func schema(_ text: String) throws -> JSONSchema { try JSONSchema(try JSONParser().parse(Array(text.utf8))) }

    static let person = try! schema(#"""
        {"type": "object", "title": "A person", "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 12, "description": "given name"},
            "age": {"type": "integer"},
            "mood": {"enum": ["merry", "sad", "wroth"]},
            "friends": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3},
            "alive": {"type": "boolean"},
            "note": {"type": ["string", "null"]},
            "score": {"type": "number"},
            "extra": {"type": "object"}},
         "required": ["name", "age", "mood", "friends", "alive"], "additionalProperties": false}
        """#)

    /// How many bytes the checker takes, and whether the text is then whole.
    static func check(_ schema: JSONSchema, _ text: String) -> (accepted: Int, complete: Bool) {
        var prefix = JSONSchemaPrefix(schema: schema)
        let bytes = Array(text.utf8)
        for (i, byte) in bytes.enumerated() where !prefix.consume(byte) { return (i, false) }
        return (bytes.count, prefix.isComplete)
    }

    @Test("texts the schema accepts are taken byte by byte and whole only at their end", arguments: [
        #"{"name":"Romeo","age":16,"mood":"sad","friends":["Ben"],"alive":true}"#,
        #"{"name": "Juliet", "age": -13, "mood": "merry", "friends": [], "alive": false, "note": null, "score": 2.5e-3}"#,
        "{\n  \"name\": \"Tybalt\",\n  \"age\": 0,\n  \"mood\": \"wroth\",\n  \"friends\": [\"a\", \"b\", \"c\"],\n  \"alive\": false,\n  \"note\": \"é \\\" 😀\",\n  \"extra\": {\"any\": [1, {\"x\": null}]}\n}",
    ])
    func accepted(text: String) throws {
        let bytes = Array(text.utf8)
        var prefix = JSONSchemaPrefix(schema: Self.person)
        for (i, byte) in bytes.enumerated() {
            let taken = prefix.consume(byte)
            #expect(taken, "byte \(i) of \(text)")
            #expect(prefix.isComplete == (i == bytes.count - 1 || (i >= bytes.count - 2 && bytes.last == 0x0A)))
            if !taken { return }
        }
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
    }

    @Test("texts the schema refuses are stopped at their first impossible byte", arguments: [
        (#"{"name":"R","age":16}"#, 20),                        // required properties missing
        (#"{"age":16}"#, 2),                                       // out of order: name comes first
        (#"{"name":"R","nick":"x"}"#, 13),                        // not a property
        (#"{"name":"R","age":1.5}"#, 19),                         // an integer
        (#"{"name":"R","age":1e3}"#, 19),
        (#"{"name":"R","age":16,"mood":"happy"}"#, 29),           // not in the enum
        (#"{"name":"R","age":16,"mood":"sad","friends":["a","b","c","d"]}"#, 56),  // maxItems
        (#"{"name":"ThirteenChars","#, 21),                       // maxLength 12
        (#"{"name":"","#, 9),                                     // minLength 1
        (#"{"name":"R","age":16,"mood":"sad","friends":[],"alive":"yes"}"#, 55),
        (#"{"name":"R","age":16,"mood":"sad","friends":[],"alive":true,"note":5}"#, 67),
        (#"{"name":"R","age":16,"mood":"sad","friends":[],"alive":true,}"#, 60),  // a comma then no key
        (#"["#, 0),
    ])
    func refused(text: String, badByte: Int) {
        let result = Self.check(Self.person, text)
        #expect(result.accepted == badByte && !result.complete)
    }

    @Test("enum values that begin alike, and optional properties left out in any combination")
    func enumsAndOptionals() throws {
        let numbers = try Self.schema(#"{"type": "object", "properties": {"n": {"enum": [1, 12, 123, "1"]}, "m": {"const": [true, null]}}}"#)
        for n in ["1", "12", "123", "\"1\""] {
            for m in ["", ",\"m\":[true,null]"] {
                let text = "{\"n\":\(n)\(m)}"
                #expect(Self.check(numbers, text) == (text.utf8.count, true), "\(text)")
            }
        }
        #expect(Self.check(numbers, #"{"n":1234}"#).accepted == 8)
        #expect(Self.check(numbers, #"{"m":[true,null]}"#) == (17, true))
        #expect(Self.check(numbers, #"{"m":[true, null]}"#).accepted == 11)  // an enum value is written as the schema holds it
        #expect(Self.check(numbers, "{}") == (2, true))
        let list = try Self.schema(#"{"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}"#)
        #expect(Self.check(list, "[1,2]") == (5, true))
        #expect(Self.check(list, "[1]").accepted == 2)
        #expect(Self.check(list, "[1,2,").accepted == 4)
        #expect(Self.check(list, "[1 ,2]") == (6, true))
        #expect(Self.check(list, "[1  ,2]").accepted == 3)  // one space, as anywhere else
    }

    @Test("$ref to $defs, as Pydantic writes nested models, is followed (each definition compiled once)")
    func references() throws {
        let schema = try Self.schema(##"""
            {"$defs": {"Friend": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}}, "required": ["name"],
                                  "title": "Friend", "additionalProperties": false}},
             "type": "object", "properties": {"friends": {"type": "array", "items": {"$ref": "#/$defs/Friend"}, "maxItems": 2},
                                              "best": {"$ref": "#/$defs/Friend", "description": "an annotation beside it"}},
             "required": ["friends", "best"]}
            """##)
        let text = #"{"friends": [{"name": "Benvolio"}, {"name": "Mercutio"}], "best": {"name": "Tybalt"}}"#
        #expect(Self.check(schema, text) == (text.utf8.count, true))
        #expect(Self.check(schema, #"{"friends": [{"nick""#).accepted == 16)
        #expect(Self.check(schema, #"{"friends": [{"name": "Benvolio!"#).accepted == 31)
        #expect(schema.nodes.filter { $0.kind == .object }.count == 2)
    }

    @Test("a schema that cannot be held to is refused, naming where and why", arguments: [
        (#"{"type": "string", "pattern": "^a"}"#, "pattern"),
        (#"{"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}}"#, "properties.n.minimum"),
        (##"{"$ref": "#/$defs/x"}"##, "not a definition"),
        (##"{"$ref": "http://example.com/s.json"}"##, "$ref"),
        (##"{"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}}, "$ref": "#/$defs/n"}"##, "refers to itself"),
        (#"{"type": "wizard"}"#, "type"),
        (#"{"type": "object", "properties": {"a": {}}, "required": ["b"]}"#, "required"),
        (#"{"anyOf": [{"type": "object"}, {"properties": {"a": {}}}]}"#, "anyOf"),
        (#"{"type": "integer"}"#, "number"),
        (#"{"type": "array", "minItems": 3, "maxItems": 2}"#, "minItems"),
        (#"{"type": "string", "maxItems": 2}"#, "maxItems"),
        (#"[1, 2]"#, "must be an object"),
        (#"{"type": "object", "properties": {"a": {"type": "object", "properties": {"b": false}}}}"#, "properties.a.properties.b"),
    ])
    func refusedSchemas(text: String, fragment: String) throws {
        #expect(throws: JSONSchema.CompileError.self) { try Self.schema(text) }
        do { _ = try Self.schema(text) } catch let error as JSONSchema.CompileError {
            #expect(error.description.contains(fragment), "\(error)")
        }
    }

    @Test("the shipped model, held to a schema, writes texts that meet it")
    func shippedModel() throws {
        let model = BatchSchedulerTests.model, tokenizer = model.tokenizer!
        let generator = try Generator(model: model, context: InferenceContext(threads: 1), memoryOptions: MemoryOptions(capacity: 256))
        // The Shakespeare model indents with one token per space and has hardly seen a quote:
        // biases against whitespace and for quotes keep the texts inside the budget.
        var bias: [Int: Float] = [:]
        for id in 0..<tokenizer.vocabularySize where !tokenizer.isSpecial(id) {
            guard let bytes = try? tokenizer.bytes(of: id) else { continue }
            if bytes.contains(UInt8(ascii: "\"")) { bias[id] = 10 } else if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A }) { bias[id] = -10 }
        }
        // The person schema without its open-ended optional properties (a string, any object),
        // which this model fills until the budget ends.
        let card = try Self.schema(#"""
            {"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 12}, "age": {"type": "integer"},
                "mood": {"enum": ["merry", "sad", "wroth"]},
                "friends": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3}, "alive": {"type": "boolean"}},
             "required": ["name", "age", "mood", "friends", "alive"]}
            """#)
        var whole = 0
        for seed: UInt64 in 0..<4 {
            var options = SamplingOptions()
            options.seed = seed
            options.logitBias = bias
            var text = ""
            let (_, stats) = try generator.generate(promptIDs: tokenizer.encode("ROMEO:\n"), maxTokens: 150, options: options,
                                                    format: .jsonSchema(card)) { text += $0; return true }
            #expect(Self.check(card, text).accepted == text.utf8.count, "seed \(seed): \(text)")
            guard stats.stopReason == StopReason.eos.rawValue else { continue }
            whole += 1
            let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
            let name = try #require(object["name"] as? String)
            #expect((1...12).contains(name.count))
            #expect(object["age"] is Int && object["alive"] is Bool)
            #expect(["merry", "sad", "wroth"].contains(object["mood"] as? String ?? ""))
            #expect(((object["friends"] as? [String])?.count ?? 99) <= 3)
            #expect(Set(object.keys) == ["name", "age", "mood", "friends", "alive"])
        }
        #expect(whole >= 3, "too few texts finished within 150 tokens")
    }

    @Test("generate --json-schema takes a schema or a file and keeps to it; a bad schema is an error naming the keyword")
    func commandLine() throws {
        let text = #"{"type": "object", "properties": {"mood": {"enum": ["merry", "sad"]}, "alive": {"type": "boolean"}}, "required": ["mood", "alive"]}"#
        let schema = try Self.schema(text)
        let file = TestPaths.temporaryDirectory().appendingPathComponent("schema.json")
        try text.write(to: file, atomically: true, encoding: .utf8)
        for argument in [text, file.path] {
            let result = try CLITests.run(["generate", "--json-schema", argument, "-n", "40", "--seed", "1", "--quiet", "ROMEO:"])
            #expect(result.status == 0, "\(result.err)")
            let output = String(result.out.dropFirst("ROMEO:".count).dropLast())  // the prompt, and print's line break
            #expect(output.contains("{") && Self.check(schema, output).accepted == output.utf8.count, "\(output)")
        }
        try ReliabilityTests.expectCleanFailure(["generate", "--json-schema", #"{"type": "string", "pattern": "a+"}"#, "hi"], "'pattern'")
        try ReliabilityTests.expectCleanFailure(["generate", "--json-schema", "{not json", "hi"], "not valid JSON")
        try ReliabilityTests.expectCleanFailure(["generate", "--json", "--json-schema", text, "hi"], "not both")
    }

    @Test("chat --json-schema holds every reply to the schema, turn after turn; --json and --json-schema together are an error")
    func chat() throws {
        let schema = #"{"enum": ["merry", "sad"]}"#
        let result = try CLITests.run(["chat", "--json-schema", schema, "-n", "60", "--seed", "3"], input: "how do you feel?\nand now?\n")
        #expect(result.status == 0, "\(result.err)")
        let replies = result.out.components(separatedBy: "ROMEO: ").dropFirst().map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(replies.count == 2 && replies.allSatisfy { [#""merry""#, #""sad""#].contains($0) }, "\(result.out)")
        try ReliabilityTests.expectCleanFailure(["chat", "--json", "--json-schema", schema], "not both")
    }
}
