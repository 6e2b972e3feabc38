import CofferCore
import Foundation
import Testing

@Suite("Dotenv parse and render")
struct DotenvTests {
    func parsed(_ text: String) throws -> [String: String] {
        let entries = try Dotenv.parse(text)
        return Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.value) })
    }

    func error(_ text: String) -> Dotenv.ParseError? {
        do {
            _ = try Dotenv.parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test("comments, blanks, export, unquoted with comments, single and double quotes, escapes, multi-line, unicode")
    func trickyCases() throws {
        let text = """
            # a comment
               # an indented comment

            export EXPORTED=exported value
            export   SPACED_EXPORT=x
            UNQUOTED=plain value   # a trailing comment
            TAB_COMMENT=tabbed\t# comment
            HASH_INSIDE=a#b
            URL=https://example.com/path#fragment
            AROUND = spaced sign\u{20}\u{20}
            SINGLE='literal $HOME \\n \\t "double" # kept'
            DOUBLE="l1\\nl2\\tt \\"q\\" b\\\\s \\$V \\r end" # comment
            SINGLE_QUOTE_IN_DOUBLE="it's"
            MULTI="first
            second
              third"
            SINGLE_MULTI='one
            two'
            CONTINUED="a\\
            b"
            UNICODE=héllo ✓ 中文 🚀🔑
            EQUALS=a=b=c==
            SPACES="  padded  "
            EMPTY=
            EMPTY_QUOTED=""
            QUOTE_INSIDE=it's "fine"
            _UNDERSCORE1=u
            exported=lowercase name
            """
        let entries = try Dotenv.parse(text)
        let values = try parsed(text)
        #expect(entries.map(\.name) == [
            "EXPORTED", "SPACED_EXPORT", "UNQUOTED", "TAB_COMMENT", "HASH_INSIDE", "URL", "AROUND", "SINGLE", "DOUBLE",
            "SINGLE_QUOTE_IN_DOUBLE", "MULTI", "SINGLE_MULTI", "CONTINUED", "UNICODE", "EQUALS", "SPACES", "EMPTY",
            "EMPTY_QUOTED", "QUOTE_INSIDE", "_UNDERSCORE1", "exported",
        ])
        #expect(values["EXPORTED"] == "exported value")
        #expect(values["SPACED_EXPORT"] == "x")
        #expect(values["UNQUOTED"] == "plain value")
        #expect(values["TAB_COMMENT"] == "tabbed")
        #expect(values["HASH_INSIDE"] == "a#b")
        #expect(values["URL"] == "https://example.com/path#fragment")
        #expect(values["AROUND"] == "spaced sign")
        #expect(values["SINGLE"] == #"literal $HOME \n \t "double" # kept"#)
        #expect(values["DOUBLE"] == "l1\nl2\tt \"q\" b\\s $V \r end")
        #expect(values["SINGLE_QUOTE_IN_DOUBLE"] == "it's")
        #expect(values["MULTI"] == "first\nsecond\n  third")
        #expect(values["SINGLE_MULTI"] == "one\ntwo")
        #expect(values["CONTINUED"] == "a\nb")
        #expect(values["UNICODE"] == "héllo ✓ 中文 🚀🔑")
        #expect(values["EQUALS"] == "a=b=c==")
        #expect(values["SPACES"] == "  padded  ")
        #expect(values["EMPTY"] == "")
        #expect(values["EMPTY_QUOTED"] == "")
        #expect(values["QUOTE_INSIDE"] == #"it's "fine""#)
        #expect(values["_UNDERSCORE1"] == "u")
        #expect(values["exported"] == "lowercase name")
    }

    @Test("CRLF line endings and no final newline")
    func lineEndings() throws {
        #expect(try parsed("A=1\r\nB=\"two\"\r\n# c\r\nC='3'") == ["A": "1", "B": "two", "C": "3"])
        #expect(error("A=1\r\n\r\nB\r\n")?.line == 3)
        #expect(try Dotenv.parse("").isEmpty)
        #expect(try Dotenv.parse("\n# only a comment\n\n").isEmpty)
    }

    @Test("errors name the right line")
    func errors() throws {
        // Missing `=`, counting comment and blank lines.
        let missing = try #require(error("# c\nA=1\n\n  # c2\nJUSTNAME\nB=2\n"))
        #expect(missing.line == 5, "\(missing)")
        #expect(missing.description.hasPrefix("line 5:"))
        #expect(error("A=1\nNOT VALID\n")?.line == 2)
        // A name that starts with a digit, or holds other characters.
        #expect(error("A=1\n1ABC=x\n")?.line == 2)
        #expect(error("A=1\nB=2\nMY-NAME=x\n")?.line == 3)
        #expect(error("=value\n")?.line == 1)
        // An unterminated double (or single) quote: the line where it opens.
        let unterminated = try #require(error("A=1\nB=\"never closed\nC=3\nD=4\n"))
        #expect(unterminated.line == 2, "\(unterminated)")
        #expect(error("A=1\nB=2\nC='open\n")?.line == 3)
        // Text after the closing quote: the closing quote's line.
        #expect(error("A=\"x\" trailing\n")?.line == 1)
        #expect(error("X=1\nA=\"one\ntwo\" junk\n")?.line == 3)
        #expect(error("A='x'y\n")?.line == 1)
        // A duplicate: the second occurrence, naming the first.
        let duplicate = try #require(error("A=1\nB=2\nA=3\n"))
        #expect(duplicate.line == 3, "\(duplicate)")
        #expect(duplicate.reason.contains("line 1"), "\(duplicate)")
        #expect(error("export A=1\nA=2\n")?.line == 2)
        // An unknown escape in a double-quoted value: the escape's line.
        #expect(error("A=1\nB=\"abc\\qdef\"\n")?.line == 2)
        #expect(error("A=1\nB=\"abc\nxyz\\q\"\n")?.line == 3)
        // Nothing is returned for a file with an error late in it.
        #expect(error("A=1\nB=2\nC=3\n\"oops\n") != nil)
    }

    @Test("render then parse gives back exactly the same values")
    func renderRoundTrip() throws {
        let alphabet: [String] = [
            "\"", "'", "\\", "$", "\n", "\r", "\t", "#", " ", "=", "`", "{", "}", "a", "Z", "0", "é", "e\u{301}", "中", "🔑",
            "👩‍👩‍👧", "\\n", "\\\"", "${X}", " # ",
        ]
        var generator = SystemRandomNumberGenerator()
        for round in 0..<200 {
            var entries: [(name: String, value: String)] = []
            for index in 0..<Int.random(in: 1...6, using: &generator) {
                let value = (0..<Int.random(in: 0...30, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
                    .joined()
                entries.append(("NAME_\(index)", value))
            }
            let rendered = Dotenv.render(entries)
            let back: [(name: String, value: String)]
            do {
                back = try Dotenv.parse(rendered)
            } catch {
                Issue.record("round \(round): \(error) parsing \(rendered.debugDescription)")
                continue
            }
            #expect(back.map(\.name) == entries.map(\.name), "round \(round)")
            for (original, parsed) in zip(entries, back) {
                #expect(
                    Array(parsed.value.unicodeScalars) == Array(original.value.unicodeScalars),
                    "round \(round): \(original.value.debugDescription) came back as \(parsed.value.debugDescription)")
            }
        }
        // Rendered output is one line per entry.
        #expect(Dotenv.render([("A", "x\ny"), ("B", "z")]) == "A=\"x\\ny\"\nB=\"z\"\n")
    }

    @Test("trimmingBlanks removes spaces and tabs at the ends only, and keeps any other text as it is")
    func trimmingBlanks() {
        #expect(" \t token \t ".trimmingBlanks() == "token")
        #expect("token".trimmingBlanks() == "token")
        #expect("a b\tc".trimmingBlanks() == "a b\tc")
        #expect(" \t  ".trimmingBlanks() == "")
        #expect("".trimmingBlanks() == "")
        #expect("\n x \n".trimmingBlanks() == "\n x \n")
        #expect("  héllo wörld 🔑\t".trimmingBlanks() == "héllo wörld 🔑")
    }
}
