package importers

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Input is one stream of rows: a file, or one entry of a zip archive.
type Input struct {
	// Name is how problems name it: the path, or "path:entry" inside a zip.
	Name string
	// Size is the number of bytes it holds, for progress; 0 when unknown.
	Size int64
	// Open opens it for reading from the start.
	Open func() (io.ReadCloser, error)
}

// zipMagic starts every zip archive with at least one entry.
var zipMagic = []byte("PK\x03\x04")

// Inputs returns the inputs a file holds: the file itself, or, for a zip archive (as
// GDELT publishes its exports: one CSV in each zip), each file entry, streamed
// without unpacking to disk. The archive is recognised by its content, not its name.
func Inputs(path string) ([]Input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	head := make([]byte, len(zipMagic))
	n, _ := io.ReadFull(f, head)
	info, statErr := f.Stat()
	_ = f.Close()
	if statErr != nil {
		return nil, statErr
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	if n < len(zipMagic) || !bytes.Equal(head, zipMagic) {
		return []Input{{Name: path, Size: info.Size(), Open: func() (io.ReadCloser, error) { return os.Open(path) }}}, nil
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (a truncated download?)", path, err)
	}
	defer func() { _ = zr.Close() }()
	var out []Input
	for i, zf := range zr.File {
		if zf.FileInfo().IsDir() || strings.HasPrefix(filepath.Base(zf.Name), ".") {
			continue
		}
		entry := zf.Name
		out = append(out, Input{
			Name: path + ":" + entry,
			Size: int64(zf.UncompressedSize64),
			Open: func() (io.ReadCloser, error) { return openZipEntry(path, entry, i) },
		})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: the zip archive holds no file", path)
	}
	return out, nil
}

// InputsOf returns the inputs of every path, in order.
func InputsOf(paths []string) ([]Input, error) {
	var out []Input
	for _, p := range paths {
		in, err := Inputs(p)
		if err != nil {
			return nil, err
		}
		out = append(out, in...)
	}
	return out, nil
}

// zipEntry closes the entry and the archive it is read from.
type zipEntry struct {
	io.ReadCloser
	archive *zip.ReadCloser
}

func (z zipEntry) Close() error {
	err := z.ReadCloser.Close()
	if cerr := z.archive.Close(); err == nil {
		err = cerr
	}
	return err
}

// openZipEntry opens the index-th entry of the archive, named entry. By position, not
// by name: an archive may hold two entries of one name (appended to), each an input.
func openZipEntry(path, entry string, index int) (io.ReadCloser, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if index < len(zr.File) && zr.File[index].Name == entry {
		zf := zr.File[index]
		rc, err := zf.Open()
		if err != nil {
			_ = zr.Close()
			return nil, fmt.Errorf("%s:%s: %w", path, entry, err)
		}
		return zipEntry{ReadCloser: rc, archive: zr}, nil
	}
	_ = zr.Close()
	return nil, fmt.Errorf("%s: no entry %s", path, entry)
}

// StringInput is an in-memory input, for tests and fuzzing.
func StringInput(name, data string) Input {
	return Input{Name: name, Size: int64(len(data)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(data)), nil
	}}
}
