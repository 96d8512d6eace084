package resource

import "github.com/guarantor/guarantor/platform/filter"

// ListFilter is the filter field over a collection's side table (see ListTable): true when
// some element equals the value, e.g. `participant = "actors/fra"`; with prefix, also
// `tags:"pa*"`.
func ListFilter(table string, prefix bool) filter.Field {
	return filter.Field{
		Kind:   filter.KindString,
		Prefix: prefix,
		Exists: func(isPrefix bool) string {
			if isPrefix && prefix {
				return "EXISTS (SELECT 1 FROM " + table + ` x WHERE x.name = t.name AND x.value LIKE ? ESCAPE '\')`
			}
			return "EXISTS (SELECT 1 FROM " + table + " x WHERE x.name = t.name AND x.value = ?)"
		},
	}
}
