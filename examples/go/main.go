// Command tokenrelay-example is a complete Go client of tokenrelay, built from
// stubs generated from proto/ (see README.md beside it for the commands).
//
// It shows the four things a client does, and prints what it saw as one JSON
// document:
//
//  1. generate: a Generate call, token by token.
//  2. resume: a resumable generation whose connection drops mid-stream; a new
//     connection resumes it with Subscribe(stream_id, from_seq) and gets every
//     token exactly once.
//  3. session: a StreamData session running two generations on one call, one
//     of them cancelled.
//  4. publish: an external producer publishing tokens, read back by Subscribe.
//
// and, for errors, the google.rpc.Status details every failed call carries,
// read with status.FromError(err).Details().
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	protov1 "github.com/golang/protobuf/proto"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/tokenrelay/tokenrelay/gen/go/tokenrelay/v1"
)

const prompt = "Tell me about token streams"

type generated struct {
	Tokens       []string `json:"tokens"`
	FinishReason string   `json:"finish_reason"`
}

type resumed struct {
	StreamID    string   `json:"stream_id"`
	BeforeDrop  []string `json:"before_drop"`
	AfterResume []string `json:"after_resume"`
}

type sessionEntry struct {
	Tokens       []string `json:"tokens,omitempty"`
	TokenCount   int      `json:"token_count,omitempty"`
	FinishReason string   `json:"finish_reason,omitempty"`
	Code         string   `json:"code,omitempty"`
	Reasons      []string `json:"reasons,omitempty"`
}

type published struct {
	TokensAccepted uint64   `json:"tokens_accepted"`
	ReadBack       []string `json:"read_back"`
}

type failed struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Reasons []string `json:"reasons"`
}

func dial(address string) *grpc.ClientConn {
	conn, err := grpc.Dial(address, grpc.WithInsecure())
	check(err)
	return conn
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "tokenrelay-example:", err)
		os.Exit(1)
	}
}

func generate(ctx context.Context, client pb.DataServiceClient) generated {
	stream, err := client.Generate(ctx, &pb.GenerateRequest{Model: "sim", Prompt: prompt, MaxTokens: proto.Int32(20), Seed: proto.Int64(7)})
	check(err)
	var out generated
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return out
		}
		check(err)
		out.Tokens = append(out.Tokens, chunk.Tokens...)
		if chunk.FinishReason != pb.FinishReason_FINISH_REASON_UNSPECIFIED {
			out.FinishReason = chunk.FinishReason.String()
		}
	}
}

// resume reads part of a resumable stream, loses the connection, and resumes on a new one.
func resume(ctx context.Context, address string) resumed {
	out := resumed{StreamID: fmt.Sprintf("go-example-%d", time.Now().UnixNano())}
	first := dial(address)
	stream, err := pb.NewDataServiceClient(first).Generate(ctx, &pb.GenerateRequest{
		Model: "sim", Prompt: prompt, MaxTokens: proto.Int32(40), Seed: proto.Int64(7), StreamId: out.StreamID, Resumable: true,
	})
	check(err)
	for len(out.BeforeDrop) < 10 {
		chunk, err := stream.Recv()
		check(err)
		out.BeforeDrop = append(out.BeforeDrop, chunk.Tokens...)
	}
	first.Close() // the connection is gone; the stream goes on producing into its log

	second := dial(address)
	defer second.Close()
	out.AfterResume = subscribe(ctx, pb.NewDataServiceClient(second), out.StreamID, uint64(len(out.BeforeDrop)))
	return out
}

// subscribe reads a stream from a sequence number to its end: its tokens.
func subscribe(ctx context.Context, client pb.DataServiceClient, id string, from uint64) []string {
	follow, err := client.Subscribe(ctx, &pb.SubscribeRequest{StreamId: id, FromSeq: from})
	check(err)
	var tokens []string
	for {
		chunk, err := follow.Recv()
		if err == io.EOF {
			return tokens
		}
		check(err)
		tokens = append(tokens, chunk.Tokens...)
	}
}

// session runs two generations on one StreamData call; the long one is cancelled after its first tokens.
func session(ctx context.Context, client pb.DataServiceClient) map[string]*sessionEntry {
	call, err := client.StreamData(ctx)
	check(err)
	check(call.Send(&pb.DataRequest{RequestId: "long", Kind: &pb.DataRequest_Start{Start: &pb.GenerateRequest{Model: "sim", Prompt: prompt, MaxTokens: proto.Int32(4000)}}}))
	check(call.Send(&pb.DataRequest{RequestId: "short", Kind: &pb.DataRequest_Start{Start: &pb.GenerateRequest{Model: "echo", Prompt: "one session, many streams"}}}))
	results := map[string]*sessionEntry{}
	cancelled, halfClosed := false, false
	for {
		response, err := call.Recv()
		if err == io.EOF {
			break
		}
		check(err)
		entry := results[response.RequestId]
		if entry == nil {
			entry = &sessionEntry{Tokens: []string{}}
			results[response.RequestId] = entry
		}
		switch kind := response.Kind.(type) {
		case *pb.DataResponse_Chunk:
			entry.Tokens = append(entry.Tokens, kind.Chunk.Tokens...)
			if kind.Chunk.FinishReason != pb.FinishReason_FINISH_REASON_UNSPECIFIED {
				entry.FinishReason = kind.Chunk.FinishReason.String()
			}
			if response.RequestId == "long" && !cancelled && len(entry.Tokens) >= 5 {
				check(call.Send(&pb.DataRequest{RequestId: "long", Kind: &pb.DataRequest_Cancel{Cancel: &pb.SessionCancel{}}}))
				cancelled = true
			}
		case *pb.DataResponse_Error:
			entry.Code = codes.Code(kind.Error.Code).String()
			for _, packed := range kind.Error.Details {
				info := &errdetails.ErrorInfo{}
				if packed.TypeUrl == "type.googleapis.com/google.rpc.ErrorInfo" && protov1.Unmarshal(packed.Value, info) == nil {
					entry.Reasons = append(entry.Reasons, info.Reason)
				}
			}
		}
		if !halfClosed && done(results["long"]) && done(results["short"]) {
			check(call.CloseSend()) // the server ends the call once every generation has ended
			halfClosed = true
		}
	}
	// The long generation's tokens are counted, not listed: how many arrived before the cancel took effect varies.
	results["long"].TokenCount, results["long"].Tokens = len(results["long"].Tokens), nil
	return results
}

func done(entry *sessionEntry) bool {
	return entry != nil && (entry.FinishReason != "" || entry.Code != "")
}

// publish is an external producer: open a stream, send tokens with their seq, half-close; then read them back.
func publish(ctx context.Context, client pb.DataServiceClient) published {
	id := fmt.Sprintf("go-published-%d", time.Now().UnixNano())
	tokens := []string{"Tokens", " from", " a", " Go", " producer"}
	call, err := client.Publish(ctx)
	check(err)
	check(call.Send(&pb.PublishRequest{Kind: &pb.PublishRequest_Open{Open: &pb.PublishOpen{StreamId: id, Model: "go-worker"}}}))
	check(call.Send(&pb.PublishRequest{Kind: &pb.PublishRequest_Chunk{Chunk: &pb.TokenChunk{Seq: 0, Tokens: tokens[:2]}}}))
	check(call.Send(&pb.PublishRequest{Kind: &pb.PublishRequest_Chunk{Chunk: &pb.TokenChunk{Seq: 2, Tokens: tokens[2:], FinishReason: pb.FinishReason_FINISH_REASON_STOP}}}))
	response, err := call.CloseAndRecv()
	check(err)
	return published{TokensAccepted: response.TokensAccepted, ReadBack: subscribe(ctx, client, id, 0)}
}

// errorDetails reads a failed call's google.rpc.Status: here NOT_FOUND with reason STREAM_NOT_FOUND.
func errorDetails(ctx context.Context, client pb.DataServiceClient) failed {
	follow, err := client.Subscribe(ctx, &pb.SubscribeRequest{StreamId: "no-such-stream"})
	check(err)
	_, err = follow.Recv()
	got, ok := status.FromError(err)
	if err == nil || !ok {
		check(fmt.Errorf("Subscribe to an unknown stream did not fail with a status: %v", err))
	}
	out := failed{Code: got.Code().String(), Message: got.Message(), Reasons: []string{}}
	for _, detail := range got.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			out.Reasons = append(out.Reasons, info.Reason)
		}
	}
	return out
}

func main() {
	address := "localhost:50051"
	if len(os.Args) > 1 {
		address = os.Args[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := dial(address)
	defer conn.Close()
	client := pb.NewDataServiceClient(conn)
	result := map[string]interface{}{
		"generate":      generate(ctx, client),
		"resume":        resume(ctx, address),
		"session":       session(ctx, client),
		"publish":       publish(ctx, client),
		"error_details": errorDetails(ctx, client),
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	check(encoder.Encode(result))
}
