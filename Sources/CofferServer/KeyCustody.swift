import CofferKeys
import CofferKeysAWS
import CofferKeysVault
import Foundation
import Logging

/// Seed 004's encryption backends (`SECRET_ENCRYPTION_BACKEND`).
public enum KeyBackend: String, Sendable, CaseIterable {
    /// The local master key (`COFFER_MASTER_KEY` or `<data>/master.key`); `fernet` is accepted as an alias.
    case local
    case awsKMS = "aws_kms"
    case vault

    /// A setting's value: `local`, `fernet`, `aws_kms` or `vault` (case-insensitive).
    public init?(setting: String) {
        switch setting.trimmingCharacters(in: .whitespaces).lowercased() {
        case "local", "fernet": self = .local
        case "aws_kms": self = .awsKMS
        case "vault": self = .vault
        default: return nil
        }
    }

    /// The name stored with every key this backend wraps.
    var providerName: String {
        switch self {
        case .local: "fernet"
        case .awsKMS: "aws_kms"
        case .vault: "vault"
        }
    }
}

/// Who holds the root of trust: the provider that wraps new keys, and the other providers whose settings are
/// present, which keep unwrapping keys they wrapped while custody moves (`coffer keys migrate`).
public struct KeyCustody: Sendable {
    public let current: any KeyProvider
    public let others: [any KeyProvider]
    /// Where the local master key came from, when the current provider is local.
    public let masterKeySource: KeySource?

    /// The backend `SECRET_ENCRYPTION_BACKEND` names (`local` when unset).
    /// - Throws: a ``ConfigurationError`` for an unknown name.
    public static func backend(environment: [String: String]) throws -> KeyBackend {
        guard let text = environment["SECRET_ENCRYPTION_BACKEND"], !text.isEmpty else { return .local }
        guard let backend = KeyBackend(setting: text) else {
            throw ConfigurationError("SECRET_ENCRYPTION_BACKEND must be local (or fernet), aws_kms or vault, not \(text).")
        }
        return backend
    }

    /// The providers for this environment: `backend` (default: `SECRET_ENCRYPTION_BACKEND`) wraps; every other
    /// backend whose settings are given unwraps what it wrapped. With `aws_kms` or `vault` no master key file is
    /// made or needed.
    /// - Throws: ``KeyError`` or ``ConfigurationError`` naming the setting to fix.
    /// `generateLocalKey`: whether a missing local master key may be made (the server outside production); offline
    /// tools pass `false`.
    public static func load(
        environment: [String: String], dataDirectory: URL, logger: Logger, backend chosen: KeyBackend? = nil,
        generateLocalKey: Bool = true
    ) throws -> KeyCustody {
        let backend = try chosen ?? backend(environment: environment)
        let loader = KeyLoader(environment: environment, dataDirectory: dataDirectory, logger: logger)
        var source: KeySource?
        let current: any KeyProvider
        switch backend {
        case .local:
            let (key, from) = try loader.masterKey(generate: generateLocalKey)
            source = from
            current = LocalKeyProvider(masterKey: key)
        case .awsKMS:
            current = KMSKeyProvider(try KMSConfiguration.from(environment: environment))
        case .vault:
            current = try VaultTransitKeyProvider(try VaultTransitConfiguration.from(environment: environment))
        }
        var others: [any KeyProvider] = []
        for other in KeyBackend.allCases where other != backend {
            switch other {
            case .local:
                if let (key, _) = try? loader.masterKey(generate: false) { others.append(LocalKeyProvider(masterKey: key)) }
            case .awsKMS:
                if environment["AWS_KMS_KEY_ID"]?.isEmpty == false {
                    others.append(KMSKeyProvider(try KMSConfiguration.from(environment: environment)))
                }
            case .vault:
                if (environment["VAULT_ADDR"] ?? environment["VAULT_URL"])?.isEmpty == false,
                    environment["VAULT_TOKEN"]?.isEmpty == false
                {
                    others.append(try VaultTransitKeyProvider(try VaultTransitConfiguration.from(environment: environment)))
                }
            }
        }
        return KeyCustody(current: current, others: others, masterKeySource: source)
    }
}
