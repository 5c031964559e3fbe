import Testing
@testable import ResourceModel

@Suite struct QuantityTests {
    @Test(arguments: [
        ("500m", "500m", Int64(500)),
        ("2", "2", 2000),
        ("0.5", "500m", 500),
        ("1.5", "1500m", 1500),
        ("1000m", "1", 1000),
        ("128Mi", "128Mi", 134_217_728_000),
        ("1Gi", "1Gi", 1_073_741_824_000),
        ("1024Mi", "1Gi", 1_073_741_824_000),
        ("1536Mi", "1536Mi", 1_610_612_736_000),
        ("0.5Gi", "512Mi", 536_870_912_000),
        ("1e3", "1e3", 1_000_000),
        ("1E3", "1e3", 1_000_000),
        ("1k", "1k", 1_000_000),
        ("2000", "2k", 2_000_000),
        ("1M", "1M", 1_000_000_000),
        ("1.5k", "1500", 1_500_000),
        ("100Ki", "100Ki", 102_400_000),
        ("1n", "1n", 1),
        ("1u", "1u", 1),
        ("0", "0", 0),
        ("-1", "-1", -1000),
        ("+2", "2", 2000),
        ("0.1m", "100u", 1),
        ("12e6", "12e6", 12_000_000_000),
        (".5", "500m", 500),
        ("5.", "5", 5000),
    ])
    func parseAndCanonicalForm(text: String, canonical: String, milli: Int64) throws {
        let q = try Quantity(text)
        #expect(q.description == canonical, "\(text)")
        #expect(q.milliValue == milli, "\(text)")
        #expect(try Quantity(q.description) == q)
    }

    @Test func roundsUpBelowNano() throws {
        #expect(try Quantity("0.0000000001").nanos == 1)
        #expect(try Quantity("1.1n").nanos == 2)
        #expect(try Quantity("1500m").value == 2)
    }

    @Test(arguments: ["", "abc", "1.2.3", "1 Gi", "Gi", "-", "1Gi1", "1%", "m", "1e", "1.5ki", "1K", "1ee3"])
    func rejects(text: String) {
        #expect(throws: Quantity.ParseError.self) { try Quantity(text) }
    }

    @Test func errorWording() {
        do {
            _ = try Quantity("1 Gi")
            Issue.record("expected failure")
        } catch {
            #expect(error.description == "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        }
        do {
            _ = try Quantity("1K")
            Issue.record("expected failure")
        } catch {
            #expect(error.description == "unable to parse quantity's suffix")
        }
    }

    @Test func arithmeticAndComparison() throws {
        let a = try Quantity("250m"), b = try Quantity("1")
        #expect(a < b)
        #expect((a + a + a + a) == b)
        #expect((b - a).description == "750m")
        #expect(try Quantity("1Gi") > Quantity("1G"))
    }

    @Test func decodesNumbersFromManifests() throws {
        let r: ResourceRequirements = try JSONValue.parse(#"{"limits":{"cpu":1,"memory":"1Gi"},"requests":{"cpu":0.5}}"#).decode()
        #expect(r.limits?["cpu"]?.description == "1")
        #expect(r.requests?["cpu"]?.description == "500m")
        let encoded = try JSONValue.encode(r)
        #expect(encoded["limits"]?["cpu"] == "1")
        #expect(throws: TypedViewError.self) { let _: ResourceRequirements = try JSONValue.parse(#"{"limits":{"cpu":"lots"}}"#).decode() }
    }
}

@Suite struct IntOrStringTests {
    @Test func percentRounding() {
        let p = IntOrString.string("25%")
        #expect(p.scaledValue(total: 10, roundUp: true) == 3)   // maxSurge rounds up
        #expect(p.scaledValue(total: 10, roundUp: false) == 2)  // maxUnavailable rounds down
        #expect(p.scaledValue(total: 4, roundUp: true) == 1)
        #expect(IntOrString.string("0%").scaledValue(total: 10, roundUp: true) == 0)
        #expect(IntOrString.int(3).scaledValue(total: 100, roundUp: false) == 3)
        #expect(IntOrString.string("x").scaledValue(total: 10, roundUp: true) == nil)
    }

    @Test func codable() throws {
        let ru: RollingUpdateDeployment = try JSONValue.parse(#"{"maxSurge":"25%","maxUnavailable":1}"#).decode()
        #expect(ru.maxSurge == .string("25%"))
        #expect(ru.maxUnavailable == .int(1))
        #expect(try JSONValue.encode(ru) == JSONValue.parse(#"{"maxSurge":"25%","maxUnavailable":1}"#))
    }
}

@Suite struct TimestampTests {
    @Test func httpDate() {
        // RFC 9110's own example, the epoch, a leap day, and the second before the epoch.
        #expect(Timestamp.httpDate(epochSeconds: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(Timestamp.httpDate(epochSeconds: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(Timestamp.httpDate(epochSeconds: 951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(Timestamp.httpDate(epochSeconds: -1) == "Wed, 31 Dec 1969 23:59:59 GMT")
        #expect(Timestamp.httpDate(epochSeconds: 1_795_737_599) == "Thu, 26 Nov 2026 23:59:59 GMT")
        // Every weekday, and the RFC 3339 form of the same instant agrees on the date and time.
        var weekdays = Set<Substring>()
        for day in Int64(20_000)..<20_007 {
            let seconds = day * 86_400 + 12_345
            let http = Timestamp.httpDate(epochSeconds: seconds)
            weekdays.insert(http.prefix(3))
            let rfc = Timestamp.format(epochSeconds: seconds)
            #expect(http.hasSuffix(" 03:25:45 GMT"))
            #expect(http.dropFirst(5).prefix(2) == rfc.dropFirst(8).prefix(2))
        }
        #expect(weekdays.count == 7)
    }

    @Test func formatAndParse() {
        #expect(Timestamp.format(epochSeconds: 0) == "1970-01-01T00:00:00Z")
        #expect(Timestamp.format(epochSeconds: 1_714_564_800) == "2024-05-01T12:00:00Z")
        #expect(Timestamp.format(epochSeconds: 951_782_400) == "2000-02-29T00:00:00Z")
        #expect(Timestamp.parse("2024-05-01T12:00:00Z") == 1_714_564_800)
        #expect(Timestamp.parse("2024-05-01T14:00:00.123+02:00") == 1_714_564_800)
        #expect(Timestamp.parse("2024-05-01 12:00:00") == nil)
        #expect(Timestamp.parse("garbage") == nil)
        #expect(Timestamp.parse("2024-13-01T12:00:00Z") == nil)
    }

    static let durations: [(Int64, String)] = [
        (0, "0s"), (45, "45s"), (119, "119s"), (310, "5m10s"), (600, "10m"), (7200, "120m"), (11400, "3h10m"),
        (36000, "10h"), (180_000, "2d2h"), (864_000, "10d"), (69_120_000, "2y70d"), (-5, "<invalid>"),
    ]

    @Test func humanDuration() {
        for (seconds, text) in Self.durations {
            #expect(Timestamp.humanDuration(seconds: seconds) == text, "\(seconds)")
        }
    }
}

@Suite struct FencepostTests {
    @Test func resolve() {
        #expect(RollingUpdateDeployment().resolve(desired: 10)! == (3, 2))
        #expect(RollingUpdateDeployment(maxSurge: .string("25%"), maxUnavailable: .string("25%")).resolve(desired: 1)! == (1, 0))
        #expect(RollingUpdateDeployment(maxSurge: .int(0), maxUnavailable: .string("10%")).resolve(desired: 5)! == (0, 1))
        #expect(RollingUpdateDeployment(maxSurge: .string("bad"), maxUnavailable: .int(1)).resolve(desired: 5) == nil)
    }
}
