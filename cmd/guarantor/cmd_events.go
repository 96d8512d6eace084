package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
)

func (a *app) events() (eventsv1.EventsServiceClient, error) {
	conn, err := a.dial()
	if err != nil {
		return nil, err
	}
	return eventsv1.NewEventsServiceClient(conn), nil
}

// readMessage reads a resource from a JSON or YAML file ("-" is standard input).
func readMessage(path string, m proto.Message) error {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return usagef("--file: %v", err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return usagef("--file %s: %v", path, err)
	}
	if err := protojson.Unmarshal(j, m); err != nil {
		return usagef("--file %s: %v", path, err)
	}
	return nil
}

// fullName accepts "events/x" or just "x".
func fullName(collection, s string) string {
	if strings.HasPrefix(s, collection+"/") {
		return s
	}
	return collection + "/" + s
}

type listFlags struct {
	filter, orderBy string
	pageSize        int32
	pageToken       string
	all, deleted    bool
	total           bool
}

func (l *listFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&l.filter, "filter", "", "AIP-160 filter, e.g. 'type = MILITARY AND when.time >= \"2026-01-01\"'")
	f.StringVar(&l.orderBy, "order-by", "", "order, e.g. 'when.time desc'")
	f.Int32Var(&l.pageSize, "page-size", 50, "results per page")
	f.StringVar(&l.pageToken, "page-token", "", "continue from this page token")
	f.BoolVar(&l.all, "all", false, "fetch every page")
	f.BoolVar(&l.deleted, "show-deleted", false, "include deleted records")
	f.BoolVar(&l.total, "total", false, "also count every matching record (costs a count on the server)")
}

func (a *app) newEvents() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Events: summits, statements, agreements, votes, strikes"}
	cmd.AddCommand(a.eventsList(), a.eventsGet(), a.eventsCreate(), a.eventsUpdate(), a.eventsDelete(), a.history("events"))
	return cmd
}

func (a *app) eventsList() *cobra.Command {
	return listCmd(a, "List events", `  guarantor events list
  guarantor events list --filter 'type = MILITARY AND location.country_code = "RUS"'
  guarantor events list --filter 'participant = "actors/fra"' --order-by 'when.time'
  guarantor events list --filter 'search:"military hubs"' -o json`,
		func(ctx context.Context, l listFlags, token string) (*eventsv1.ListEventsResponse, error) {
			c, err := a.events()
			if err != nil {
				return nil, err
			}
			return c.ListEvents(ctx, &eventsv1.ListEventsRequest{Filter: l.filter, OrderBy: l.orderBy, PageSize: l.pageSize, PageToken: token, ShowDeleted: l.deleted, IncludeTotal: l.total})
		},
		[]string{"NAME", "WHEN", "TYPE", "SUB-TYPE", "WHERE", "TITLE"},
		func(out *eventsv1.ListEventsResponse) (rows [][]string) {
			for _, e := range out.GetEvents() {
				rows = append(rows, []string{e.GetName(), day(e.GetWhen().GetTime()), short(e.GetType(), "EVENT_TYPE_"), e.GetSubType(), place(e.GetLocation()), trunc(e.GetTitle(), 70)})
			}
			return rows
		})
}

func place(l *eventsv1.Location) string {
	var parts []string
	for _, p := range []string{l.GetPlace(), l.GetAdmin1(), l.GetCountryCode()} {
		if p != "" && !containsStr(parts, p) {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (a *app) eventsGet() *cobra.Command {
	return getCmd(a, "events", "Show one event (or its state --as-of a past time)", `  guarantor events get events/paris-meeting
  guarantor events get paris-meeting --as-of 2026-01-01 -o yaml`,
		func(ctx context.Context, r getRequest) (*eventsv1.Event, error) {
			c, err := a.events()
			if err != nil {
				return nil, err
			}
			resp, err := c.GetEvent(ctx, &eventsv1.GetEventRequest{Name: r.name, ReadTime: r.readTime, ShowDeleted: r.showDeleted})
			return resp.GetEvent(), err
		}, eventTable)
}

func eventTable(t *table, e *eventsv1.Event) {
	t.kv("name", e.GetName())
	t.kv("title", e.GetTitle())
	t.kv("type", short(e.GetType(), "EVENT_TYPE_")+" / "+e.GetSubType())
	t.kv("when", day(e.GetWhen().GetTime())+" ("+short(e.GetWhen().GetPrecision(), "DATE_PRECISION_")+")")
	t.kv("where", place(e.GetLocation()))
	t.kv("summary", trunc(e.GetSummary(), 200))
	for _, p := range e.GetParticipants() {
		t.kv("participant", p.GetActor()+" ("+strings.ToLower(short(p.GetRole(), "PARTICIPANT_ROLE_"))+")")
	}
	for _, c := range e.GetCounts() {
		t.kv("count", c.GetKind()+" = "+strconv.FormatInt(c.GetValue(), 10))
	}
	for _, q := range e.GetQuotes() {
		t.kv("quote", q.GetSpeaker()+": “"+q.GetText()+"”")
	}
	t.kv("cameo", e.GetCameoCode())
	for _, s := range e.GetSources() {
		t.kv("source", strings.TrimSpace(s.GetPublisher()+" "+s.GetUrl()))
	}
	for _, n := range e.GetQualityNotes() {
		t.kv("note", "["+strings.ToLower(short(n.GetIssue(), "QUALITY_ISSUE_"))+" "+n.GetField()+"] "+n.GetText())
	}
	t.kv("license", short(e.GetLicense(), "LICENSE_"))
	t.kv("tags", join(e.GetTags()))
	t.kv("revision", strconv.FormatInt(e.GetRevision(), 10))
	t.kv("updated", ts(e.GetUpdateTime()))
	t.kv("deleted", ts(e.GetDeleteTime()))
}

// eventFlags are the common fields settable from the command line.
type eventFlags struct {
	file, typ, subType, title, summary, when, country, place string
	tags                                                     []string
}

func (f *eventFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "the event as JSON or YAML (- for standard input); flags override its fields")
	fl.StringVar(&f.typ, "type", "", "DIPLOMACY, STATEMENT, LEGISLATIVE, MILITARY, CEASEFIRE, CIVIL or OTHER")
	fl.StringVar(&f.subType, "sub-type", "", "e.g. summit, joint_statement, air_drone_strike")
	fl.StringVar(&f.title, "title", "", "one-line title")
	fl.StringVar(&f.summary, "summary", "", "what happened")
	fl.StringVar(&f.when, "when", "", "when it happened (date or RFC 3339)")
	fl.StringVar(&f.country, "country", "", "ISO 3166-1 alpha-3 country code")
	fl.StringVar(&f.place, "place", "", "place name")
	fl.StringSliceVar(&f.tags, "tag", nil, "tag (repeatable)")
}

// apply fills e from the flags and returns the field paths the flags set.
func (f *eventFlags) apply(cmd *cobra.Command, e *eventsv1.Event) ([]string, error) {
	var paths []string
	set := func(name string) bool { return cmd.Flags().Changed(name) }
	if set("type") {
		v, ok := eventsv1.EventType_value["EVENT_TYPE_"+strings.ToUpper(f.typ)]
		if !ok {
			return nil, usagef("--type %q is not an event type", f.typ)
		}
		e.Type = eventsv1.EventType(v)
		paths = append(paths, "type")
	}
	if set("sub-type") {
		e.SubType, paths = f.subType, append(paths, "sub_type")
	}
	if set("title") {
		e.Title, paths = f.title, append(paths, "title")
	}
	if set("summary") {
		e.Summary, paths = f.summary, append(paths, "summary")
	}
	if set("when") {
		t, err := parseTime(f.when)
		if err != nil {
			return nil, usagef("--when: %v", err)
		}
		prec := typev1.DatePrecision_DATE_PRECISION_EXACT
		if len(f.when) == len("2006-01-02") {
			prec = typev1.DatePrecision_DATE_PRECISION_DAY
		}
		e.When, paths = &typev1.When{Time: timestamppb.New(t), Precision: prec}, append(paths, "when")
	}
	if set("country") || set("place") {
		if e.Location == nil {
			e.Location = &eventsv1.Location{}
		}
		if set("country") {
			e.Location.CountryCode, paths = f.country, append(paths, "location.country_code")
		}
		if set("place") {
			e.Location.Place, paths = f.place, append(paths, "location.place")
		}
	}
	if set("tag") {
		e.Tags, paths = f.tags, append(paths, "tags")
	}
	return paths, nil
}

func (a *app) eventsCreate() *cobra.Command {
	var f eventFlags
	var requestID string
	cmd := &cobra.Command{
		Use:   "create ID",
		Short: "Create an event",
		Example: `  guarantor events create kyiv-vote --type LEGISLATIVE --sub-type vote --title "Rada approves the agreement" --when 2026-02-01 --country UKR
  guarantor events create paris-2 -f event.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := &eventsv1.Event{}
			if f.file != "" {
				if err := readMessage(f.file, e); err != nil {
					return err
				}
			}
			if _, err := f.apply(cmd, e); err != nil {
				return err
			}
			c, err := a.events()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd.Context(), false)
			defer cancel()
			resp, err := c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: strings.TrimPrefix(args[0], "events/"), Event: e, RequestId: requestID})
			if err != nil {
				return err
			}
			return a.print(resp.GetEvent(), func(t *table) { eventTable(t, resp.GetEvent()) })
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&requestID, "request-id", "", "makes a retry safe: the same id returns the first answer")
	return cmd
}

func (a *app) eventsUpdate() *cobra.Command {
	var f eventFlags
	var mask []string
	var etag string
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change fields of an event (only the fields given)",
		Example: `  guarantor events update events/paris-meeting --title "Paris summit of the coalition of the willing"
  guarantor events update paris-meeting -f fix.yaml --mask summary,quality_notes --etag '"2a"'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := &eventsv1.Event{}
			if f.file != "" {
				if err := readMessage(f.file, e); err != nil {
					return err
				}
			}
			paths, err := f.apply(cmd, e)
			if err != nil {
				return err
			}
			paths = append(paths, mask...)
			if len(paths) == 0 {
				return usagef("nothing to update: give field flags, or --file with --mask")
			}
			e.Name, e.Etag = fullName("events", args[0]), etag
			c, err := a.events()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd.Context(), false)
			defer cancel()
			resp, err := c.UpdateEvent(ctx, &eventsv1.UpdateEventRequest{Event: e, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
			if err != nil {
				return err
			}
			return a.print(resp.GetEvent(), func(t *table) { eventTable(t, resp.GetEvent()) })
		},
	}
	f.register(cmd)
	cmd.Flags().StringSliceVar(&mask, "mask", nil, "fields to take from --file (comma-separated field paths)")
	cmd.Flags().StringVar(&etag, "etag", "", "fail if the event changed since you read this etag")
	return cmd
}

func (a *app) eventsDelete() *cobra.Command {
	var etag string
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete an event (a tombstone stays in its history)",
		Example: `  guarantor events delete events/duplicate-entry`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.events()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd.Context(), false)
			defer cancel()
			resp, err := c.DeleteEvent(ctx, &eventsv1.DeleteEventRequest{Name: fullName("events", args[0]), Etag: etag})
			if err != nil {
				return err
			}
			return a.print(resp.GetEvent(), func(t *table) { t.kv("deleted", resp.GetEvent().GetName()+" at "+ts(resp.GetEvent().GetDeleteTime())) })
		},
	}
	cmd.Flags().StringVar(&etag, "etag", "", "fail if the event changed since you read this etag")
	return cmd
}

func (a *app) newActors() *cobra.Command {
	cmd := &cobra.Command{Use: "actors", Short: "Actors: states, organisations, forces, agencies, people"}
	list := listCmd(a, "List actors", `  guarantor actors list
  guarantor actors list --filter 'kind = STATE'`,
		func(ctx context.Context, l listFlags, token string) (*eventsv1.ListActorsResponse, error) {
			c, err := a.events()
			if err != nil {
				return nil, err
			}
			return c.ListActors(ctx, &eventsv1.ListActorsRequest{Filter: l.filter, OrderBy: l.orderBy, PageSize: l.pageSize, PageToken: token, ShowDeleted: l.deleted, IncludeTotal: l.total})
		},
		[]string{"NAME", "KIND", "COUNTRY", "DISPLAY NAME"},
		func(out *eventsv1.ListActorsResponse) (rows [][]string) {
			for _, x := range out.GetActors() {
				rows = append(rows, []string{x.GetName(), short(x.GetKind(), "ACTOR_KIND_"), x.GetCountryCode(), x.GetDisplayName()})
			}
			return rows
		})
	get := getCmd(a, "actors", "Show one actor (or its state --as-of a past time)", `  guarantor actors get actors/gbr`,
		func(ctx context.Context, r getRequest) (*eventsv1.Actor, error) {
			c, err := a.events()
			if err != nil {
				return nil, err
			}
			resp, err := c.GetActor(ctx, &eventsv1.GetActorRequest{Name: r.name, ReadTime: r.readTime, ShowDeleted: r.showDeleted})
			return resp.GetActor(), err
		},
		func(t *table, x *eventsv1.Actor) {
			t.kv("name", x.GetName())
			t.kv("display name", x.GetDisplayName())
			t.kv("kind", short(x.GetKind(), "ACTOR_KIND_"))
			t.kv("country", x.GetCountryCode())
			t.kv("parent", x.GetParent())
			for _, o := range x.GetOffices() {
				t.kv("office", strings.TrimSpace(o.GetTitle()+" "+o.GetOrganization()))
			}
			t.kv("aliases", join(x.GetAliases()))
			t.kv("tags", join(x.GetTags()))
		})
	cmd.AddCommand(list, get)
	return cmd
}

// history lists a resource's recorded changes (events, actors, frameworks, guarantees).
func (a *app) history(collection string) *cobra.Command {
	return &cobra.Command{
		Use:     "history NAME",
		Short:   "Show every recorded change of a " + strings.TrimSuffix(collection, "s"),
		Example: fmt.Sprintf("  guarantor %s history %s/ID -o json", collection, collection),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.printHistory(cmd.Context(), fullName(collection, args[0]))
		},
	}
}

// pages fetches the first page, and every following one when all is set. fetch gets a
// call context and the page token, and returns the next page's token.
func (a *app) pages(parent context.Context, all bool, token string, fetch func(ctx context.Context, token string) (string, error)) error {
	for {
		ctx, cancel := a.ctx(parent, false)
		next, err := fetch(ctx, token)
		cancel()
		if err != nil {
			return err
		}
		if !all || next == "" {
			return nil
		}
		token = next
	}
}
