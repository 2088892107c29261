import Hummingbird
import TernaryFormat

/// An error as OpenAI's API returns it: `{"error": {"message", "type", "param", "code"}}` with
/// the HTTP status that goes with it.
struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    let status: HTTPResponse.Status
    let message: String
    let type: String
    var param: String?
    var code: String?
    var headers: HTTPFields = [:]

    var description: String { message }

    static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    static func unauthorized() -> APIError {
        APIError(status: .unauthorized, message: "Incorrect API key provided: give it as 'Authorization: Bearer KEY' (the server's --api-key)",
                 type: "authentication_error", code: "invalid_api_key")
    }

    static func notFound(_ path: String) -> APIError {
        APIError(status: .notFound, message: "Unknown endpoint \(path); see GET /v1/models, POST /v1/chat/completions, POST /v1/completions",
                 type: "not_found_error")
    }

    static func unavailable(_ message: String, retryAfter seconds: Int) -> APIError {
        APIError(status: .serviceUnavailable, message: message, type: "unavailable_error", headers: [.retryAfter: "\(seconds)"])
    }

    static func tooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, message: "The request body is larger than this server's limit of \(limit) bytes (--max-body)",
                 type: "invalid_request_error")
    }

    static func server(_ message: String) -> APIError {
        APIError(status: .internalServerError, message: message, type: "server_error")
    }

    var json: JSONValue {
        .object([("error", .object([
            ("message", .string(message)), ("type", .string(type)),
            ("param", param.map(JSONValue.string) ?? .null), ("code", code.map(JSONValue.string) ?? .null),
        ]))])
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(json, status: status)
        for field in headers { response.headers.append(field) }
        return response
    }
}

enum JSONResponse {
    static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized(sortKeys: false))))
    }
}

/// Turns every error into OpenAI's shape, unknown routes (404) and body limits (413) included.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let bodyLimit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as HTTPResponseError {
            // Hummingbird's own: no route (404), a body over the limit (413, NIOTooManyBytesError), …
            let api: APIError = switch error.status {
            case .notFound: .notFound(request.uri.path)
            case .contentTooLarge: .tooLarge(limit: bodyLimit)
            default: APIError(status: error.status, message: (error as? HTTPError)?.body ?? "\(error.status)",
                              type: error.status.code >= 500 ? "server_error" : "invalid_request_error")
            }
            return try api.response(from: request, context: context)
        }
    }
}
