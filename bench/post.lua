-- SPDX-License-Identifier: MIT
-- wrk script for bench/run.sh: POST a small JSON body to the URL's path, and
-- at the end print one machine-readable line (requests, non-2xx/3xx, socket
-- errors, duration, latency percentiles) that run.sh parses. With
-- BENCH_TOKENS naming a file of tokens (one a line, bench/mktokens.py), each
-- request carries the next one as Authorization: Bearer (--compare-auth);
-- each wrk thread starts at its own place in the list.
wrk.method = "POST"
wrk.body = '{"text":"a small message from wrk"}'
wrk.headers["Content-Type"] = "application/json"

local tokens_file = os.getenv("BENCH_TOKENS")
if tokens_file and tokens_file ~= "" then
   local threads = 0
   function setup(thread)
      thread:set("first", threads * 997)
      threads = threads + 1
   end

   local tokens, i = {}, 0
   function init(args)
      for line in io.lines(tokens_file) do tokens[#tokens + 1] = line end
      i = (first or 0) % #tokens
   end

   function request()
      i = i % #tokens + 1
      wrk.headers["Authorization"] = "Bearer " .. tokens[i]
      return wrk.format()
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d rps=%.1f p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(99)))
end
