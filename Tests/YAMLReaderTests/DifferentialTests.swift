import Foundation
import ResourceModel
import Simulation
import Testing
import Yams

/// The corpus both readers must agree on: the repository's YAML files, the manifests the tests send, and
/// snippets that exercise the corners Kubernetes users write.
enum Corpus {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func files() throws -> [(name: String, text: String)] {
        let configs = root.appendingPathComponent("configs")
        let paths = try FileManager.default.subpathsOfDirectory(atPath: configs.path).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        return try paths.map { ("configs/\($0)", try String(contentsOf: configs.appendingPathComponent($0), encoding: .utf8)) }
    }

    /// Multi-line string literals from test sources that hold Kubernetes objects (YAML or JSON).
    static func manifestsInTests() throws -> [(name: String, text: String)] {
        let sources = ["Tests/ResourceModelTests/Manifests.swift", "Tests/KubernetesAPITests/PatchTests.swift",
                       "Tests/KubernetesAPITests/HTTPTests.swift", "Tests/KubernetesAPITests/ClusterClientsTests.swift",
                       "Tests/EndToEndTests/Harness/PodWorkloads.swift", "Tests/PeerTests/PlacementClusterTests.swift"]
        var found: [(String, String)] = []
        for source in sources {
            let text = try String(contentsOf: root.appendingPathComponent(source), encoding: .utf8)
            let parts = text.components(separatedBy: "\"\"\"")
            // Odd-numbered parts sit between an opening and a closing delimiter.
            for (index, part) in parts.enumerated() where index % 2 == 1 {
                guard part.contains("apiVersion"), !part.contains("\\("), part.hasPrefix("\n") else { continue }
                var lines = part.dropFirst().components(separatedBy: "\n")
                let closing = lines.removeLast() // the closing delimiter's indentation, which Swift strips
                let body = lines.map { $0.hasPrefix(closing) ? String($0.dropFirst(closing.count)) : $0 }.joined(separator: "\n")
                let unescaped = body.replacingOccurrences(of: "\\\\", with: "\u{1}").replacingOccurrences(of: "\\\"", with: "\"")
                    .replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\t", with: "\t").replacingOccurrences(of: "\u{1}", with: "\\")
                found.append(("\(source)#\(index / 2)", unescaped))
            }
        }
        return found
    }

    static let snippets: [String] = [
        "a: 1\nb: x\n", "a:\n- 1\n- 2\nb: 3\n", "- a: 1\n  b: 2\n- c\n", "- - a\n  - b\n", "a: [x, {y: 1}, [z]]\n",
        "image: nginx:1.25\nurl: http://x#y\ncmd: a # comment\n", "a: one\n  two\n\n  three\n",
        "a: 'it''s'\nb: \"tab\\tnew\\nline \\x41\\u00e9\\U0001F600 \\0\\e\\N\\_\\L\\P\"\n",
        "a: \"one\n  two\n\n  three\"\nb: 'x\n\n  y'\n", "a: \"folded \\\n   escaped\"\n",
        "a: |\n  one\n  two\nb: >\n  three\n  four\n\n  five\n", "a: |-\n  x\n\nb: |+\n  y\n\nc: 1\n",
        "a: >\n  one\n    more\n  two\n", "a: |2\n    x\n  y\n", "a: |\n  x\n\n\n", "a: >-\n  x\n  y\n",
        "---\na: 1\n...\n", "--- text\n", "%YAML 1.2\n---\na: 1\n", "a: &x 1\nb: *x\nc: &m {k: v}\nd: *m\n",
        "a: 1\nb: true\nc: null\nd: ~\ne: 1.5\nf: 1.2.3\ng: -3\nh: 1e3\ni: .inf\nj: 0x1F\nk: 007\nl: yes\nm: 2024-01-01\n",
        "a: \"1\"\nb: 'true'\nc: \"\"\nd:\ne: ''\n", "{\"a\": [1, 2.5, \"x\", null, true, false, {\"b\": {}}]}\n",
        "a: [\n  1,\n  2, # c\n  3\n]\n", "a: {b: [c, d], e: {f: g}}\n", "a: [x, y, ]\n", "a: [k: v]\n",
        "# c1\na: 1 # c2\n# c3\nb:\n  # c4\n  c: 2\n", "\u{FEFF}a: 1\n", "a: 1\r\nb: 2\r\n", "ключ: значение\n日本: 語\n",
        "a:    spaced   \nb:\tx\n", "- |\n  one\n- >\n  two\n", "a: -1\nb: +1\nc: -x\nd: :x\n", "a: x:y\nb: '#'\nc: x#y\n",
        "a: [http://x:80/y]\n", "a:\n  - b:\n      - c\n    d: e\n", "key with spaces: value with spaces\n",
        "a: !!str 1\n".replacingOccurrences(of: "!!str 1", with: "\"1\""), "a: 'multi\n  line'\n", "a: []\nb: {}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  config.yaml: |\n    server:\n      port: 80\n  other: \"x\"\n",
        "a: |\n  x", "a: >+\n  x", "a: |-\n  x", "a: >\n\n  x\n", "a: |+\n", "a:\n  - x\n  -\n  - y\n", "a: 'x'  # c\n", "a: \"x\\\"y\"\n",
        "- [a, b]\n- {c: d}\n", "a: &x\n  - 1\nb: *x\n", "a: \"\\u263A\"\n", "{a: 1, b: 2}", "[a, [b, c], {d: e}]",
        "a: x\n  y\n  z\n", "a:\n  b\n  c\n", "- a\n  b\n", "a:\n\n\n  b: 1\n", "a: 'x''y'''\n", "a: [ ]\nb: { }\n",
        "a: {b: }\n", "a: |\n  x\n  \n  y\n", "a: >\n  x\n  \n  y\n", "a: >\n  x\n\n    y\n  z\n", "- >-\n  a\n  b\n- c\n",
        "a:\n  b:\n  - 1\n  c: 2\n", "a: 1 #c\n#d\n", "a: \"x\n\n\n  y\"\n", "a: '  x\n   y  '\n", "--- # c\na: 1\n",
        "a: [1,2,3]\n", "a: {x: [1, {y: [2]}]}\n", "- 'a': 1\n  \"b\": 2\n", "a: x-\nb: -x\n", "a: 1:2\n", "a: ':'\n",
        "a: >\n  line one\n  line two\n\n\n  para\n", "a: |-\n\n  x\n\n", "- - - a\n    - b\n  - c\n", "a:\n- b: 1\n  c: 2\n- d\n",
        "a: \"\\t\\x20\\/\"\n", "a:   \n  b\n", "a: x\n\n\n", "\n\n\na: 1\n", "a: [a b, c  d]\n", "a: {b c: d e}\n",
        "a: [-]\nb: {c: -}\n", "a: >+\n  ", "a: \"x \\\n\n\n  y\"\n", "a: |\n  x\n  ",
    ]

    /// Documents both readers refuse.
    static let broken: [String] = [
        "a: b: c\n", "a: [1, 2\n", "a:\n\tb: 1\n", "name: a\nname: b\n", "a: 'x\n", "a: *x\n", "a: 1\n b: 2\n",
        "- a\nb: 1\n", "a: -\n", "--- a: 1\n", "--- - a\n", "key:\n  - a\n - b\n", "a: \"\\q\"\n", "a: [1 2] x\n", "a: 1\n---\nb: 2\n", "[a]\nb\n",
    ]

    /// The JSON tree Yams makes of `text`, converted the way the request bodies were before this reader.
    static func yamsJSON(_ text: String) throws -> JSONValue? {
        guard let node = try Yams.compose(yaml: text) else { return nil }
        return try convert(node)
    }

    struct NotAString: Error {}

    static func convert(_ node: Yams.Node) throws -> JSONValue {
        switch node {
        case .scalar(let scalar):
            return scalar.style == .plain ? YAMLNode.coreSchemaValue(scalar.string) : .string(scalar.string)
        case .mapping(let mapping):
            var object = JSONObject()
            for (key, value) in mapping {
                guard case .scalar(let k) = key else { throw NotAString() }
                object[k.string] = try convert(value)
            }
            return .object(object)
        case .sequence(let sequence):
            return .array(try sequence.map(convert))
        case .alias:
            throw NotAString()
        }
    }

    static func all() throws -> [(name: String, text: String)] {
        try files() + manifestsInTests() + snippets.enumerated().map { ("snippet \($0.offset)", $0.element) }
    }
}

@Suite("YAML reader: against Yams")
struct YAMLDifferentialTests {
    @Test("every corpus document gives the same JSON tree as Yams")
    func sameTrees() throws {
        let corpus = try Corpus.all()
        #expect(corpus.count >= Corpus.snippets.count + 15, "the corpus lost its files: \(corpus.map(\.name))")
        for (name, text) in corpus {
            let ours = try YAMLReader.parseJSON(text)
            let theirs = try Corpus.yamsJSON(text)
            #expect(ours == theirs, "\(name):\n\(text)\nours:   \(String(describing: ours))\nYams: \(String(describing: theirs))")
        }
    }

    @Test("documents Yams refuses, this reader refuses too", arguments: Corpus.broken)
    func bothRefuse(text: String) {
        #expect(throws: YAMLError.self) { try YAMLReader.parseJSON(text) }
        #expect(throws: (any Error).self) { try Corpus.yamsJSON(text) }
    }
}

@Suite("YAML reader: mutations")
struct YAMLFuzzTests {
    @Test("seeded mutations of the corpus parse or throw, within the limits")
    func mutations() throws {
        let documents = try Corpus.all().map { Array($0.text.unicodeScalars) }
        let alphabet = Array(":-[]{},#&*!|>'\"\n \t?%@`.~\\0aZ9".unicodeScalars) + ["é", "\u{FEFF}"]
        var generator = SeededRandom(seed: 0x5EED)
        let rounds = Int(ProcessInfo.processInfo.environment["YAML_FUZZ_ROUNDS"] ?? "") ?? 4_000
        var parsed = 0, refused = 0
        for round in 0..<rounds {
            var scalars = documents[round % documents.count]
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let position = scalars.isEmpty ? 0 : Int.random(in: 0..<scalars.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0 where !scalars.isEmpty: scalars.remove(at: position)
                case 1 where !scalars.isEmpty:
                    // Duplicate a run: repeated indicators and nesting.
                    let end = min(scalars.count, position + Int.random(in: 1...40, using: &generator))
                    scalars.insert(contentsOf: scalars[position..<end], at: position)
                default: scalars.insert(alphabet[Int.random(in: 0..<alphabet.count, using: &generator)], at: position)
                }
            }
            var text = ""
            text.unicodeScalars.append(contentsOf: scalars)
            do {
                if let node = try YAMLReader.parseDocument(text, maxDepth: 16, maxNodes: 5_000) {
                    _ = try node.jsonValue(maxDepth: 16, maxNodes: 5_000)
                }
                parsed += 1
            } catch {
                #expect(error.line >= 1 && error.column >= 1 && !error.message.isEmpty, "\(error) for \(text.debugDescription)")
                refused += 1
            }
        }
        #expect(parsed + refused == rounds && parsed > 0 && refused > 0, "parsed \(parsed), refused \(refused)")
    }
}
