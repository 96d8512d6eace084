package resource

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/filter"
	"github.com/guarantor/guarantor/platform/pagination"
	"github.com/guarantor/guarantor/platform/sqldb"
)

// ListRequest is a List call's query.
type ListRequest struct {
	Filter       string
	OrderBy      string
	PageSize     int32
	PageToken    string
	ShowDeleted  bool
	IncludeTotal bool
	// Where is an extra trusted condition (alias "t") the service adds, e.g. licence
	// visibility for the caller, with its arguments. Part of the page-token binding.
	Where     string
	WhereArgs []any
}

// ListResult is one page.
type ListResult struct {
	Items         []proto.Message
	NextPageToken string
	Total         *int64
	Version       int64
}

// SearchField returns the filter field for full-text search on a collection: `search:"words"`.
func SearchField(d sqldb.Dialect, table string) filter.Field {
	return filter.Field{Custom: func(op string, v filter.Value) (string, []any, error) {
		if op != ":" && op != "=" {
			return "", nil, fmt.Errorf(`full-text search takes ':' as in search:"military hubs"`)
		}
		q := filter.FTS5Query(v.Text)
		if q == "" {
			return "", nil, errors.New("search needs at least one word")
		}
		if d == sqldb.Postgres {
			// Documents are indexed folded (store.put); the unfolded query also finds
			// those indexed before folding.
			return "t.search @@ (plainto_tsquery('simple', ?) || plainto_tsquery('simple', ?))", []any{filter.FoldDiacritics(v.Text), v.Text}, nil
		}
		return "t.name IN (SELECT name FROM " + table + "_fts WHERE " + table + "_fts MATCH ?)", []any{q}, nil
	}}
}

// List returns one page of a collection.
func (s *Store) List(ctx context.Context, c *Collection, req ListRequest) (ListResult, error) {
	size, err := pagination.Size(req.PageSize)
	if err != nil {
		return ListResult{}, apperr.Invalid("page_size", err.Error())
	}
	schema := c.Filter(s.db.Dialect)
	if c.Search != nil {
		schema["search"] = SearchField(s.db.Dialect, c.Table)
	}
	where, err := filter.Compile(req.Filter, schema)
	if err != nil {
		return ListResult{}, apperr.Invalid("filter", err.Error())
	}
	orders, err := pagination.ParseOrderBy(req.OrderBy, c.Orders, c.DefaultOrder)
	if err != nil {
		return ListResult{}, apperr.Invalid("order_by", err.Error())
	}
	queryKey := pagination.QueryKey(c.Name, req.Filter, req.OrderBy, strconv.FormatBool(req.ShowDeleted), req.Where, fmt.Sprint(req.WhereArgs...))

	conds := []string{"(" + where.SQL + ")"}
	args := append([]any{}, where.Args...)
	if !req.ShowDeleted {
		conds = append(conds, "t.deleted = 0")
	}
	if req.Where != "" {
		conds = append(conds, "("+req.Where+")")
		args = append(args, req.WhereArgs...)
	}
	countConds, countArgs := append([]string{}, conds...), append([]any{}, args...)
	if req.PageToken != "" {
		last, err := pagination.Decode(req.PageToken, queryKey)
		if err != nil {
			return ListResult{}, apperr.Invalid("page_token", err.Error())
		}
		after, afterArgs, err := pagination.After(orders, "t.name", last)
		if err != nil {
			return ListResult{}, apperr.Invalid("page_token", err.Error())
		}
		conds = append(conds, after)
		args = append(args, afterArgs...)
	}

	// The version is read before the rows: a watcher starting from it may see a change
	// the page already shows (harmless) but never misses one.
	version, err := s.Version(ctx)
	if err != nil {
		return ListResult{}, err
	}
	sortCols := make([]string, len(orders))
	for i, o := range orders {
		sortCols[i] = o.Column
	}
	sel := "SELECT t.data"
	if len(sortCols) > 0 {
		sel += ", " + strings.Join(sortCols, ", ")
	}
	query := sel + " FROM " + c.Table + " t WHERE " + strings.Join(conds, " AND ") +
		" ORDER BY " + pagination.OrderSQL(orders, "t.name") + " LIMIT " + strconv.Itoa(size+1)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return ListResult{}, fmt.Errorf("resource: list %s: %w", c.Name, err)
	}
	defer rows.Close()
	var res ListResult
	var lastKeys []any
	for rows.Next() {
		var data []byte
		keys := make([]any, len(orders))
		dest := []any{&data}
		for i := range keys {
			dest = append(dest, &keys[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return ListResult{}, fmt.Errorf("resource: scan %s: %w", c.Name, err)
		}
		if len(res.Items) == size {
			res.NextPageToken = pagination.Encode(queryKey, lastKeys)
			break
		}
		m := c.New()
		if err := proto.Unmarshal(data, m); err != nil {
			return ListResult{}, fmt.Errorf("resource: decode %s row: %w", c.Name, err)
		}
		res.Items = append(res.Items, m)
		lastKeys = append(normalizeKeys(keys), Name(m))
	}
	if err := rows.Err(); err != nil {
		return ListResult{}, fmt.Errorf("resource: list %s: %w", c.Name, err)
	}
	res.Version = version
	if req.IncludeTotal {
		var n int64
		q := "SELECT COUNT(*) FROM " + c.Table + " t WHERE " + strings.Join(countConds, " AND ")
		if err := s.db.QueryRowContext(ctx, s.q(q), countArgs...).Scan(&n); err != nil {
			return ListResult{}, fmt.Errorf("resource: count %s: %w", c.Name, err)
		}
		res.Total = &n
	}
	return res, nil
}

// normalizeKeys turns scanned sort keys into the types page tokens carry.
func normalizeKeys(keys []any) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		switch v := k.(type) {
		case []byte:
			out[i] = string(v)
		case int32:
			out[i] = int64(v)
		case int:
			out[i] = int64(v)
		case nil:
			out[i] = ""
		default:
			out[i] = v
		}
	}
	return out
}

// ListParams is what every AIP List request carries; the generated request messages
// implement it.
type ListParams interface {
	GetFilter() string
	GetOrderBy() string
	GetPageSize() int32
	GetPageToken() string
	GetShowDeleted() bool
	GetIncludeTotal() bool
}

// ListRequestOf reads a List request's standard fields.
func ListRequestOf(p ListParams) ListRequest {
	return ListRequest{
		Filter: p.GetFilter(), OrderBy: p.GetOrderBy(), PageSize: p.GetPageSize(), PageToken: p.GetPageToken(),
		ShowDeleted: p.GetShowDeleted(), IncludeTotal: p.GetIncludeTotal(),
	}
}
