// Request bodies, as the API names their fields. Validation happens in the services, which give each field's
// problem its own message.

public struct Credentials: Decodable, Sendable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

public struct WorkspaceCreate: Decodable, Sendable {
    public var name: String
}

public struct MemberAdd: Decodable, Sendable {
    public var username: String
    public var role: String
}

/// Seed 004's create-secret body.
public struct SecretCreate: Decodable, Sendable {
    public var name: String
    public var value: String
    public var secretType: String?
    public var usage: String?
    public var rotationPolicy: String?
    public var tags: [String]?
    public var metadata: JSONValue?

    enum CodingKeys: String, CodingKey {
        case name, value, secretType = "secret_type", usage, rotationPolicy = "rotation_policy", tags, metadata
    }

    public init(
        name: String, value: String, secretType: String? = nil, usage: String? = nil, rotationPolicy: String? = nil,
        tags: [String]? = nil, metadata: JSONValue? = nil
    ) {
        self.name = name
        self.value = value
        self.secretType = secretType
        self.usage = usage
        self.rotationPolicy = rotationPolicy
        self.tags = tags
        self.metadata = metadata
    }
}

/// Seed 004's update body: only the fields present change; a new `value` makes a new version.
public struct SecretPatch: Decodable, Sendable {
    public var value: String?
    public var secretType: String?
    public var usage: String?
    public var rotationPolicy: String?
    public var tags: [String]?
    public var metadata: JSONValue?
    public var isActive: Bool?

    enum CodingKeys: String, CodingKey {
        case value, secretType = "secret_type", usage, rotationPolicy = "rotation_policy", tags, metadata
        case isActive = "is_active"
    }

    public init(value: String? = nil, usage: String? = nil, tags: [String]? = nil) {
        self.value = value
        self.usage = usage
        self.tags = tags
    }
}

public struct SecretRotate: Decodable, Sendable {
    public var newValue: String

    enum CodingKeys: String, CodingKey { case newValue = "new_value" }
}
