import ResourceModel
import Testing

/// Parses one document into JSON, failing the test when the reader throws.
func json(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue? {
    try YAMLReader.parseJSON(text)
}

/// The error the reader throws for `text`, or nil when it parses.
func yamlError(_ text: String) -> YAMLError? {
    do {
        _ = try YAMLReader.parseJSON(text)
        return nil
    } catch {
        return error
    }
}

@Suite("YAML reader: constructs")
struct YAMLConstructTests {
    static let blockCases: [(String, JSONValue)] = [
        ("a: 1\nb: x\n", ["a": 1, "b": "x"]),
        ("a:\n  b:\n    c: d\n  e: f\ng: h\n", ["a": ["b": ["c": "d"], "e": "f"], "g": "h"]),
        ("- a\n- b\n", ["a", "b"]),
        ("key:\n- a\n- b\nnext: 1\n", ["key": ["a", "b"], "next": 1]),
        ("key:\n  - a\n  - b\n", ["key": ["a", "b"]]),
        ("- name: x\n  image: y\n- name: z\n", [["name": "x", "image": "y"], ["name": "z"]]),
        ("- - a\n  - b\n- - c\n", [["a", "b"], ["c"]]),
        ("-\n  a: 1\n-\n", [["a": 1], .null]),
        ("a:\nb:\n", ["a": .null, "b": .null]),
        ("- a:\n  - x\n  b: 1\n", [["a": ["x"], "b": 1]]),
        ("  indented: root\n  other: 2\n", ["indented": "root", "other": 2]),
        ("a: 1   \nb:    2\n", ["a": 1, "b": 2]),
        ("a:\t1\n", ["a": 1]),
        ("\"quoted key\": 1\n'single': 2\n", ["quoted key": 1, "single": 2]),
        ("a b c: d e\n", ["a b c": "d e"]),
        ("1: one\ntrue: yes\n", ["1": "one", "true": "yes"]),
        ("a: 1\r\nb: 2\r\n", ["a": 1, "b": 2]),
        ("\u{FEFF}a: 1\n", ["a": 1]),
        ("a: 1", ["a": 1]),
        ("plain root", "plain root"),
    ]

    @Test("block mappings and sequences, compact and at the key's indentation", arguments: blockCases)
    func block(yaml: String, expected: JSONValue) throws {
        #expect(try json(yaml) == expected)
    }

    static let plainCases: [(String, JSONValue?)] = [
        ("image: nginx:1.25\n", ["image": "nginx:1.25"]),
        ("url: http://x#y\n", ["url": "http://x#y"]),
        ("a: b # comment\n", ["a": "b"]),
        ("a: b#c\n", ["a": "b#c"]),
        ("a: \"x\"#c\nb: 'y'#d\n", ["a": "x", "b": "y"]),
        ("a: one\n  \ttwo\n", ["a": "one two"]),
        ("time: 12:30:00\n", ["time": "12:30:00"]),
        ("a: -x\nb: ?y\nc: :z\n", ["a": "-x", "b": "?y", "c": ":z"]),
        ("a: x - y\n", ["a": "x - y"]),
        ("a: one\n  two\n   three\n", ["a": "one two three"]),
        ("a: one\n\n  two\n", ["a": "one\ntwo"]),
        ("a: one\n\n\n  two\nb: 1\n", ["a": "one\n\ntwo", "b": 1]),
        ("- one\n  two\n- three\n", ["one two", "three"]),
        ("first\nsecond\n", "first second"),
        ("a: it's\n", ["a": "it's"]),
        ("a: \"x\" y\n", nil),
        ("a: [x]y\n", nil),
    ]

    @Test("plain scalars: ':' and '#' inside values, and multi-line folding", arguments: plainCases)
    func plain(yaml: String, expected: JSONValue?) throws {
        if let expected {
            #expect(try json(yaml) == expected)
        } else {
            #expect(yamlError(yaml) != nil)
        }
    }

    @Test("quoted scalars: escapes, '' and folding", arguments: [
        (#"a: 'it''s'"#, "it's"),
        (#"a: "tab\there""#, "tab\there"),
        (#"a: "\"\\\/\b\f\n\r\t""#, "\"\\/\u{08}\u{0C}\n\r\t"),
        (#"a: "\x41\u00e9\U0001F600""#, "Aé😀"),
        (#"a: "\0\a\v\e\ \N\_\L\P""#, "\u{0}\u{07}\u{0B}\u{1B} \u{85}\u{A0}\u{2028}\u{2029}"),
        ("a: \"one\n  two\n\n  three\"", "one two\nthree"),
        ("a: \"one  \\\n    two\"", "one  two"),
        ("a: 'one\n  two\n\n\n  three'", "one two\n\nthree"),
        ("a: '  spaced  '", "  spaced  "),
        ("a: \"x # not a comment\"", "x # not a comment"),
        ("a: ''", ""),
        ("a: \"\"", ""),
        ("a: \"null\"", "null"),
        ("a: '123'", "123"),
        ("a: \"日本\"", "日本"),
    ])
    func quoted(yaml: String, expected: String) throws {
        #expect(try json(yaml) == ["a": .string(expected)])
    }

    @Test("block scalars: literal, folded, chomping, explicit indentation", arguments: [
        ("a: |\n  one\n  two\n", "one\ntwo\n"),
        ("a: |-\n  one\n  two\n\n", "one\ntwo"),
        ("a: |+\n  one\n  two\n\n\nb: 1\n", "one\ntwo\n\n\n"),
        ("a: |\n  one\n\n  two\n\n\nb: 1\n", "one\n\ntwo\n"),
        ("a: |\n    indented\n  less\n", nil),
        ("a: |\n  one\n    more\n  back\n", "one\n  more\nback\n"),
        ("a: >\n  one\n  two\n\n  three\n", "one two\nthree\n"),
        ("a: >-\n  one\n  two\n", "one two"),
        ("a: >\n  one\n    more\n  two\n", "one\n  more\ntwo\n"),
        ("a: >+\n  x\n\n", "x\n\n"),
        ("a: |2\n    two extra\n  base\n", "  two extra\nbase\n"),
        ("a: |-2\n   x\n", " x"),
        ("a: |2-\n   x\n", " x"),
        ("a: | # comment\n  x\n", "x\n"),
        ("a: |\n  # not a comment\n  x\n", "# not a comment\nx\n"),
        ("a: |\n\n  after empty\n", "\nafter empty\n"),
        ("a: |\n  x\n# a comment at the left ends it\nb: 1\n", "x\n"),
        ("a: |\n  tab\there\n", "tab\there\n"),
        ("a: |\n", ""),
    ] as [(String, String?)])
    func blockScalar(yaml: String, expected: String?) throws {
        guard let expected else {
            // A less indented line ends the scalar; indented more than its mapping's keys, it is an error.
            #expect(yamlError(yaml)?.line == 3)
            return
        }
        let value = try json(yaml)
        #expect(value?["a"] == .string(expected), "\(String(describing: value))")
    }

    @Test("block scalars as sequence entries and at the root")
    func blockScalarPlaces() throws {
        #expect(try json("- |\n  in a sequence\n- >\n  folded\n  entry\n") == ["in a sequence\n", "folded entry\n"])
        #expect(try json("- a: |\n    nested\n  b: 1\n") == [["a": "nested\n", "b": 1]])
        #expect(try json("--- >-\n folded\n root\n") == "folded root")
    }

    static let flowCases: [(String, JSONValue)] = [
        ("a: [x, y, 1]", ["a": ["x", "y", 1]]),
        ("a: {b: 1, c: [x]}", ["a": ["b": 1, "c": ["x"]]]),
        ("a: []\nb: {}", ["a": [], "b": [:]]),
        ("a: [x, y, ]", ["a": ["x", "y"]]),
        ("a: [1,# c\n  2]#d", ["a": [1, 2]]),
        ("a: [\n  x,\n  y  # comment\n  ,\n  {z: 1}\n]\n", ["a": ["x", "y", ["z": 1]]]),
        ("{\"a\":1,\"b\":[true,null,\"s\"]}", ["a": 1, "b": [true, .null, "s"]]),
        ("a: [http://x:80/y, b:c]", ["a": ["http://x:80/y", "b:c"]]),
        ("a: [k: v, w]", ["a": [["k": "v"], "w"]]),
        ("a: {k, l: }", ["a": ["k": .null, "l": .null]]),
        ("a: [one\n  two, three]", ["a": ["one two", "three"]]),
        ("a: [[[]]]", ["a": [[[]]]]),
        ("a: {\"b\":c}", ["a": ["b": "c"]]),
        ("a: ['x, y', \"[z]\"]", ["a": ["x, y", "[z]"]]),
        ("[a, b]\n", ["a", "b"]),
    ]

    @Test("flow collections, nested and multi-line", arguments: flowCases)
    func flow(yaml: String, expected: JSONValue) throws {
        #expect(try json(yaml) == expected)
    }

    @Test("documents: markers, directives, comments, empty streams")
    func documents() throws {
        #expect(try json("") == nil)
        #expect(try json("# only a comment\n\n   # another\n") == nil)
        #expect(try json("\u{FEFF}") == nil)
        #expect(try json("---\na: 1\n") == ["a": 1])
        #expect(try json("--- text\n") == "text")
        #expect(try json("--- [a]\n") == ["a"])
        #expect(try json("--- |\n  block\n") == "block\n")
        #expect(try json("a: 1\n...\n") == ["a": 1])
        #expect(try json("---\na: 1\n...\n# trailing comment\n") == ["a": 1])
        #expect(try json("%YAML 1.2\n%TAG !e! tag:example.com,2000:\n---\na: 1\n") == ["a": 1])
        #expect(try json("# head\na: 1 # tail\n# between\nb: # empty value\n  # inside\n  c: 2\n") == ["a": 1, "b": ["c": 2]])
        #expect(try json("---\n") == .null)
        #expect(try json("a: ---\nb: ...x\n") == ["a": "---", "b": "...x"])
    }

    @Test("anchors and aliases are expanded")
    func anchors() throws {
        #expect(try json("a: &x 1\nb: *x\n") == ["a": 1, "b": 1])
        #expect(try json("base: &b\n  k: v\n  l: [1, 2]\ncopy: *b\n") == ["base": ["k": "v", "l": [1, 2]], "copy": ["k": "v", "l": [1, 2]]])
        #expect(try json("- &s [a, b]\n- *s\n") == [["a", "b"], ["a", "b"]])
        #expect(try json("a: &x first\nb: &x second\nc: *x\n") == ["a": "first", "b": "second", "c": "second"])
        #expect(try json("- &k key: v\n- *k\n") == [["key": "v"], "key"])
        #expect(try json("[&a x, *a]") == ["x", "x"])
        #expect(try json("a: &e\nb: *e\n") == ["a": .null, "b": .null])
    }

    @Test("tags: !!str forces a string, the core tags check their value")
    func tags() throws {
        #expect(try json("a: !!str 10\nb: !!str true\nc: !!str\n") == ["a": "10", "b": "true", "c": ""])
        #expect(try json("a: !!int \"10\"\nb: !!float 1\nc: !!bool 'false'\nd: !!null ~\n") == ["a": 10, "b": 1.0, "c": false, "d": .null])
        #expect(try json("a: !!map {b: 1}\nc: !!seq [x]\nd: !!map\n") == ["a": ["b": 1], "c": ["x"], "d": [:]])
        #expect(try json("a: !<tag:yaml.org,2002:str> 5\nb: ! 6\nc: ! [7]\n") == ["a": "5", "b": "6", "c": [7]])
        #expect(try json("a: !!str &x 7\nb: *x\n") == ["a": "7", "b": "7"])
        #expect(try json("- !!map\n  a: 1\n") == [["a": 1]])
        #expect(try json("[!!str 1, !!int 2]") == ["1", 2])
        let node = try #require(try YAMLReader.parseDocument("a: !!str 10\n"))
        guard case .mapping(let pairs) = node.kind else { Issue.record("not a mapping"); return }
        #expect(pairs[0].value.tag == .str && pairs[0].value.scalarText == "10" && pairs[0].value.scalarStyle == .plain)
    }

    @Test("nodes keep their style, order and position")
    func nodes() throws {
        let text = "z: plain\ny: 'single'\nx: \"double\"\nw: |\n  lit\nv: >\n  fold\nu:\n  - [1]\n"
        let node = try #require(try YAMLReader.parseDocument(text))
        #expect(node.line == 1 && node.column == 1)
        guard case .mapping(let pairs) = node.kind else { Issue.record("not a mapping"); return }
        #expect(pairs.map { $0.key.scalarText ?? "" } == ["z", "y", "x", "w", "v", "u"])
        #expect(pairs.compactMap(\.value.scalarStyle) == [.plain, .singleQuoted, .doubleQuoted, .literal, .folded])
        #expect(pairs.map(\.key.line) == [1, 2, 3, 4, 6, 8])
        #expect(pairs.map(\.value.column) == [4, 4, 4, 4, 4, 3])
        #expect(pairs[5].value.line == 9)
        guard case .sequence(let items) = pairs[5].value.kind, case .sequence(let inner) = items[0].kind else { Issue.record("not a sequence"); return }
        #expect(items[0].line == 9 && items[0].column == 5 && inner[0].column == 6)
        let unicode = try #require(try YAMLReader.parseDocument("ключ: значение\n"))
        guard case .mapping(let u) = unicode.kind else { Issue.record("not a mapping"); return }
        #expect(u[0].value.column == 7)
        // The JSON view keeps the key order too.
        #expect(try node.jsonValue().objectValue?.keys == ["z", "y", "x", "w", "v", "u"])
    }
}

@Suite("YAML reader: core schema")
struct YAMLCoreSchemaTests {
    static let cases: [(String, JSONValue)] = [
        ("", .null), ("~", .null), ("null", .null), ("Null", .null), ("NULL", .null), ("nULL", "nULL"),
        ("true", true), ("True", true), ("TRUE", true), ("tRUE", "tRUE"), ("false", false), ("False", false), ("FALSE", false),
        ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("y", "y"),
        ("0", 0), ("-17", -17), ("+5", 5), ("007", 7), ("9223372036854775807", .int(Int64.max)), ("-9223372036854775808", .int(Int64.min)),
        ("9223372036854775808", 9223372036854775808.0), ("0x1F", "0x1F"), ("0o17", "0o17"), ("1_000", "1_000"),
        ("1.5", 1.5), ("-0.25", -0.25), ("1e3", 1000.0), ("1E-2", 0.01), (".5", 0.5), ("1.2.3", "1.2.3"), ("1e", "1e"),
        (".inf", ".inf"), ("-.inf", "-.inf"), (".nan", ".nan"), ("-", "-"), ("e", "e"),
        ("250m", "250m"), ("64Mi", "64Mi"), ("v1", "v1"), ("1.21", 1.21),
    ]

    @Test("plain scalars resolve like the YAML 1.2 core schema", arguments: cases)
    func coreSchema(text: String, expected: JSONValue) {
        #expect(YAMLNode.coreSchemaValue(text) == expected)
    }

    @Test("quoted and block scalars are always strings")
    func quotedStayStrings() throws {
        #expect(try json("a: \"1\"\nb: 'true'\nc: |-\n  null\nd: >-\n  2.5\n") == ["a": "1", "b": "true", "c": "null", "d": "2.5"])
    }
}

@Suite("YAML reader: errors")
struct YAMLErrorTests {
    @Test("each error class names its line and column", arguments: [
        ("a:\n\tb: 1\n", 2, 1, "a tab cannot indent YAML"),
        ("a: 1\nb:\n  c: \"open\n", 4, 1, "unterminated quoted string started at line 3"),
        ("a: 'open\n", 2, 1, "unterminated quoted string started at line 1"),
        ("name: a\nother: b\nname: c\n", 3, 1, "mapping keys must be unique: 'name' appears at lines 1 and 3"),
        ("a: {x: 1, x: 2}\n", 1, 11, "mapping keys must be unique: 'x' appears at lines 1 and 1"),
        ("a: b: c\n", 1, 4, "mapping values are not allowed here"),
        ("a: - b\n", 1, 4, "a block sequence cannot start on the line of its key"),
        ("? a\n: b\n", 1, 1, "explicit mapping keys ('? ') are not supported"),
        ("a: [1, 2\n", 2, 1, "unterminated flow sequence started at line 1"),
        ("a: {b: 1\n", 2, 1, "unterminated flow mapping started at line 1"),
        ("a: [1 2] x\n", 1, 10, "unexpected text after the value"),
        ("a: *nope\n", 1, 4, "unknown alias '*nope'"),
        ("a: !!binary aGk=\n", 1, 4, "unsupported tag '!!binary'"),
        ("a: !custom x\n", 1, 4, "unsupported tag '!custom'"),
        ("a: !!int abc\n", 1, 10, "'abc' is not a valid !!int value"),
        ("a: !!seq x\n", 1, 10, "'x' is not a valid !!seq value"),
        ("a: !!str [x]\n", 1, 10, "a sequence is not a valid !!str value"),
        ("a: 1\n---\nb: 2\n", 2, 1, "only one YAML document is allowed here"),
        ("a: 1\n b: 2\n", 2, 3, "mapping values are not allowed here"),
        ("a:\n  b: 1\n c: 2\n", 3, 2, "this line is indented more than the keys of its mapping"),
        ("[a]\nb\n", 2, 1, "unexpected text after the document"),
        ("- a\n  - b\n- c: 1\n  - d\n", 4, 3, "a sequence entry ('- ') where a mapping key was expected"),
        ("a: \"\\q\"\n", 1, 5, "unknown escape '\\q'"),
        ("a: \"\\u12\"\n", 1, 5, "'\\u' needs 4 hexadecimal digits"),
        ("a: \"\\ud800\"\n", 1, 5, "not a valid Unicode scalar"),
        ("a: @x\n", 1, 4, "'@' is reserved"),
        ("a: `x\n", 1, 4, "'`' is reserved"),
        ("a: %x\n", 1, 4, "'%' cannot start a plain value"),
        ("a: |0\n  x\n", 1, 5, "indentation indicator must be 1 to 9"),
        ("a: | x\n", 1, 6, "unexpected text after the block scalar indicator"),
        ("a: [- x]\n", 1, 5, "block sequence entries ('- ') are not allowed inside flow collections"),
        ("a: [x, |]\n", 1, 8, "block scalars ('|', '>') cannot appear inside flow collections"),
        ("a: &x *y\n", 1, 7, "an alias ('*') cannot have an anchor or a tag"),
        ("a: & x\n", 1, 4, "an anchor ('&') needs a name"),
        ("a: \"x\n---\ny\"\n", 2, 1, "a document marker inside the quoted string started at line 1"),
        ("%YAML 1.2\na: 1\n", 2, 1, "a directive must be followed by '---'"),
        ("--- a: 1\n", 1, 5, "a block mapping cannot start on the line of '---'"),
        ("key\n", 0, 0, ""),
        ("a: 1\nb\n", 2, 1, "could not find the ':' of a 'key: value' pair"),
        ("[a: b]: c\n", 1, 7, "mapping values are not allowed here"),
    ])
    func errors(yaml: String, line: Int, column: Int, message: String) {
        guard line > 0 else {
            #expect(yamlError(yaml) == nil, "a lone plain scalar is a document")
            return
        }
        let error = yamlError(yaml)
        #expect(error?.kind == .syntax)
        #expect(error?.line == line && error?.column == column, "\(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("line \(line), column \(column): ") == true)
    }

    @Test("mapping keys that are collections are refused by the JSON view")
    func collectionKeys() throws {
        let error = yamlError("{[a]: 1}")
        #expect(error?.message == "mapping keys must be strings" && error?.line == 1 && error?.column == 2)
    }
}

@Suite("YAML reader: limits")
struct YAMLLimitTests {
    static func nested(_ levels: Int) -> String {
        String(repeating: "[", count: levels - 1) + "x" + String(repeating: "]", count: levels - 1)
    }

    @Test("128 levels parse, 129 do not, in flow and block form")
    func depth() throws {
        #expect(try json(Self.nested(128)) != nil)
        #expect(yamlError(Self.nested(129))?.kind == .tooDeep)
        #expect(yamlError(String(repeating: "[", count: 100_000))?.kind == .tooDeep)
        func block(_ levels: Int) -> String {
            (0..<(levels - 1)).map { String(repeating: " ", count: $0) + "k:" }.joined(separator: "\n") + " x\n"
        }
        #expect(try json(block(128)) != nil)
        #expect(yamlError(block(129))?.kind == .tooDeep)
        let dashes = String(repeating: "- ", count: 5_000) + "x"
        #expect(yamlError(dashes)?.kind == .tooDeep)
    }

    @Test("aliases count their whole node against depth and the node budget")
    func aliases() throws {
        // "Billion laughs": nine levels of ten aliases would be 10^9 nodes.
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { bomb += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let error = yamlError(bomb)
        #expect(error?.kind == .tooManyNodes && error?.line == 6, "\(String(describing: error))")
        // Six levels stay below the budget and expand completely.
        var small = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...4 { small += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        #expect(try json(small)?["a4"]?.arrayValue?.count == 10)
        // An alias of a deep node placed deep exceeds the depth limit.
        let deep = "a: &d " + Self.nested(100) + "\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*d]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
        #expect(yamlError(deep)?.kind == .tooDeep)
        #expect(throws: YAMLError.self) { try YAMLReader.parseDocument("[a, b, c]", maxNodes: 3) }
        #expect(try YAMLReader.parseDocument("[a, b, c]", maxNodes: 4) != nil)
    }
}
