# gpsntp build, demo and test entry points. `make demo` runs the product; `make test` runs what CI runs.
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
FUZZTIME  ?= 10s
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: all build demo test deps check vet fmt-check staticcheck race interop cross fuzz bench bench-nts bench-servo bench-go image vm e2e clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# The demo: the whole daemon against a simulated receiver, PPS and board clock, on loopback only.
# It never touches the host clock. Stop it with Ctrl-C.
demo: build
	@d=$$(mktemp -d); echo "state dir $$d"; \
	echo "In another terminal:  $(BIN)/gpsntpctl status -url http://127.0.0.1:18080"; \
	echo "                      chronyd -Q 'server 127.0.0.1 port 11123 iburst minpoll -2 maxpoll -2'"; \
	echo "Status page:          http://127.0.0.1:18080/"; \
	exec $(BIN)/gpsntpd -sim -ntp-listen 127.0.0.1:11123 -http-listen 127.0.0.1:18080 -nts-ke-listen 127.0.0.1:14460 -state-dir $$d

# Everything CI checks, in order of speed.
test: check race interop cross fuzz

deps:
	bash scripts/deps.sh

check: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	GOOS=linux GOARCH=arm64 $(GO) vet ./...

staticcheck:
	@test -x $(STATICCHECK) || { echo "staticcheck missing: run make deps"; exit 1; }
	$(STATICCHECK) ./...

race:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /internal/e2e)

# Real peers (chronyd, ntpdig, NTPsec, Chromium) against the real binaries, alone on the machine: their
# accuracy checks must not compete with the race tests for the CPU. Screenshots land in out/screenshots.
interop:
	mkdir -p out/screenshots
	GPSNTP_ARTIFACTS=$(CURDIR)/out/screenshots $(GO) test -count=1 -timeout 15m -v ./internal/e2e/

cross:
	GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null ./...
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./...

# Each fuzz target runs for FUZZTIME; the seed corpora already ran as unit tests in `race`.
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

# Benchmarks: the NTP load comparison against chronyd, then the Go micro-benchmarks.
bench: build
	bash scripts/bench.sh
	$(MAKE) bench-go

bench-nts: build
	bash scripts/bench-nts.sh

# gpsntp's PPS discipline against chronyd's on the same simulated oscillator and PPS captures. chronyd runs
# in real time (-x: never touches the clock), so this takes SERVO_DURATION (default 600s); see the script.
bench-servo:
	bash scripts/bench-servo.sh

# The SD-card image for a board and HAT (see board/ for the profiles), built without gok.
BOARD ?= rpi4
HAT   ?= uputronics
image:
	mkdir -p out
	$(GO) run ./cmd/gpsntp-image -board $(BOARD) -hat $(HAT) $(if $(PPS_PIN),-pps-pin $(PPS_PIN)) $(if $(PASSWORD_FILE),-password-file $(PASSWORD_FILE)) -o out/gpsntp-$(BOARD)-$(HAT).img

# The same firmware for qemu-system-aarch64, fed NMEA from the simulator.
vm:
	bash scripts/vm.sh

# The VM image end to end (also part of `make interop`): boot with NMEA over virtio-serial, chronyd on the
# host accepts its time (in a network namespace the test creates), the status page loads, and two OTA
# updates: one committed, one rolled back by the box itself.
e2e:
	$(GO) test -count=1 -timeout 20m -v -run 'TestImageBootsInQEMU|TestVMServesChrony|TestOTAUpdateInQEMU' ./internal/e2e/

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)
