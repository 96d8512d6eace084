// Command mkimage builds Guarantor's container images without a Docker engine (see
// package imagebuild) and writes one image tarball per service:
//
//	mkimage [flags] [SERVICE...]     default: every service (events, gateway, guarantees)
//
// Run from anywhere in the repository; `make images` runs it for every service.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/guarantor/guarantor/deploy/imagebuild"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "dist/images", "directory the <service>.tar files are written to (relative to the repository root)")
	repo := fs.String("repo", "guarantor", "image repository prefix: the image is <repo>/<service>:<tag>")
	tag := fs.String("tag", "dev", "image tag")
	arch := fs.String("arch", runtime.GOARCH, "GOARCH of the image: amd64 or arm64")
	source := fs.String("source", "https://github.com/guarantor/guarantor", "org.opencontainers.image.source label")
	revision := fs.String("revision", "", "org.opencontainers.image.revision label (the git commit)")
	caBundle := fs.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied into the image; empty for none")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	services := fs.Args()
	if len(services) == 0 {
		services = imagebuild.Names()
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	root, err := imagebuild.FindRoot(wd)
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	created, err := sourceDate()
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 2
	}
	if *caBundle != "" {
		if _, err := os.Stat(*caBundle); err != nil {
			fmt.Fprintf(stderr, "mkimage: CA bundle: %v (pass --ca-bundle= for none)\n", err)
			return 1
		}
	}
	outDir := *out
	if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(root, outDir)
	}
	work, err := os.MkdirTemp("", "mkimage-")
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(work) }()
	for _, svc := range services {
		if _, ok := imagebuild.Services[svc]; !ok {
			fmt.Fprintf(stderr, "mkimage: unknown service %q (want one of %v)\n", svc, imagebuild.Names())
			return 2
		}
		bin := filepath.Join(work, svc)
		if err := imagebuild.BuildBinary(ctx, root, svc, *arch, bin); err != nil {
			fmt.Fprintf(stderr, "mkimage: %v\n", err)
			return 1
		}
		img, err := imagebuild.Image(imagebuild.Options{
			Service: svc, Binary: bin, Arch: *arch, Source: *source, Revision: *revision,
			Version: *tag, Created: created, CABundle: *caBundle,
		})
		if err != nil {
			fmt.Fprintf(stderr, "mkimage: %v\n", err)
			return 1
		}
		ref := *repo + "/" + svc + ":" + *tag
		path := filepath.Join(outDir, svc+".tar")
		if err := imagebuild.WriteTarball(path, ref, img); err != nil {
			fmt.Fprintf(stderr, "mkimage: %v\n", err)
			return 1
		}
		digest, err := img.Digest()
		if err != nil {
			fmt.Fprintf(stderr, "mkimage: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", ref, digest, path)
	}
	return 0
}

// sourceDate honours SOURCE_DATE_EPOCH (reproducible builds); unset means the epoch.
func sourceDate() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a Unix time", v)
	}
	return time.Unix(n, 0).UTC(), nil
}
