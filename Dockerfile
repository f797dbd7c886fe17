# twincrypt in a container (docs/OPERATIONS.md).
#
#   docker build -t twincrypt .
#   docker run -d --name twincrypt -e TWINCRYPT_PASSPHRASE=... \
#       -v twincrypt-data:/data -p 127.0.0.1:8420-8422:8420-8422 twincrypt
#
# The state (config, keyring, catalog, local backends) lives in the volume
# /data. The first start writes the default config /data/twincrypt.yaml and
# prints the generated credentials once (docker logs twincrypt); later
# starts use that file, which can be edited for real providers.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# A static binary: no C library needed at run time.
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/twincrypt ./cmd/twincrypt \
 && mkdir -p /out/data

# Distroless: no shell, no package manager; the user nonroot (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/twincrypt /usr/local/bin/twincrypt
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV TWINCRYPT_HOME=/data \
    TWINCRYPT_LISTEN_S3=0.0.0.0:8420 \
    TWINCRYPT_LISTEN_WEBDAV=0.0.0.0:8421 \
    TWINCRYPT_LISTEN_SHARE=0.0.0.0:8422 \
    TWINCRYPT_SHARE_URL=http://127.0.0.1:8422 \
    TWINCRYPT_LISTEN_ALLOW_PLAINTEXT=true
VOLUME ["/data"]
# S3, WebDAV, share links. The admin API (8423) stays on the container's
# loopback, for `docker exec twincrypt twincrypt share ...`. Plain HTTP on
# the container's wildcard address is allowed (TWINCRYPT_LISTEN_ALLOW_PLAINTEXT)
# because the ports are meant to be published on the host's loopback or
# behind a TLS proxy; for TLS in the container, mount the certificate and
# set TWINCRYPT_TLS_CERT and TWINCRYPT_TLS_KEY (docs/OPERATIONS.md).
EXPOSE 8420 8421 8422
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/twincrypt"]
# Equivalent: serve -c /data/twincrypt.yaml once that file exists.
CMD ["serve"]
