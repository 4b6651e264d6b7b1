# Builds the engine's two binaries once and ships them in a small non-root image.
#
#   docker build --target worker  -t followup-worker .
#   docker build --target starter -t followup-starter .   (the default target)
#
# docker-compose.yml builds both targets. The Go version matches go.mod's toolchain line
# (GOTOOLCHAIN=local: a mismatch fails the build instead of downloading a toolchain).
# Zone data is compiled in (time/tzdata), so the runtime image needs no tzdata package.

FROM golang:1.27.3-bookworm AS build
WORKDIR /src
# Override to use a module mirror: docker build --build-arg GOPROXY=https://… .
ARG GOPROXY=https://proxy.golang.org,direct
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags='-s -w' -o /out/ ./worker ./starter

# alpine rather than distroless: busybox wget gives the starter's container healthcheck
# something to probe /healthz with. ca-certificates-bundle is part of the base image.
FROM alpine:3.23.4 AS runtime
RUN addgroup -S -g 10001 followup \
 && adduser -S -D -H -u 10001 -G followup -s /sbin/nologin followup
COPY --from=build /out/worker /out/starter /usr/local/bin/
USER 10001:10001

FROM runtime AS worker
ENTRYPOINT ["/usr/local/bin/worker"]

FROM runtime AS starter
EXPOSE 8088
ENV HTTP_ADDR=:8088
ENTRYPOINT ["/usr/local/bin/starter"]
CMD ["serve"]
