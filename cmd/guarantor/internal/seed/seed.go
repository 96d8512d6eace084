// Package seed holds the Paris seed dataset (reviewable JSON-lines files under paris/)
// and loads it through the public API, exactly as `guarantor import jsonl` would.
package seed

import (
	"bytes"
	"context"
	"embed"
	"io"

	"google.golang.org/grpc"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/jsonl"
)

//go:embed paris/*.jsonl
var files embed.FS

// Files lists the dataset's files in load order.
var Files = []string{"paris/actors.jsonl", "paris/events.jsonl", "paris/frameworks.jsonl", "paris/guarantees.jsonl"}

// Reader returns the whole dataset as one JSON-lines stream.
func Reader() (io.Reader, error) {
	var all bytes.Buffer
	for _, f := range Files {
		b, err := files.ReadFile(f)
		if err != nil {
			return nil, err
		}
		all.Write(b)
	}
	return &all, nil
}

// Load imports the dataset; loading it again changes nothing.
func Load(ctx context.Context, conn grpc.ClientConnInterface, call jsonl.CallContext) (jsonl.Summary, error) {
	r, err := Reader()
	if err != nil {
		return jsonl.Summary{}, err
	}
	return jsonl.Import(ctx, conn, call, r, jsonl.Options{Strict: true})
}
