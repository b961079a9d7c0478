# kago's entry points. `make demo` is the first thing to try (needs root).
GO ?= go

.PHONY: all build demo demo-deps demo-clean bench test clean

all: build

# Every command under cmd/ into bin/ (kago, kago-runc, ...).
build:
	$(GO) build -o bin/ ./cmd/...

# Apache from Debian packages -> kago import -> registry on 127.0.0.1 ->
# kago pull -> kago run -p 8080:80 -v ./demo/site:/var/www/html; leaves it running.
demo: build
	demo/demo.sh up

# What `make demo` needs on a fresh Debian 12 besides Go.
demo-deps:
	apt-get install -y --no-install-recommends debootstrap docker-registry curl

# Remove the demo container and stop the demo registry (the image cache in
# /var/cache/kago-demo stays, so the next `make demo` takes seconds).
demo-clean:
	demo/demo.sh down

# Benchmark tables (see bench/README.md); SECTIONS="1 6" picks sections.
bench: build
	bench/run.sh $(SECTIONS)

# The whole suite, as root on the real kernel (about 20 minutes on 2 cores).
test:
	$(GO) test -count=1 -timeout 30m ./...

clean:
	rm -rf bin/
