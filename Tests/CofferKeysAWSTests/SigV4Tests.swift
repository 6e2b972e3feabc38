import CofferTestSupport
import Foundation
import Testing

@testable import CofferKeysAWS

/// Signature Version 4 against botocore's `SigV4Auth`: the same request must get the same `Authorization` header.
@Suite("AWS Signature Version 4")
struct SigV4Tests {
    struct Case: Codable {
        var method: String
        var url: String
        var host: String
        var path: String
        var query: [[String]]
        var headers: [[String]]
        var body: String
        var accessKey: String
        var secretKey: String
        var token: String?
        var region: String
        var service: String
        var authorization: String
    }

    @Test("Swift's Authorization header is botocore's, with and without a session token, query and odd spacing")
    func botocoreOracle() throws {
        // 2026-12-02T05:46:07Z
        let date = Date(timeIntervalSince1970: 1_796_190_367)
        var cases = [
            Case(
                method: "POST", url: "https://kms.eu-west-1.amazonaws.com/", host: "kms.eu-west-1.amazonaws.com",
                path: "/", query: [],
                headers: [["Content-Type", "application/x-amz-json-1.1"], ["X-Amz-Target", "TrentService.Encrypt"]],
                body: #"{"KeyId":"alias/coffer","Plaintext":"AAAA"}"#, accessKey: "AKIDEXAMPLE",
                secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token: nil, region: "eu-west-1", service: "kms",
                authorization: ""),
            Case(
                method: "POST", url: "http://127.0.0.1:4566/", host: "127.0.0.1:4566", path: "/", query: [],
                headers: [["Content-Type", "application/x-amz-json-1.1"], ["X-Amz-Target", "TrentService.Decrypt"]],
                body: "{}", accessKey: "ASIAEXAMPLE", secretKey: "secret/with+signs=", token: "FwoGZXIvYXdzEXAMPLE//token==",
                region: "us-east-1", service: "kms", authorization: ""),
            Case(
                method: "GET", url: "https://example.amazonaws.com/a%20b/c?b=2&a=1&a=0&sp=x%20y",
                host: "example.amazonaws.com", path: "/a b/c", query: [["b", "2"], ["a", "1"], ["a", "0"], ["sp", "x y"]],
                headers: [["X-Custom", "  spaced    value  "]], body: "", accessKey: "AKID", secretKey: "third-case-secret",
                token: nil, region: "ap-southeast-2", service: "execute-api", authorization: ""),
        ]
        let expected = try Python.json(
            script: """
                import json, sys, datetime
                import botocore.auth
                from botocore.awsrequest import AWSRequest
                from botocore.credentials import Credentials
                botocore.auth.get_current_datetime = lambda *a, **k: datetime.datetime(2026, 12, 2, 5, 46, 7)
                out = []
                for c in json.load(sys.stdin):
                    request = AWSRequest(method=c["method"], url=c["url"], data=c["body"].encode(),
                                         headers=dict(c["headers"]))
                    botocore.auth.SigV4Auth(Credentials(c["accessKey"], c["secretKey"], c.get("token")),
                                            c["service"], c["region"]).add_auth(request)
                    out.append(request.headers["Authorization"])
                print(json.dumps(out))
                """,
            input: cases, as: [String].self)
        try #require(expected.count == cases.count)
        for index in cases.indices {
            let c = cases[index]
            let signer = SigV4(
                credentials: AWSCredentials(accessKeyID: c.accessKey, secretAccessKey: c.secretKey, sessionToken: c.token),
                region: c.region, service: c.service)
            let added = signer.sign(
                method: c.method, host: c.host, path: c.path, query: c.query.map { ($0[0], $0[1]) },
                headers: c.headers.map { ($0[0], $0[1]) }, body: Array(c.body.utf8), date: date)
            cases[index].authorization = added.first { $0.0 == "Authorization" }?.1 ?? ""
            #expect(cases[index].authorization == expected[index], "case \(index)")
            #expect(added.contains { $0.0 == "X-Amz-Date" && $0.1 == "20261202T054607Z" })
            #expect(added.contains { $0.0 == "X-Amz-Security-Token" } == (c.token != nil))
            #expect(!"\(signer)".contains(c.secretKey) && !"\(signer.credentials)".contains(c.secretKey))
        }
    }

    @Test("Credentials come from the environment, else the shared file's profile")
    func credentials() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-aws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("credentials")
        try """
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = default-secret

            [ci]
            # a comment
            aws_access_key_id=AKIDCI
            aws_secret_access_key=ci-secret
            aws_session_token = ci-token
            """.write(to: file, atomically: true, encoding: .utf8)
        let env = ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SHARED_CREDENTIALS_FILE": file.path]
        #expect(AWSCredentials.load(environment: env)?.accessKeyID == "AKIDENV")
        let fromFile = AWSCredentials.load(environment: ["AWS_SHARED_CREDENTIALS_FILE": file.path])
        #expect(fromFile?.accessKeyID == "AKIDDEFAULT" && fromFile?.sessionToken == nil)
        let profile = AWSCredentials.load(environment: ["AWS_SHARED_CREDENTIALS_FILE": file.path, "AWS_PROFILE": "ci"])
        #expect(profile?.secretAccessKey == "ci-secret" && profile?.sessionToken == "ci-token")
        #expect(AWSCredentials.load(environment: ["AWS_SHARED_CREDENTIALS_FILE": file.path, "AWS_PROFILE": "nope"]) == nil)
    }
}
