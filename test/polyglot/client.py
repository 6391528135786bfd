"""A Python client of tokenrelay, built only from proto/ and the stock gRPC stubs.

Usage: python3 client.py ADDRESS STUB_DIR < plan.json

STUB_DIR holds the modules protoc wrote for proto/tokenrelay/v1/data_service.proto
(--python_out and grpc_python_plugin's --grpc_out) and for proto/google/rpc
(--python_out). The plan on stdin says what
to ask for:

  {"generate": {"model": "echo", "prompt": "...", "max_tokens": 5, "token": "..."},
   "session": [{"request_id": "a", "model": "echo", "prompt": "..."}, ...],
   "ping": {"request_id": "p", "nonce": 42},
   "timeout_s": 10,
   "tls": {"ca": "ca.pem", "cert": "client.pem", "key": "client.key"}}

Only "generate" is required; its "token" goes as a bearer token. With "tls"
the channel is TLS, trusting "ca", with the client certificate if "cert" and
"key" are given. A Generate that fails is recorded as
{"error": {"code": ..., "details": ..., "status_details": ...}}, the last being
the google.rpc.Status of its grpc-status-details-bin trailer, decoded.

The script only records what the server answered, as one JSON document on
stdout; the jest tests (test/integration/polyglot.test.ts and others) make the
assertions.
"""

import json
import sys


def chunk_json(pb2, chunk):
    return {
        "stream_id": chunk.stream_id,
        "seq": chunk.seq,
        "tokens": list(chunk.tokens),
        "finish_reason": pb2.FinishReason.Name(chunk.finish_reason),
        "usage": (
            {"prompt_tokens": chunk.usage.prompt_tokens, "completion_tokens": chunk.usage.completion_tokens}
            if chunk.HasField("usage")
            else None
        ),
    }


def status_details(error):
    """The google.rpc.Status in the grpc-status-details-bin trailer, decoded with
    the classes protoc made from proto/google/rpc, as any googleapis user would."""
    from google.protobuf import json_format
    from google.rpc import error_details_pb2, status_pb2

    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    if raw is None:
        return None
    status = status_pb2.Status.FromString(raw)
    details = []
    for packed in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo):
            if packed.Is(kind.DESCRIPTOR):
                message = kind()
                packed.Unpack(message)
                value = json_format.MessageToDict(message, preserving_proto_field_name=True)
                details.append({"type": kind.DESCRIPTOR.full_name, "value": value})
    return {"code": status.code, "message": status.message, "details": details}


def generate(grpc, pb2, stub, plan, timeout_s):
    request = pb2.GenerateRequest(model=plan["model"], prompt=plan["prompt"])
    if "max_tokens" in plan:
        request.max_tokens = plan["max_tokens"]
    try:
        metadata = [("authorization", "Bearer " + plan["token"])] if "token" in plan else None
        chunks = [chunk_json(pb2, chunk) for chunk in stub.Generate(request, timeout=timeout_s, metadata=metadata)]
    except grpc.RpcError as error:
        failed = {"code": error.code().name, "details": error.details()}
        decoded = status_details(error)
        if decoded is not None:  # a failure of the connection itself has no details
            failed["status_details"] = decoded
        return {"error": failed}
    return {"chunks": chunks, "tokens": [token for chunk in chunks for token in chunk["tokens"]]}


def channel(grpc, address, tls):
    if tls is None:
        return grpc.insecure_channel(address)

    def read(name):
        if name not in tls:
            return None
        with open(tls[name], "rb") as file:
            return file.read()

    credentials = grpc.ssl_channel_credentials(read("ca"), read("key"), read("cert"))
    return grpc.secure_channel(address, credentials)


def session(pb2, stub, starts, ping, timeout_s):
    def messages():
        for start in starts:
            yield pb2.DataRequest(
                request_id=start["request_id"],
                start=pb2.GenerateRequest(model=start["model"], prompt=start["prompt"]),
            )
        yield pb2.DataRequest(request_id=ping["request_id"], ping=pb2.Ping(nonce=ping["nonce"]))
        # Returning half-closes the call; the server ends it once every generation has ended.

    requests = {}
    pongs = []
    for response in stub.StreamData(messages(), timeout=timeout_s):
        kind = response.WhichOneof("kind")
        if kind == "pong":
            pongs.append(
                {
                    "request_id": response.request_id,
                    "nonce": response.pong.nonce,
                    "server_time_ms": response.pong.server_time_ms,
                }
            )
            continue
        entry = requests.setdefault(response.request_id, {"chunks": [], "tokens": [], "errors": []})
        if kind == "chunk":
            chunk = chunk_json(pb2, response.chunk)
            entry["chunks"].append(chunk)
            entry["tokens"].extend(chunk["tokens"])
        elif kind == "error":
            entry["errors"].append({"code": response.error.code, "message": response.error.message})
        else:
            raise RuntimeError("DataResponse with no kind: %r" % (response,))
    return {"requests": requests, "pongs": pongs}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: client.py ADDRESS STUB_DIR < plan.json")
    address, stub_dir = sys.argv[1], sys.argv[2]
    sys.path.insert(0, stub_dir)

    import grpc
    from tokenrelay.v1 import data_service_pb2 as pb2
    from tokenrelay.v1 import data_service_pb2_grpc as pb2_grpc

    plan = json.load(sys.stdin)
    timeout_s = plan.get("timeout_s", 10)
    with channel(grpc, address, plan.get("tls")) as open_channel:
        stub = pb2_grpc.DataServiceStub(open_channel)
        result = {
            "versions": {"grpc": grpc.__version__},
            "generate": generate(grpc, pb2, stub, plan["generate"], timeout_s),
        }
        if "session" in plan:
            result["session"] = session(pb2, stub, plan["session"], plan["ping"], timeout_s)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
