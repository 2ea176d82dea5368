module github.com/gpsntp/gpsntp

go 1.26.0

require (
	github.com/adrianmo/go-nmea v1.10.0 // indirect
	go.bug.st/serial v1.8.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
