package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The list and get commands of events, actors, frameworks and guarantees work alike:
// their requests and responses share the standard methods' fields. These build them,
// so that every collection gets the same flags and behaviour.

// listCmd builds `COLLECTION list`. fetch asks for one page with the flags and the page
// token; the pages (every one with --all) are merged into one response, which -o json
// and -o yaml print whole and the table shows through rows (a header and one row per
// resource), with a last line pointing at the next page.
func listCmd[R proto.Message](a *app, short, example string,
	fetch func(ctx context.Context, l listFlags, token string) (R, error),
	header []string, rows func(R) [][]string,
) *cobra.Command {
	var l listFlags
	cmd := &cobra.Command{
		Use:     "list",
		Short:   short,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var (
				out   R
				pages int
			)
			err := a.pages(cmd.Context(), l.all, l.pageToken, func(ctx context.Context, token string) (string, error) {
				page, err := fetch(ctx, l, token)
				if err != nil {
					return "", err
				}
				if pages++; pages == 1 {
					out = page
				} else {
					mergePage(out, page)
				}
				return stringField(page, "next_page_token"), nil
			})
			if err != nil {
				return err
			}
			return a.print(out, func(t *table) {
				t.row(header...)
				for _, r := range rows(out) {
					t.row(r...)
				}
				if next := stringField(out, "next_page_token"); next != "" {
					last := make([]string, len(header))
					last[len(last)-1] = "(more: --page-token " + next + " or --all)"
					t.row(last...)
				}
				if f := field(out, "total_size"); f != nil && out.ProtoReflect().Has(f) {
					total := make([]string, len(header))
					total[0] = fmt.Sprintf("(%d in all)", out.ProtoReflect().Get(f).Int())
					t.row(total...)
				}
			})
		},
	}
	l.register(cmd)
	return cmd
}

// mergePage adds a page to the pages before it: its resources after theirs, and its
// next page token, resource version and total in place of theirs (proto.Merge keeps an
// earlier token when the last page's is empty).
func mergePage(out, page proto.Message) {
	proto.Merge(out, page)
	if f := field(out, "next_page_token"); f != nil {
		out.ProtoReflect().Set(f, page.ProtoReflect().Get(f))
	}
}

func field(m proto.Message, name protoreflect.Name) protoreflect.FieldDescriptor {
	return m.ProtoReflect().Descriptor().Fields().ByName(name)
}

func stringField(m proto.Message, name protoreflect.Name) string {
	if f := field(m, name); f != nil {
		return m.ProtoReflect().Get(f).String()
	}
	return ""
}

// getRequest is what every Get request carries.
type getRequest struct {
	name        string
	readTime    *timestamppb.Timestamp
	showDeleted bool
}

// getCmd builds `COLLECTION get NAME`: NAME with or without the collection's prefix,
// --as-of (the state at a past time) and --show-deleted (a tombstone).
func getCmd[R proto.Message](a *app, collection, short, example string,
	get func(ctx context.Context, req getRequest) (R, error), show func(*table, R),
) *cobra.Command {
	var deleted bool
	cmd := &cobra.Command{
		Use:         "get NAME",
		Short:       short,
		Example:     example,
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{readsThePast: "yes"},
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := a.readTime()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd.Context(), false)
			defer cancel()
			r, err := get(ctx, getRequest{name: fullName(collection, args[0]), readTime: rt, showDeleted: deleted})
			if err != nil {
				return err
			}
			return a.print(r, func(t *table) { show(t, r) })
		},
	}
	cmd.Flags().BoolVar(&deleted, "show-deleted", false, "show a deleted "+strings.TrimSuffix(collection, "s")+"'s tombstone")
	return cmd
}
