import Crypto
import CryptoExtras
import Foundation

/// Key derivation: HKDF-SHA256 for keys derived from keys, PBKDF2-HMAC-SHA256 for keys derived from passphrases.
public enum KeyDerivation {
    /// Seed 002's iteration count for PBKDF2-HMAC-SHA256.
    public static let defaultPBKDF2Rounds = 100_000

    /// HKDF-SHA256 (RFC 5869). Distinct `info` strings give independent keys from one input key.
    public static func hkdf(
        _ inputKey: SymmetricKey,
        salt: some DataProtocol = [UInt8](),
        info: some DataProtocol,
        outputByteCount: Int = 32
    ) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: inputKey, salt: salt, info: info, outputByteCount: outputByteCount)
    }

    /// HKDF-SHA256 with a text purpose label as `info`.
    public static func hkdf(_ inputKey: SymmetricKey, purpose: String) -> SymmetricKey {
        hkdf(inputKey, info: Array(purpose.utf8))
    }

    /// PBKDF2-HMAC-SHA256. `rounds` defaults to seed 002's 100,000; zero rounds or output bytes are refused. Fewer
    /// than 100,000 rounds are allowed only for compatibility with existing data and test vectors.
    public static func pbkdf2(
        password: some DataProtocol,
        salt: some DataProtocol,
        rounds: Int = defaultPBKDF2Rounds,
        outputByteCount: Int = 32
    ) throws(CryptoError) -> SymmetricKey {
        guard rounds >= 1, outputByteCount > 0 else { throw CryptoError(.invalidParameter) }
        do {
            return try KDF.Insecure.PBKDF2.deriveKey(
                from: password, salt: salt, using: .sha256, outputByteCount: outputByteCount,
                unsafeUncheckedRounds: rounds)
        } catch {
            throw CryptoError(.invalidParameter)
        }
    }
}
