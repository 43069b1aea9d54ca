-- SPDX-License-Identifier: MIT
-- wrk script for bench/run.sh: POST a small JSON body to the URL's path, and
-- at the end print one machine-readable line (requests, non-2xx/3xx, socket
-- errors, duration, latency percentiles) that run.sh parses.
wrk.method = "POST"
wrk.body = '{"text":"a small message from wrk"}'
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d rps=%.1f p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(99)))
end
