"""Load generator for the whole PhotoChanger platform: `python -m bench` (or `make bench`).

Starts real Kafka and FerretDB, the five services and the provider emulators as processes
(the same `create_stack` the end-to-end tests use), drives ingests through the api and
reports platform overhead, latency, throughput, lost/duplicated jobs and api memory.
See bench/README.md."""
