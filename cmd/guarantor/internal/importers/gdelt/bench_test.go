package gdelt_test

// BenchmarkGDELTImport: rows per second of `guarantor import gdelt` for a generated
// 100,000-row export, through the importer (parse, map, client-side validation, batch
// RPCs of 500 rows) into the real events service on SQLite (server-side validation,
// reference checks, change log, outbox, indexes, full-text index), against a raw
// baseline measured in the same run on the same database file: the same file read line
// by line, split into its 61 columns and INSERTed into a plain 61-column table
// (bench_gdelt_raw, GLOBALEVENTID as primary key) of the same SQLite database through
// the same *sql.DB, 500 rows per transaction with a prepared statement. The ratio
// importer/raw is what to compare between runs on a noisy shared machine.
//
// It is a benchmark, not a test, and asserts no timing. Run it once:
//
//	cd cmd/guarantor && go test -run='^$' -bench=BenchmarkGDELTImport -benchtime=1x ./internal/importers/gdelt/
//
// GUARANTOR_BENCH_GDELT_ROWS changes the row count (default 100000).

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guarantor/guarantor/services/events/eventstest"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/gdelt"
)

func benchRows() int {
	if v, err := strconv.Atoi(os.Getenv("GUARANTOR_BENCH_GDELT_ROWS")); err == nil && v > 0 {
		return v
	}
	return 100_000
}

// writeExport writes n plausible export rows: actors from a pool of country and
// country+role codes, event codes from the CAMEO table, action geography in a few
// countries, one source URL per row.
func writeExport(b *testing.B, path string, n int) {
	b.Helper()
	tab := table(b)
	var codes []string
	for _, c := range tab.Codes() {
		if len(c) >= 3 {
			codes = append(codes, c)
		}
	}
	countries := []string{"UKR", "RUS", "USA", "GBR", "FRA", "DEU", "POL", "ITA", "ESP", "CAN", "TUR", "CHN", "JPN", "IND", "BRA", "ZAF", "NLD", "BEL", "SWE", "NOR"}
	roles := []string{"", "GOV", "MIL", "COP", "LEG", "REB", "BUS", "MED"}
	geos := [][4]string{{"Kyiv, Kyyiv, Misto, Ukraine", "UP", "50.45", "30.52"}, {"Moscow, Moskva, Russia", "RS", "55.75", "37.62"},
		{"Paris, Ile-de-France, France", "FR", "48.87", "2.33"}, {"Warsaw, Mazowieckie, Poland", "PL", "52.25", "21.0"}, {"Washington, District of Columbia, United States", "US", "38.89", "-77.03"}}
	rng := mrand.New(mrand.NewPCG(7, 11))
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		fields := make([]string, gdelt.Columns)
		fields[0] = strconv.Itoa(1_200_000_000 + i)
		day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(365))
		fields[1], fields[2], fields[3], fields[4] = day.Format("20060102"), day.Format("200601"), day.Format("2006"), "2024.5000"
		for _, at := range []int{5, 15} {
			if at == 15 && rng.IntN(5) == 0 {
				continue // about one row in five has no second actor, as in GDELT
			}
			c := countries[rng.IntN(len(countries))]
			role := roles[rng.IntN(len(roles))]
			fields[at], fields[at+1], fields[at+2] = c+role, c+" "+role, c
			if role != "" {
				fields[at+7] = role
			}
		}
		code := codes[rng.IntN(len(codes))]
		fields[25], fields[26], fields[27], fields[28] = "1", code, code[:3], code[:2]
		fields[29], fields[30] = strconv.Itoa(1+rng.IntN(4)), strconv.FormatFloat(float64(rng.IntN(200)-100)/10, 'f', 1, 64)
		fields[31], fields[32], fields[33], fields[34] = strconv.Itoa(1+rng.IntN(50)), strconv.Itoa(1+rng.IntN(5)), strconv.Itoa(1+rng.IntN(50)), strconv.FormatFloat(rng.Float64()*20-10, 'f', 6, 64)
		for _, at := range []int{35, 43} {
			fields[at] = "0"
		}
		g := geos[rng.IntN(len(geos))]
		fields[51], fields[52], fields[53], fields[54], fields[56], fields[57], fields[58] = "4", g[0], g[1], g[1]+"00", g[2], g[3], "-1"
		fields[59] = day.Format("20060102") + "150000"
		fields[60] = fmt.Sprintf("https://news.example.com/%d/article-%d.html", day.Year(), i)
		if _, err := w.WriteString(strings.Join(fields, "\t") + "\n"); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// rawInsert is the baseline: the file's rows, split into columns, inserted as they are.
func rawInsert(b *testing.B, h *eventstest.Harness, path string) int {
	b.Helper()
	ctx := context.Background()
	db := h.Server.DB
	cols := make([]string, gdelt.Columns)
	marks := make([]string, gdelt.Columns)
	for i := range cols {
		cols[i] = fmt.Sprintf("c%d TEXT NOT NULL", i)
		marks[i] = "?"
	}
	cols[0] = "c0 TEXT PRIMARY KEY"
	if _, err := db.ExecContext(ctx, "CREATE TABLE bench_gdelt_raw ("+strings.Join(cols, ", ")+")"); err != nil {
		b.Fatal(err)
	}
	insert := "INSERT INTO bench_gdelt_raw VALUES (" + strings.Join(marks, ", ") + ")"
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), gdelt.MaxLine)
	n := 0
	var batch [][]any
	flush := func() {
		if len(batch) == 0 {
			return
		}
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			stmt, err := tx.PrepareContext(ctx, insert)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, args := range batch {
				if _, err := stmt.ExecContext(ctx, args...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		args := make([]any, len(fields))
		for i, v := range fields {
			args[i] = v
		}
		batch = append(batch, args)
		n++
		if len(batch) == importers.DefaultBatchSize {
			flush()
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	flush()
	return n
}

func BenchmarkGDELTImport(b *testing.B) {
	n := benchRows()
	path := filepath.Join(b.TempDir(), "bench.export.CSV")
	writeExport(b, path, n)
	inputs, err := importers.Inputs(path)
	if err != nil {
		b.Fatal(err)
	}
	var importTime, rawTime time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		h := eventstest.Start(b, eventstest.SQLite)
		b.StartTimer()
		start := time.Now()
		s, err := gdelt.Import(context.Background(), h.Conn, callAs(h), inputs, gdelt.Options{})
		importTime += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if s.Created != n || s.Rejected != 0 {
			b.Fatalf("import: %v %v", s, s.Problems)
		}
		start = time.Now()
		if got := rawInsert(b, h, path); got != n {
			b.Fatalf("raw insert: %d rows", got)
		}
		rawTime += time.Since(start)
		b.StartTimer()
	}
	b.StopTimer()
	rows := float64(n * b.N)
	importRate, rawRate := rows/importTime.Seconds(), rows/rawTime.Seconds()
	b.ReportMetric(importRate, "import-rows/s")
	b.ReportMetric(rawRate, "raw-rows/s")
	b.ReportMetric(importRate/rawRate, "import/raw")
}
