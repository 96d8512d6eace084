// Package store describes how the events service keeps events and actors in SQL: the
// collections (indexed columns, filterable fields, orderings) and the embedded schema
// migrations for SQLite and PostgreSQL. The reading and writing itself is the platform's
// resource store, shared with every service.
package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/filter"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Open opens the database named by dsn (sqlite://path or postgres://...) and applies the
// platform's and the service's migrations.
func Open(ctx context.Context, dsn string, log *zap.Logger) (*sqldb.DB, error) {
	db, err := sqldb.Open(ctx, dsn, log)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// Migrate applies the platform's and the service's migrations.
func Migrate(ctx context.Context, db *sqldb.DB) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	return sqldb.MigrateService(ctx, db, sub, "events_migrations")
}

// ExternalKey is how an external id is indexed: "GDELT:1234".
func ExternalKey(id *typev1.ExternalId) string {
	return strings.TrimPrefix(id.GetSystem().String(), "EXTERNAL_SYSTEM_") + ":" + id.GetId()
}

func externalKeys(ids []*typev1.ExternalId) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = ExternalKey(id)
	}
	return out
}

// Events is the events collection.
var Events = &resource.Collection{
	Name:  "events",
	Table: "events",
	New:   func() proto.Message { return &eventsv1.Event{} },
	Columns: []resource.Column{
		{Name: "type", Value: func(m proto.Message) any { return int64(ev(m).GetType()) }},
		{Name: "sub_type", Value: func(m proto.Message) any { return ev(m).GetSubType() }},
		{Name: "when_time", Value: func(m proto.Message) any { return filter.TimeKey(ev(m).GetWhen().GetTime().AsTime()) }},
		{Name: "country_code", Value: func(m proto.Message) any { return ev(m).GetLocation().GetCountryCode() }},
		{Name: "cameo_code", Value: func(m proto.Message) any { return ev(m).GetCameoCode() }},
		{Name: "license", Value: func(m proto.Message) any { return int64(ev(m).GetLicense()) }},
	},
	Lists: []resource.ListTable{
		{Table: "event_participants", Values: func(m proto.Message) []string {
			var out []string
			for _, p := range ev(m).GetParticipants() {
				out = append(out, p.GetActor())
			}
			for _, q := range ev(m).GetQuotes() {
				out = append(out, q.GetSpeaker())
			}
			return out
		}},
		{Table: "event_tags", Values: func(m proto.Message) []string { return ev(m).GetTags() }},
		{Table: "event_external_ids", Values: func(m proto.Message) []string { return externalKeys(ev(m).GetExternalIds()) }},
	},
	Search: &resource.Search{Text: func(m proto.Message) string {
		e := ev(m)
		parts := []string{e.GetTitle(), e.GetSummary()}
		for _, q := range e.GetQuotes() {
			parts = append(parts, q.GetText())
		}
		return strings.Join(parts, "\n")
	}},
	Filter: func(sqldb.Dialect) filter.Schema {
		return filter.Schema{
			"type":                  {Kind: filter.KindEnum, Column: "t.type", Enum: eventsv1.EventType(0).Descriptor()},
			"sub_type":              {Kind: filter.KindString, Column: "t.sub_type"},
			"when.time":             {Kind: filter.KindTimestamp, Column: "t.when_time"},
			"location.country_code": {Kind: filter.KindString, Column: "t.country_code"},
			"country":               {Kind: filter.KindString, Column: "t.country_code"},
			"participant":           resource.ListFilter("event_participants", false),
			"cameo_code":            {Kind: filter.KindString, Column: "t.cameo_code", Prefix: true},
			"license":               {Kind: filter.KindEnum, Column: "t.license", Enum: typev1.License(0).Descriptor()},
			"tags":                  resource.ListFilter("event_tags", true),
			"external_id":           resource.ListFilter("event_external_ids", false),
			"create_time":           {Kind: filter.KindTimestamp, Column: "t.create_time"},
			"update_time":           {Kind: filter.KindTimestamp, Column: "t.update_time"},
		}
	},
	Orders:       map[string]string{"when.time": "t.when_time", "create_time": "t.create_time", "update_time": "t.update_time"},
	DefaultOrder: "when.time desc",
	OutputOnly:   map[string]bool{"visibility": true, "required_entitlement": true},
}

// Actors is the actors collection.
var Actors = &resource.Collection{
	Name:  "actors",
	Table: "actors",
	New:   func() proto.Message { return &eventsv1.Actor{} },
	Columns: []resource.Column{
		{Name: "kind", Value: func(m proto.Message) any { return int64(act(m).GetKind()) }},
		{Name: "display_name", Value: func(m proto.Message) any { return act(m).GetDisplayName() }},
		{Name: "country_code", Value: func(m proto.Message) any { return act(m).GetCountryCode() }},
		{Name: "parent", Value: func(m proto.Message) any { return act(m).GetParent() }},
		{Name: "license", Value: func(m proto.Message) any { return int64(act(m).GetLicense()) }},
	},
	Lists: []resource.ListTable{
		{Table: "actor_tags", Values: func(m proto.Message) []string { return act(m).GetTags() }},
		{Table: "actor_external_ids", Values: func(m proto.Message) []string { return externalKeys(act(m).GetExternalIds()) }},
	},
	Search: &resource.Search{Text: func(m proto.Message) string {
		a := act(m)
		return strings.Join(append([]string{a.GetDisplayName()}, a.GetAliases()...), "\n")
	}},
	Filter: func(sqldb.Dialect) filter.Schema {
		return filter.Schema{
			"kind":         {Kind: filter.KindEnum, Column: "t.kind", Enum: eventsv1.ActorKind(0).Descriptor()},
			"display_name": {Kind: filter.KindString, Column: "t.display_name", Prefix: true},
			"country_code": {Kind: filter.KindString, Column: "t.country_code"},
			"parent":       {Kind: filter.KindString, Column: "t.parent"},
			"license":      {Kind: filter.KindEnum, Column: "t.license", Enum: typev1.License(0).Descriptor()},
			"tags":         resource.ListFilter("actor_tags", true),
			"external_id":  resource.ListFilter("actor_external_ids", false),
			"create_time":  {Kind: filter.KindTimestamp, Column: "t.create_time"},
			"update_time":  {Kind: filter.KindTimestamp, Column: "t.update_time"},
		}
	},
	Orders:       map[string]string{"display_name": "t.display_name", "create_time": "t.create_time", "update_time": "t.update_time"},
	DefaultOrder: "display_name",
	OutputOnly:   map[string]bool{"visibility": true, "required_entitlement": true},
}

func ev(m proto.Message) *eventsv1.Event  { return m.(*eventsv1.Event) }
func act(m proto.Message) *eventsv1.Actor { return m.(*eventsv1.Actor) }
