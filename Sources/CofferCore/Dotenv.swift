/// The `.env` format (seed 004's migration source), parsed strictly and written so that it parses back to the
/// same bytes.
///
/// Accepted: blank lines, `#` comment lines, an optional `export ` prefix, `KEY=value` with `KEY` an
/// environment-variable name, unquoted values (trailing ` # comment` and surrounding blanks dropped),
/// single-quoted values (literal, may span lines), double-quoted values (escapes `\n \r \t \" \\ \$`, may span
/// lines), each optionally followed by a comment. Anything else is an error naming its line; nothing is
/// returned for a file with any error.
public enum Dotenv {
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let line: Int
        public let reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// Entries in file order.
    public static func parse(_ text: String) throws(ParseError) -> [(name: String, value: String)] {
        var entries: [(name: String, value: String)] = []
        var seen: [String: Int] = [:]
        let chars = Array(text.unicodeScalars)
        var i = 0
        var line = 1

        func skipBlanks() { while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 } }
        func atLineEnd() -> Bool { i >= chars.count || chars[i] == "\n" || chars[i] == "\r" }
        func consumeLineEnd() {
            if i < chars.count, chars[i] == "\r" { i += 1 }
            if i < chars.count, chars[i] == "\n" { i += 1 }
            line += 1
        }
        func restIsComment() -> Bool {
            skipBlanks()
            if atLineEnd() { return true }
            guard chars[i] == "#" else { return false }
            while !atLineEnd() { i += 1 }
            return true
        }

        while i < chars.count {
            skipBlanks()
            if atLineEnd() {
                consumeLineEnd()
                continue
            }
            if chars[i] == "#" {
                while !atLineEnd() { i += 1 }
                continue
            }
            let startLine = line
            if String(String.UnicodeScalarView(chars[i..<min(i + 7, chars.count)])) == "export ", i + 7 < chars.count {
                i += 7
                skipBlanks()
            }
            var name = ""
            while i < chars.count, chars[i] == "_" || (chars[i].isASCII && chars[i].properties.isAlphabetic)
                || (chars[i].isASCII && ("0"..."9").contains(chars[i]))
            {
                name.unicodeScalars.append(chars[i])
                i += 1
            }
            guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else {
                throw ParseError(line: startLine, reason: "expected a variable name ([A-Za-z_][A-Za-z0-9_]*)")
            }
            skipBlanks()
            guard i < chars.count, chars[i] == "=" else {
                throw ParseError(line: startLine, reason: "expected `=` after \(name)")
            }
            i += 1
            let afterEquals = i
            skipBlanks()
            var value = ""
            if i < chars.count, chars[i] == "\"" || chars[i] == "'" {
                let quote = chars[i]
                i += 1
                var closed = false
                while i < chars.count {
                    let c = chars[i]
                    if c == quote {
                        closed = true
                        i += 1
                        break
                    }
                    if c == "\n" { line += 1 }
                    if quote == "\"", c == "\\", i + 1 < chars.count {
                        let next = chars[i + 1]
                        switch next {
                        case "n": value += "\n"
                        case "r": value += "\r"
                        case "t": value += "\t"
                        case "\"", "\\", "$", "'": value.unicodeScalars.append(next)
                        case "\n":
                            value += "\n"
                            line += 1
                        default:
                            throw ParseError(line: line, reason: "unknown escape \\\(next) in \(name)")
                        }
                        i += 2
                        continue
                    }
                    value.unicodeScalars.append(c)
                    i += 1
                }
                guard closed else {
                    throw ParseError(line: startLine, reason: "unterminated \(quote == "\"" ? "double" : "single")-quoted value for \(name)")
                }
                guard restIsComment() else {
                    throw ParseError(line: line, reason: "unexpected text after the closing quote of \(name)")
                }
            } else if i > afterEquals, i < chars.count, chars[i] == "#" {
                // `KEY= # comment`: an empty value and a comment.
                while !atLineEnd() { i += 1 }
            } else {
                var raw = String.UnicodeScalarView()
                while !atLineEnd() {
                    if chars[i] == "#", raw.last == " " || raw.last == "\t" { break }
                    raw.append(chars[i])
                    i += 1
                }
                while !atLineEnd() { i += 1 }
                value = String(raw).trimmingBlanks()
            }
            if let previous = seen[name] {
                throw ParseError(line: startLine, reason: "\(name) is set again (first on line \(previous))")
            }
            seen[name] = startLine
            entries.append((name, value))
            if !atLineEnd() { throw ParseError(line: line, reason: "unexpected text after \(name)") }
            if i < chars.count { consumeLineEnd() }
        }
        return entries
    }

    /// Writes entries as `NAME="value"` lines that `parse` reads back to the same values.
    /// Whether `name` is an environment-variable name as Coffer's secret names are: `[A-Za-z_][A-Za-z0-9_]*`,
    /// at most 128 bytes. KV paths (`app/db`) are not, and are left out of environments and .env files.
    public static func isVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 128,
            first == UInt8(ascii: "_") || (first >= 65 && first <= 90) || (first >= 97 && first <= 122)
        else { return false }
        return name.utf8.allSatisfy {
            $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122)
        }
    }

    public static func render(_ entries: [(name: String, value: String)]) -> String {
        var out = ""
        for (name, value) in entries {
            var escaped = ""
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\\": escaped += "\\\\"
                case "\"": escaped += "\\\""
                case "$": escaped += "\\$"
                case "\n": escaped += "\\n"
                case "\r": escaped += "\\r"
                case "\t": escaped += "\\t"
                default: escaped.unicodeScalars.append(scalar)
                }
            }
            out += "\(name)=\"\(escaped)\"\n"
        }
        return out
    }
}

extension String {
    /// Without the spaces and tabs at either end (no Foundation: its trimming bridges through NSString on Linux).
    /// Works on UTF-8 bytes: both blanks are ASCII, and a string with none at its ends is returned as it is
    /// (this runs on every request's bearer token).
    public func trimmingBlanks() -> String {
        let bytes = utf8
        var start = bytes.startIndex
        var end = bytes.endIndex
        func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        while start < end, isBlank(bytes[start]) { start = bytes.index(after: start) }
        while start < end, isBlank(bytes[bytes.index(before: end)]) { end = bytes.index(before: end) }
        if start == bytes.startIndex, end == bytes.endIndex { return self }
        return String(Substring(bytes[start..<end]))
    }
}
