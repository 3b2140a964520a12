# setsuden links libvirt through cgo: build with libvirt-dev, run with libvirt0.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libvirt-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -o /out/setsuden ./cmd/setsuden

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libvirt0 ca-certificates tzdata && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/setsuden setsuden && mkdir -p /var/lib/setsuden && chown setsuden /var/lib/setsuden
COPY --from=build /out/setsuden /usr/local/bin/setsuden
USER setsuden
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/setsuden"]
