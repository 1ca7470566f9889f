"""Benchmarks of what users feel: ack latency, end-to-end latency, throughput, digest fan-out, memory.

Run `python -m bench` (`--quick` for tiny sizes); the figures and how to read them are in
bench/README.md.
"""
