// Package store describes how the guarantees service keeps frameworks and guarantees in
// SQL: the collections (indexed columns, filterable fields, orderings) and the embedded
// schema migrations for SQLite and PostgreSQL. The reading and writing itself is the
// platform's resource store, shared with every service.
package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"google.golang.org/protobuf/proto"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/filter"
	"github.com/guarantor/guarantor/platform/projection"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Migrate applies the platform's migrations, the projection's position table and the
// service's own schema.
func Migrate(ctx context.Context, db *sqldb.DB) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if err := sqldb.MigrateService(ctx, db, sub, "guarantees_migrations"); err != nil {
		return err
	}
	return projection.Migrate(ctx, db)
}

// Undisclosed is what the guarantor column holds (and filters match) for a guarantor
// whose identity is not public.
const Undisclosed = "undisclosed"

// GuarantorKey is how a guarantor is indexed: the actor's name, or "undisclosed".
func GuarantorKey(p *guaranteesv1.Party) string {
	if p.GetUndisclosed() != nil {
		return Undisclosed
	}
	return p.GetActor()
}

// Frameworks is the frameworks collection.
var Frameworks = &resource.Collection{
	Name:  "frameworks",
	Table: "frameworks",
	New:   func() proto.Message { return &guaranteesv1.Framework{} },
	Columns: []resource.Column{
		{Name: "kind", Value: func(m proto.Message) any { return int64(fw(m).GetKind()) }},
		{Name: "stage", Value: func(m proto.Message) any { return int64(fw(m).GetStage()) }},
		{Name: "status", Value: func(m proto.Message) any { return int64(fw(m).GetStatus()) }},
		{Name: "adopted_time", Value: func(m proto.Message) any { return filter.TimeKey(fw(m).GetAdopted().GetTime().AsTime()) }},
		{Name: "license", Value: func(m proto.Message) any { return int64(fw(m).GetLicense()) }},
	},
	Lists: []resource.ListTable{
		{Table: "framework_parties", Values: func(m proto.Message) []string { return fw(m).GetParties() }},
		{Table: "framework_third_parties", Values: func(m proto.Message) []string { return fw(m).GetThirdParties() }},
		{Table: "framework_tags", Values: func(m proto.Message) []string { return fw(m).GetTags() }},
	},
	Search: &resource.Search{Text: func(m proto.Message) string {
		f := fw(m)
		return f.GetTitle() + "\n" + f.GetSummary()
	}},
	Filter: func(sqldb.Dialect) filter.Schema {
		return filter.Schema{
			"kind":         {Kind: filter.KindEnum, Column: "t.kind", Enum: guaranteesv1.FrameworkKind(0).Descriptor()},
			"stage":        {Kind: filter.KindEnum, Column: "t.stage", Enum: guaranteesv1.FrameworkStage(0).Descriptor()},
			"status":       {Kind: filter.KindEnum, Column: "t.status", Enum: guaranteesv1.FrameworkStatus(0).Descriptor()},
			"party":        resource.ListFilter("framework_parties", false),
			"third_party":  resource.ListFilter("framework_third_parties", false),
			"license":      {Kind: filter.KindEnum, Column: "t.license", Enum: typev1.License(0).Descriptor()},
			"tags":         resource.ListFilter("framework_tags", true),
			"adopted.time": {Kind: filter.KindTimestamp, Column: "t.adopted_time"},
			"create_time":  {Kind: filter.KindTimestamp, Column: "t.create_time"},
			"update_time":  {Kind: filter.KindTimestamp, Column: "t.update_time"},
		}
	},
	Orders:       map[string]string{"adopted.time": "t.adopted_time", "create_time": "t.create_time", "update_time": "t.update_time"},
	DefaultOrder: "adopted.time desc",
	OutputOnly:   map[string]bool{"visibility": true, "required_entitlement": true},
}

// Guarantees is the guarantees collection. Its lifecycle and ratification fields are
// output only: they change through TransitionGuarantee, RecordRatificationAction and
// SatisfyCondition, never through Update.
var Guarantees = &resource.Collection{
	Name:  "guarantees",
	Table: "guarantees",
	New:   func() proto.Message { return &guaranteesv1.Guarantee{} },
	Columns: []resource.Column{
		{Name: "framework", Value: func(m proto.Message) any { return gt(m).GetFramework() }},
		{Name: "guarantor", Value: func(m proto.Message) any { return GuarantorKey(gt(m).GetGuarantor()) }},
		{Name: "beneficiary", Value: func(m proto.Message) any { return gt(m).GetBeneficiary() }},
		{Name: "domain", Value: func(m proto.Message) any { return int64(gt(m).GetDomain()) }},
		{Name: "capability", Value: func(m proto.Message) any { return int64(gt(m).GetCapability()) }},
		{Name: "role", Value: func(m proto.Message) any { return int64(gt(m).GetRole()) }},
		{Name: "status", Value: func(m proto.Message) any { return int64(gt(m).GetStatus()) }},
		{Name: "binding_level", Value: func(m proto.Message) any { return int64(gt(m).GetBindingLevel()) }},
		{Name: "status_time", Value: func(m proto.Message) any { return filter.TimeKey(gt(m).GetStatusTime().AsTime()) }},
		{Name: "license", Value: func(m proto.Message) any { return int64(gt(m).GetLicense()) }},
	},
	Lists: []resource.ListTable{
		{Table: "guarantee_tags", Values: func(m proto.Message) []string { return gt(m).GetTags() }},
	},
	Search: &resource.Search{Text: func(m proto.Message) string {
		g := gt(m)
		parts := []string{g.GetTitle(), g.GetDescription(), g.GetQuantity().GetDescription(), g.GetGuarantor().GetUndisclosed().GetDescription()}
		for _, c := range g.GetConditions() {
			parts = append(parts, c.GetDescription(), c.GetLegislativeBody())
		}
		return strings.Join(parts, "\n")
	}},
	Filter: func(sqldb.Dialect) filter.Schema {
		return filter.Schema{
			"guarantor":     {Kind: filter.KindString, Column: "t.guarantor"},
			"beneficiary":   {Kind: filter.KindString, Column: "t.beneficiary"},
			"framework":     {Kind: filter.KindString, Column: "t.framework"},
			"domain":        {Kind: filter.KindEnum, Column: "t.domain", Enum: guaranteesv1.Domain(0).Descriptor()},
			"capability":    {Kind: filter.KindEnum, Column: "t.capability", Enum: guaranteesv1.Capability(0).Descriptor()},
			"role":          {Kind: filter.KindEnum, Column: "t.role", Enum: guaranteesv1.Role(0).Descriptor()},
			"status":        {Kind: filter.KindEnum, Column: "t.status", Enum: guaranteesv1.GuaranteeStatus(0).Descriptor()},
			"binding_level": {Kind: filter.KindEnum, Column: "t.binding_level", Enum: guaranteesv1.BindingLevel(0).Descriptor()},
			"license":       {Kind: filter.KindEnum, Column: "t.license", Enum: typev1.License(0).Descriptor()},
			"tags":          resource.ListFilter("guarantee_tags", true),
			"create_time":   {Kind: filter.KindTimestamp, Column: "t.create_time"},
			"update_time":   {Kind: filter.KindTimestamp, Column: "t.update_time"},
			"status_time":   {Kind: filter.KindTimestamp, Column: "t.status_time"},
		}
	},
	Orders:       map[string]string{"create_time": "t.create_time", "update_time": "t.update_time", "status_time": "t.status_time"},
	DefaultOrder: "create_time",
	OutputOnly: map[string]bool{
		"visibility": true, "required_entitlement": true,
		"status": true, "status_reason": true, "status_evidence": true, "status_time": true, "suspended_from": true,
		"ratification_actions": true, "ratification": true,
	},
}

func fw(m proto.Message) *guaranteesv1.Framework { return m.(*guaranteesv1.Framework) }
func gt(m proto.Message) *guaranteesv1.Guarantee { return m.(*guaranteesv1.Guarantee) }
