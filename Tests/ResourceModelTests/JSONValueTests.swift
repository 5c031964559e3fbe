import Foundation
import Simulation
import Testing
@testable import ResourceModel

@Suite struct JSONValueTests {
    @Test func parsesAndKeepsIntegersExact() throws {
        let v = try JSONValue.parse(#"{"big":9007199254740993,"neg":-5,"f":2.5,"e":1e3,"z":0}"#)
        #expect(v["big"] == .int(9_007_199_254_740_993))
        #expect(v["neg"] == .int(-5))
        #expect(v["f"] == .double(2.5))
        #expect(v["e"] == .double(1000))
        #expect(v.serialized() == #"{"big":9007199254740993,"neg":-5,"f":2.5,"e":1000,"z":0}"#)
    }

    @Test func keepsKeyOrderAndSortsOnRequest() throws {
        let text = #"{"b":1,"a":{"d":[true,false,null],"c":"x"}}"#
        let v = try JSONValue.parse(text)
        #expect(v.serialized() == text)
        #expect(v.serialized(sortedKeys: true) == #"{"a":{"c":"x","d":[true,false,null]},"b":1}"#)
    }

    @Test func stringEscapes() throws {
        let v = try JSONValue.parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00\u0001""#)
        #expect(v == .string("a\"b\\c/d\n\té😀\u{01}"))
        #expect(v.serialized() == #""a\"b\\c/d\n\té😀\u0001""#)
        #expect(try JSONValue.parse(v.serialized()) == v)
        // A lone surrogate becomes U+FFFD rather than failing.
        #expect(try JSONValue.parse(#""\ud800x""#) == .string("\u{FFFD}x"))
    }

    @Test(arguments: [
        ("", JSONParseError.Kind.unexpectedEnd),
        ("{", .unexpectedEnd),
        ("{\"a\"", .unexpectedEnd),
        ("{\"a\":}", .unexpectedCharacter),
        ("[1,]", .unexpectedCharacter),
        ("[1 2]", .unexpectedCharacter),
        ("tru", .unexpectedEnd),
        ("nul!", .unexpectedCharacter),
        ("01", .trailingData),
        ("-", .unexpectedEnd),
        ("1.", .invalidNumber),
        ("1e", .invalidNumber),
        ("\"abc", .unexpectedEnd),
        ("\"a\nb\"", .invalidString),
        ("\"\\x\"", .invalidEscape),
        ("\"\\u12g4\"", .invalidEscape),
        ("{} x", .trailingData),
        ("{1:2}", .unexpectedCharacter),
        ("1e999", .invalidNumber),
    ])
    func rejectsMalformedInput(text: String, kind: JSONParseError.Kind) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
        do {
            _ = try JSONValue.parse(text)
        } catch {
            #expect(error.kind == kind, "\(text)")
            #expect(error.offset >= 0 && error.offset <= text.utf8.count)
        }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xFF, 0x22]) }
    }

    @Test func depthLimit() throws {
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        _ = try JSONValue.parse(ok)
        let deepObj = String(repeating: "{\"a\":", count: 20) + "1" + String(repeating: "}", count: 20)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deepObj, limits: JSONParseLimits(maxDepth: 10)) }
    }

    @Test func sizeLimit() {
        let big = "\"" + String(repeating: "a", count: 2000) + "\""
        do {
            _ = try JSONValue.parse(big, limits: JSONParseLimits(maxBytes: 1000))
            Issue.record("expected size error")
        } catch {
            #expect(error.kind == .tooLarge)
        }
    }

    @Test func garbageNeverCrashes() {
        // Seeded mutation of a real manifest: every prefix and random byte flips must either parse or throw.
        let base = Array(Manifests.pod.utf8)
        for cut in stride(from: 0, to: base.count, by: 7) {
            _ = try? JSONValue.parse(Array(base[..<cut]))
        }
        var rng = SeededRandom(seed: 42)
        for _ in 0..<300 {
            var bytes = base
            for _ in 0..<3 {
                let i = Int(rng.next() % UInt64(bytes.count))
                bytes[i] = UInt8(truncatingIfNeeded: rng.next())
            }
            if let v = try? JSONValue.parse(bytes) {
                #expect((try? JSONValue.parse(v.serialized())) == v)
            }
        }
    }

    @Test func duplicateKeysLastWins() throws {
        let v = try JSONValue.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(v["a"] == .int(3))
        #expect(v.objectValue?.keys == ["a", "b"])
    }

    @Test func pathHelpers() {
        var v: JSONValue = ["metadata": ["name": "x"]]
        v.set("ns", at: ["metadata", "namespace"])
        v.set(.int(2), at: ["spec", "replicas"])
        #expect(v.value(at: ["metadata", "namespace"]) == "ns")
        #expect(v.value(at: ["spec", "replicas"])?.intValue == 2)
        v.set(nil, at: ["metadata", "name"])
        #expect(v.value(at: ["metadata", "name"]) == nil)
    }
}
