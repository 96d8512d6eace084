# syntax=docker/dockerfile:1
# The guarantees image: a static Go binary on distroless, running as the non-root user 65532.
# Build from the repository root (the Go workspace):
#   docker build -f deploy/docker/guarantees.Dockerfile --build-arg REVISION=$(git rev-parse HEAD) -t guarantor/guarantees:dev .
# `make images` builds the same image without a Docker engine (deploy/cmd/mkimage).
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY . .
ENV CGO_ENABLED=0 GOOS=linux
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o /out/guarantees ./services/guarantees/cmd/guarantees

FROM gcr.io/distroless/static:nonroot
ARG REVISION=unknown
ARG VERSION=dev
LABEL org.opencontainers.image.title="guarantor-guarantees" \
      org.opencontainers.image.source="https://github.com/guarantor/guarantor" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/guarantees /usr/local/bin/guarantees
USER 65532:65532
EXPOSE 9092 9192
ENTRYPOINT ["/usr/local/bin/guarantees"]
