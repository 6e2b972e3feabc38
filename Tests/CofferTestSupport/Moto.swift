import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A `moto_server` (AWS emulator, PyPI `moto[server]`) on a free loopback port, with signature checking on: it
/// starts with `INITIAL_NO_AUTH_ACTION_COUNT=3`, which lets exactly the three unsigned IAM calls that make a user,
/// its access key and an allow-all policy through; every later request must be signed with that key (a wrong
/// secret gets 403). One KMS key is made for the tests.
public final class MotoServer: @unchecked Sendable {
    public let port: Int
    public let accessKeyID: String
    public let secretAccessKey: String
    public let keyID: String
    public let region = "us-east-1"
    private let process: Process

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    /// The settings that point Coffer's `aws_kms` provider at this server.
    public var environment: [String: String] {
        [
            "SECRET_ENCRYPTION_BACKEND": "aws_kms", "AWS_KMS_KEY_ID": keyID, "AWS_REGION": region,
            "AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secretAccessKey, "AWS_ENDPOINT_URL_KMS": endpoint,
        ]
    }

    private init(port: Int, process: Process, accessKeyID: String, secretAccessKey: String, keyID: String) {
        self.port = port
        self.process = process
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.keyID = keyID
    }

    /// Starts the server (bounded: 30 s to answer) and makes the user, its key and a KMS key.
    public static func start() async throws -> MotoServer {
        let port = Int(try Python.run(script: """
            import socket
            s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
            """))!
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
        var environment = ProcessInfo.processInfo.environment
        environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] { environment[name] = nil }
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        do {
            let reply = try Python.run(script: """
                import boto3, json, socket, sys, time
                port = int(sys.argv[1]); endpoint = f"http://127.0.0.1:{port}"
                deadline = time.time() + 30
                while True:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
                    except OSError:
                        if time.time() > deadline: raise SystemExit("moto_server did not start within 30 s")
                        time.sleep(0.1)
                iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                                   aws_access_key_id="unsigned", aws_secret_access_key="unsigned")
                iam.create_user(UserName="coffer")
                key = iam.create_access_key(UserName="coffer")["AccessKey"]
                iam.put_user_policy(UserName="coffer", PolicyName="all", PolicyDocument=json.dumps(
                    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
                kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1",
                                   aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
                print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"],
                                  "key": kms.create_key(Description="coffer tests")["KeyMetadata"]["KeyId"]}))
                """ + "\n", arguments: [String(port)])
            let made = try JSONDecoder().decode([String: String].self, from: Data(reply.utf8))
            return MotoServer(
                port: port, process: process, accessKeyID: made["id"]!, secretAccessKey: made["secret"]!, keyID: made["key"]!)
        } catch {
            process.terminate()
            process.waitUntilExit()
            throw error
        }
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel but nothing answers, as a KMS that
    /// hangs.
    public func pause() { kill(process.processIdentifier, SIGSTOP) }

    /// Thaws a paused server (SIGCONT).
    public func resume() { kill(process.processIdentifier, SIGCONT) }

    /// Stops the server (SIGKILL after 5 s).
    public func stop() {
        guard process.isRunning else { return }
        resume()
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}
