"""A complete Python client of tokenrelay, from stubs generated from proto/.

Generate the stubs (from the repository root), then run it against a server:

    mkdir -p gen/python
    python3 -m grpc_tools.protoc -I proto --python_out=gen/python --grpc_python_out=gen/python \
        tokenrelay/v1/data_service.proto google/rpc/status.proto google/rpc/error_details.proto
    PYTHONPATH=gen/python python3 examples/python/tokenrelay_example.py localhost:50051

(With Debian's packages instead of grpc_tools: protoc -I proto --python_out=gen/python
--grpc_out=gen/python --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin ...)

It shows the four things a client does, and prints what it saw as one JSON
document:

1. generate: a Generate call, token by token.
2. resume: a resumable generation whose connection drops mid-stream; a new
   connection resumes it with Subscribe(stream_id, from_seq) and gets every
   token exactly once.
3. session: a StreamData session running two generations on one call, one of
   them cancelled.
4. publish: an external producer publishing tokens, read back by Subscribe.

and, for errors, the google.rpc.Status details every failed call carries.
"""

import json
import sys
import uuid

import grpc
from google.rpc import error_details_pb2, status_pb2
from tokenrelay.v1 import data_service_pb2 as pb
from tokenrelay.v1 import data_service_pb2_grpc as pb_grpc

PROMPT = "Tell me about token streams"
CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def generate(stub):
    request = pb.GenerateRequest(model="sim", prompt=PROMPT, max_tokens=20, seed=7)
    tokens = []
    finish = None
    for chunk in stub.Generate(request, timeout=30):
        tokens.extend(chunk.tokens)
        if chunk.finish_reason:
            finish = pb.FinishReason.Name(chunk.finish_reason)
    return {"tokens": tokens, "finish_reason": finish}


def resume(address):
    """Reads part of a resumable stream, loses the connection, resumes on a new one."""
    stream_id = "py-example-" + uuid.uuid4().hex
    request = pb.GenerateRequest(
        model="sim", prompt=PROMPT, max_tokens=40, seed=7, stream_id=stream_id, resumable=True
    )
    before = []
    first = grpc.insecure_channel(address)
    for chunk in pb_grpc.DataServiceStub(first).Generate(request, timeout=30):
        before.extend(chunk.tokens)
        if len(before) >= 10:
            break
    first.close()  # the connection is gone; the stream goes on producing into its log

    after = []
    with grpc.insecure_channel(address) as second:
        stub = pb_grpc.DataServiceStub(second)
        for chunk in stub.Subscribe(pb.SubscribeRequest(stream_id=stream_id, from_seq=len(before)), timeout=30):
            after.extend(chunk.tokens)
    return {"stream_id": stream_id, "before_drop": before, "after_resume": after}


def session(stub):
    """Two generations on one StreamData call; the long one is cancelled after its first tokens."""
    import queue

    outgoing = queue.Queue()
    outgoing.put(pb.DataRequest(request_id="long", start=pb.GenerateRequest(model="sim", prompt=PROMPT, max_tokens=4000)))
    outgoing.put(pb.DataRequest(request_id="short", start=pb.GenerateRequest(model="echo", prompt="one session, many streams")))

    def requests():
        while True:
            message = outgoing.get()
            if message is None:
                return  # half-close: the server ends the call once every generation has ended
            yield message

    results = {}
    cancelled = False
    for response in stub.StreamData(requests(), timeout=30):
        entry = results.setdefault(response.request_id, {"tokens": []})
        kind = response.WhichOneof("kind")
        if kind == "chunk":
            entry["tokens"].extend(response.chunk.tokens)
            if response.chunk.finish_reason:
                entry["finish_reason"] = pb.FinishReason.Name(response.chunk.finish_reason)
            if response.request_id == "long" and not cancelled and len(entry["tokens"]) >= 5:
                outgoing.put(pb.DataRequest(request_id="long", cancel=pb.SessionCancel()))
                cancelled = True
        elif kind == "error":
            entry["error"] = {"code": CODE_NAMES[response.error.code], "reasons": reasons(response.error.details)}
        if all(done(results.get(name)) for name in ("long", "short")):
            outgoing.put(None)
    # The long generation's tokens are counted, not listed: how many arrived before the cancel took effect varies.
    results["long"]["token_count"] = len(results["long"].pop("tokens"))
    return results


def done(entry):
    return entry is not None and ("finish_reason" in entry or "error" in entry)


def publish(stub):
    """An external producer: open a stream, send tokens with their seq, half-close; then read them back."""
    stream_id = "py-published-" + uuid.uuid4().hex
    tokens = ["Tokens", " from", " a", " Python", " producer"]

    def messages():
        yield pb.PublishRequest(open=pb.PublishOpen(stream_id=stream_id, model="python-worker"))
        yield pb.PublishRequest(chunk=pb.TokenChunk(seq=0, tokens=tokens[:2]))
        yield pb.PublishRequest(chunk=pb.TokenChunk(seq=2, tokens=tokens[2:], finish_reason=pb.FINISH_REASON_STOP))

    response = stub.Publish(messages(), timeout=30)
    read = [t for chunk in stub.Subscribe(pb.SubscribeRequest(stream_id=stream_id), timeout=30) for t in chunk.tokens]
    return {"tokens_accepted": response.tokens_accepted, "read_back": read}


def reasons(packed_details):
    """The ErrorInfo reasons in a list of google.protobuf.Any details."""
    found = []
    for packed in packed_details:
        info = error_details_pb2.ErrorInfo()
        if packed.Unpack(info):
            found.append(info.reason)
    return found


def error_details(stub):
    """A failed call's grpc-status-details-bin: here NOT_FOUND with reason STREAM_NOT_FOUND."""
    try:
        for _ in stub.Subscribe(pb.SubscribeRequest(stream_id="no-such-stream"), timeout=30):
            pass
    except grpc.RpcError as error:
        raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
        status = status_pb2.Status.FromString(raw)
        return {"code": error.code().name, "message": status.message, "reasons": reasons(status.details)}
    raise RuntimeError("Subscribe to an unknown stream did not fail")


def main():
    address = sys.argv[1] if len(sys.argv) > 1 else "localhost:50051"
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.DataServiceStub(channel)
        result = {
            "generate": generate(stub),
            "resume": resume(address),
            "session": session(stub),
            "publish": publish(stub),
            "error_details": error_details(stub),
        }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
