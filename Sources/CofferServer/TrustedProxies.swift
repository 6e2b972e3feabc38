import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `COFFER_TRUSTED_PROXIES`: the reverse proxies (seed 001 puts nginx in front) whose `X-Forwarded-For`,
/// `Forwarded` and `X-Forwarded-Proto` are believed.
///
/// Guarantees: a forwarding header is read only when the connection itself comes from a listed network; the client
/// is the right-most address in the chain that is not a trusted proxy (addresses a client wrote to the left of it
/// are never read); an entry that is not an address stops the walk at the last address read. `X-Forwarded-For` is
/// read when present, else `Forwarded`. With no list, every forwarding header is ignored.
public struct TrustedProxies: Sendable {
    struct Network: Sendable {
        let address: [UInt8]
        let prefix: Int

        func contains(_ other: [UInt8]) -> Bool {
            guard other.count == address.count else { return false }
            var bits = prefix
            for index in address.indices where bits > 0 {
                let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
                if address[index] & mask != other[index] & mask { return false }
                bits -= 8
            }
            return true
        }
    }

    let networks: [Network]

    public var isEmpty: Bool { networks.isEmpty }

    /// Parses a list of CIDRs or single addresses, separated by commas or spaces (`10.0.0.0/8, ::1`).
    /// - Throws: a ``ConfigurationError`` naming the entry that is not one.
    public init(_ text: String) throws(ConfigurationError) {
        var networks: [Network] = []
        for entry in text.split(whereSeparator: { $0 == "," || $0 == " " }) {
            let parts = entry.split(separator: "/", maxSplits: 1)
            guard let address = Self.parse(String(parts[0])) else {
                throw ConfigurationError("COFFER_TRUSTED_PROXIES: \(entry) is not an IP address or CIDR.")
            }
            let bits = address.count * 8
            let prefix = parts.count == 2 ? Int(parts[1]) : bits
            guard let prefix, (0...bits).contains(prefix) else {
                throw ConfigurationError("COFFER_TRUSTED_PROXIES: \(entry) has an invalid prefix length.")
            }
            networks.append(Network(address: address, prefix: prefix))
        }
        self.networks = networks
    }

    public init() { networks = [] }

    /// An address's bytes (4 for IPv4, also for IPv4-mapped IPv6; else 16), or `nil`.
    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }

    func trusts(_ address: String) -> Bool {
        guard let bytes = Self.parse(address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// The client's address for a request that arrived from `peer`.
    func client(peer: String?, forwardedFor: String?, forwarded: String?) -> String? {
        guard let peer, !networks.isEmpty, trusts(peer) else { return peer }
        let chain: [String]
        if let forwardedFor {
            chain = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        } else if let forwarded {
            // RFC 7239: `for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`.
            chain = forwarded.split(separator: ",").compactMap { element in
                element.split(separator: ";").lazy.map { $0.trimmingCharacters(in: .whitespaces) }
                    .first { $0.lowercased().hasPrefix("for=") }
                    .map { value in
                        var text = String(value.dropFirst(4)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                        if text.hasPrefix("["), let end = text.firstIndex(of: "]") {
                            text = String(text[text.index(after: text.startIndex)..<end])
                        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
                            text = String(text[..<colon])
                        }
                        return text
                    }
            }
        } else {
            return peer
        }
        // From the right (the entry our own proxy wrote) leftwards, through trusted proxies only: the first other
        // address is the client. Entries left of it were written by the client and are never read.
        var client = peer
        for entry in chain.reversed() {
            guard Self.parse(entry) != nil else { return client }
            client = entry
            if !trusts(entry) { return entry }
        }
        return client
    }

    /// Whether a trusted proxy says the client's connection was HTTPS (`X-Forwarded-Proto: https`).
    func forwardedHTTPS(peer: String?, proto: String?) -> Bool {
        guard let peer, let proto, !networks.isEmpty, trusts(peer) else { return false }
        return proto.split(separator: ",").first?.trimmingCharacters(in: .whitespaces).lowercased() == "https"
    }
}
