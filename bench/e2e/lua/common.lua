-- Shared by every scenario script: done() prints wrk's summary and latency percentiles as one
-- JSON line prefixed by "SFJSON " for the driver (bench/e2e/run.py). Latencies in microseconds.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'SFJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "mean": %.1f, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.mean, latency.max))
end
